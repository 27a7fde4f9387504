"""Fixtures that start real svckit binaries on free ports and talk to them over real sockets."""
import json
import os
import pathlib
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import jwt
import pytest
import requests

BIN_DIR = pathlib.Path(os.environ.get("SVCKIT_BIN_DIR", pathlib.Path(__file__).parents[2] / "build" / "bin"))
BUILD_DIR = pathlib.Path(os.environ.get("SVCKIT_BUILD_DIR", BIN_DIR.parent))
# The Python modules protoc made from the .proto files (ai_gateway_pb2, grpc.health.v1, ...).
sys.path.insert(0, str(BUILD_DIR / "python"))
# python3-xgboost and python3-scipy, unpacked from Debian's packages by ./dev.sh (see there why).
sys.path.append(os.environ.get("SVCKIT_DEBIAN_PYTHON",
                               os.path.expanduser("~/.cache/svckit/debian-python")))

# The secret every test service checks tokens with (as the Security Service would sign them).
TEST_JWT_SECRET = "svckit-integration-tests-" + "s" * 24


def make_token(sub="test-user", roles=("user",), permissions=(), token_type="access", ttl=3600, secret=TEST_JWT_SECRET):
    now = int(time.time())
    return jwt.encode({"sub": sub, "roles": list(roles), "permissions": list(permissions), "type": token_type,
                       "iat": now, "exp": now + ttl}, secret, algorithm="HS256")


class _Authed:
    """`requests` with a bearer token on every call that does not bring its own Authorization."""

    def __init__(self, token):
        self.headers = {"Authorization": f"Bearer {token}"}

    def __getattr__(self, method):
        call = getattr(requests, method)

        def with_token(url, **kwargs):
            return call(url, headers={**self.headers, **(kwargs.pop("headers", None) or {})}, **kwargs)

        return with_token


authed = _Authed(make_token())
# The same credentials for raw-socket requests: insert after the request line.
AUTH_LINE = b"Authorization: Bearer " + make_token().encode() + b"\r\n"

# 1000 concurrent connections need more descriptors than a default soft limit.
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (_hard, _hard))


class Service:
    """A running service binary: its URL, its JSON log lines, and ways to stop it."""

    def __init__(self, binary, env, args=()):
        self.binary = binary
        self.lines = []
        self.stderr = ""
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            [str(BIN_DIR / binary), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.started_at = time.monotonic()
        self.port = None
        self.grpc_port = None
        self.metrics_port = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 15
        while self.port is None:
            if self.proc.poll() is not None:
                self._reader.join(timeout=5)
                raise RuntimeError(f"{binary} exited with {self.proc.returncode}: "
                                   f"{self.proc.stderr.read()} {self.logs()[-3:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{binary} did not log its port")
            time.sleep(0.005)
        scheme = "http" if self.logs("listening")[0].get("tls", "off") == "off" else "https"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.grpc_target = f"127.0.0.1:{self.grpc_port}" if self.grpc_port else None
        # /metrics: on METRICS_PORT when that is set (the gateway's, in these tests), else beside the API.
        self.metrics_url = (f"http://127.0.0.1:{self.metrics_port}/metrics" if self.metrics_port
                            else self.url + "/metrics")

    def _read(self):
        for line in self.proc.stdout:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                entry = {"raw": line}
            with self._lock:
                self.lines.append(entry)
            if entry.get("message") == "gRPC listening":  # logged before "listening"
                self.grpc_port = entry["grpc_port"]
            if entry.get("message") == "metrics listening":  # METRICS_PORT; before "listening"
                self.metrics_port = entry["port"]
            if entry.get("message") == "listening":
                self.port = entry["port"]

    def logs(self, message=None):
        with self._lock:
            return [l for l in self.lines if message is None or l.get("message") == message]

    def wait_log(self, message, timeout=5.0, **fields):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for l in self.logs(message):
                if all(l.get(k) == v for k, v in fields.items()):
                    return l
            time.sleep(0.01)
        raise AssertionError(f"no log line {message!r} {fields}; have {self.logs()[-5:]}")

    def wait_ready(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/ready", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.01)
        raise AssertionError("service never became ready")

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def stop(self, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._reader.join(timeout=5)
        self.stderr = self.proc.stderr.read()
        return code


@pytest.fixture
def start_service(tmp_path):
    """start_service(binary, **env) -> Service, stopped at the end of the test."""
    running = []

    def start(binary="task-manager", args=(), wait_ready=True, **env):
        full_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PORT": "0",
            "HOST": "127.0.0.1",
            "DATA_DIR": str(tmp_path / "data"),
            "SHUTDOWN_DELAY": "0",
            "DRAIN_TIMEOUT": "5s",
            "THREADS": "2",
            "LOG_LEVEL": "info",
            "JWT_SECRET_KEY": TEST_JWT_SECRET,
        }
        if binary == "gateway":  # it serves no /metrics on its public port
            full_env["METRICS_PORT"] = "0"
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
            if k in os.environ:
                full_env[k] = os.environ[k]
        full_env.update({k: str(v) for k, v in env.items()})
        svc = Service(binary, full_env, args)
        running.append(svc)
        if wait_ready:
            svc.wait_ready()
        return svc

    yield start
    for svc in running:
        code = svc.stop()
        # A sanitizer report or a crash at exit fails the test that started the service.
        if code not in (0, -signal.SIGKILL, 130) or "ERROR: AddressSanitizer" in svc.stderr:
            (tmp_path / f"{svc.binary}.stderr").write_text(svc.stderr)  # the whole report
        assert code in (0, -signal.SIGKILL, 130), f"{svc.binary} exited with {code}: {svc.stderr[-2000:]}"
        assert "ERROR: AddressSanitizer" not in svc.stderr, svc.stderr[-4000:]
        assert "runtime error:" not in svc.stderr, svc.stderr[-4000:]


sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "support"))
from postgres_server import Postgres  # noqa: E402
from redis_server import Redis  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True


