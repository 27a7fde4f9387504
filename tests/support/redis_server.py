#!/usr/bin/env python3
"""A throwaway Redis server for tests and benchmarks: Debian's redis-server on loopback, its
files in a directory of its own (wiped at start), no persistence, the password `svckit-test`
(so every test says AUTH, as production does).

    python3 tests/support/redis_server.py start DIR PORT   # prints the redis:// URL
    python3 tests/support/redis_server.py stop DIR PORT    # and deletes DIR

or from Python: Redis(dir, port).start() / .stop() / .restart() / .kill() / .remove() / .cli(*args).
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

PASSWORD = "svckit-test"


class Redis:
    def __init__(self, base_dir, port):
        self.base_dir = os.path.abspath(base_dir)
        self.port = int(port)
        self.url = f"redis://:{PASSWORD}@127.0.0.1:{self.port}"
        self.pidfile = os.path.join(self.base_dir, "redis.pid")

    def start(self, wipe=True):
        if wipe:
            shutil.rmtree(self.base_dir, ignore_errors=True)
        os.makedirs(self.base_dir, exist_ok=True)
        subprocess.run(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                        "--dir", self.base_dir, "--daemonize", "yes", "--pidfile", self.pidfile,
                        "--logfile", os.path.join(self.base_dir, "redis.log"), "--save", "",
                        "--appendonly", "no", "--requirepass", PASSWORD],
                       check=True, timeout=30)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if self.cli("PING") == "PONG":
                    return self
            except (OSError, subprocess.SubprocessError, RuntimeError):
                pass  # not listening yet
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def pid(self):
        try:
            with open(self.pidfile) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def _signal(self, sig):
        pid = self.pid()
        if pid is None:
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)

    def stop(self):
        self._signal(signal.SIGTERM)

    def kill(self):
        self._signal(signal.SIGKILL)
        try:
            os.unlink(self.pidfile)
        except OSError:
            pass

    def remove(self):
        """Kills the server and deletes its directory: what a test leaves behind."""
        try:
            self.kill()
        finally:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def restart(self):
        self.stop()
        return self.start(wipe=False)

    def cli(self, *args):
        r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), "--no-auth-warning",
                            "-a", PASSWORD, *args], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"redis-cli failed: {r.stderr.strip()}")
        return r.stdout.strip()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("start", "stop"):
        sys.exit(__doc__)
    server = Redis(sys.argv[2], sys.argv[3])
    if sys.argv[1] == "start":
        server.stop()  # one left over by an interrupted run
        print(server.start().url)
    else:
        server.stop()
        shutil.rmtree(server.base_dir, ignore_errors=True)