def remove_orphaned_postgres():
    """A pytest session killed before its teardown (a ctest timeout) leaves its PostgreSQL
    running (pg_ctl detaches it) with ~1 GB of data in /tmp. Each session's directory names its
    pytest process in `session`; one whose process is gone is stopped and deleted. A directory
    without that file (a session starting, or not a session's) is left alone."""
    for base in pathlib.Path("/tmp").glob("svckit-pytest-postgres-*"):
        try:
            owner = int((base / "session").read_text())
        except (OSError, ValueError):
            continue
        if not alive(owner):
            Postgres(str(base), 0).remove()


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL 15 of the test session's own, on a free port."""
    remove_orphaned_postgres()
    port = free_port()
    server = Postgres(f"/tmp/svckit-pytest-postgres-{port}", port).start()
    pathlib.Path(server.base_dir, "session").write_text(str(os.getpid()))
    yield server
    server.remove()


@pytest.fixture
def redis_server(tmp_path):
    """A Redis of the test's own on a free port (tests restart and kill it), with a password."""
    port = free_port()
    server = Redis(f"/tmp/svckit-pytest-redis-{port}", port).start()
    yield server
    server.remove()


_databases = iter(range(1, 1_000_000))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request):
    """Each store test runs on both backends: {} (the default SQLite file) or a fresh
    PostgreSQL database's DATABASE_URL, to pass to start_service as **database_url."""
    if request.param == "sqlite":
        return {}
    server = request.getfixturevalue("postgres_server")
    return {"DATABASE_URL": server.create_database(f"t{os.getpid()}_{next(_databases)}")}


@pytest.fixture
def task_manager(start_service, database_url):
    return start_service("task-manager", **database_url)


def raw_request(port, data: bytes, timeout=5.0, read_all=True):
    """Sends raw bytes and returns what the server answered (until it closes, or one response)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if not read_all and b"\r\n\r\n" in b"".join(chunks):
                    break
        except (ConnectionResetError, socket.timeout):
            pass
        return b"".join(chunks)


def status_of(response: bytes) -> int:
    line = response.split(b"\r\n", 1)[0]
    parts = line.split(b" ")
    return int(parts[1]) if len(parts) > 1 and parts[0].startswith(b"HTTP/") else 0


@pytest.fixture
def searchable_tmp():
    """A temporary directory every uid can reach, for what a service hands to another uid (the
    Code Assistant's sandboxed test runs drop to nobody; pytest's tmp_path is 0700 under root)."""
    base = pathlib.Path(tempfile.mkdtemp(prefix="svckit-"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)
