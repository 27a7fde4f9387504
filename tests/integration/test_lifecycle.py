"""Configuration, start-up and graceful shutdown of real processes."""
import os
import signal
import subprocess
import threading
import time

import pytest
import requests

from conftest import BIN_DIR, TEST_JWT_SECRET, authed
from waiting import until  # tests/support

API = "/api/v1/tasks"


def run_with_env(binary, **env):
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "JWT_SECRET_KEY": TEST_JWT_SECRET,
            **{k: str(v) for k, v in env.items()}}
    return subprocess.run([str(BIN_DIR / binary)], env=full, capture_output=True, text=True, timeout=20)


@pytest.mark.parametrize("variable,value", [
    ("PORT", "abc"), ("PORT", "70000"), ("THREADS", "0"), ("LOG_LEVEL", "chatty"),
    ("SHUTDOWN_DELAY", "soon"), ("MAX_BODY", "-1"), ("DATABASE_URL", "mysql://db"),
    ("DATABASE_URL", "sqlite:///"), ("BUS_URL", "kafka://x"), ("TASK_CACHE_ENTRIES", "lots"),
    ("TASK_CACHE_ENTRIES", "-1"), ("JWT_SECRET_KEY", ""), ("JWT_SECRET_KEY", "short"), ("AUTH_ROLES", "nonsense"),
])
def test_bad_config_stops_startup_with_one_line_and_exit_2(variable, value, tmp_path):
    env = {"PORT": 0, "DATA_DIR": tmp_path, variable: value}
    result = run_with_env("task-manager", **env)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]


def test_unknown_flag_value_and_help(tmp_path):
    result = subprocess.run([str(BIN_DIR / "task-manager"), "--port=notaport"], capture_output=True,
                            text=True, timeout=20, env={"DATA_DIR": str(tmp_path)})
    assert result.returncode == 2 and "PORT" in result.stderr
    help_ = subprocess.run([str(BIN_DIR / "task-manager"), "--help"], capture_output=True, text=True, timeout=20)
    assert help_.returncode == 0
    for name in ("PORT", "DATABASE_URL", "SHUTDOWN_DELAY", "DRAIN_TIMEOUT", "MAX_BODY", "LOG_LEVEL"):
        assert name in help_.stdout


def run_args(binary, *args, **env):
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **{k: str(v) for k, v in env.items()}}
    return subprocess.run([str(BIN_DIR / binary), *args], env=full, capture_output=True, text=True, timeout=20)


def test_an_unknown_flag_stops_startup_naming_the_nearest_setting(tmp_path):
    result = run_args("task-manager", "--task-cache-entires=5", DATA_DIR=tmp_path, JWT_SECRET_KEY=TEST_JWT_SECRET)
    assert result.returncode == 2, result
    assert result.stderr.strip().splitlines() == [
        "task-manager: config: --task-cache-entires: unknown flag; did you mean --task-cache-entries?"]
    assert not (tmp_path / "task-manager.db").exists(), "refused before anything was opened"


def test_help_lists_every_setting_grouped_by_module():
    result = run_args("aether", "--help")
    assert result.returncode == 0, result
    out = result.stdout
    # svckit's modules, then each service's, each setting under its own module.
    for module, setting in [("http", "PORT"), ("lifecycle", "DRAIN_TIMEOUT"), ("auth", "JWT_SECRET_KEY"),
                            ("task-manager", "TASK_CACHE_ENTRIES"), ("security", "SECURITY_BCRYPT_COST"),
                            ("ai-gateway", "AI_CACHE_TTL_SECONDS"), ("code-assistant", "CODE_TEST_COMMANDS")]:
        start = out.index(f"\n{module}:\n")
        end = out.find(":\n", start + len(module) + 3)
        section = out[start:] if end < 0 else out[start:out.rfind("\n", 0, end)]
        assert f"  {setting} " in section, (module, setting, section)
    assert "\n  TASK_CACHE_ENTRIES          tasks kept in memory for reads by id (default: 10000 on " \
           "SQLite, 0 on a shared database) (integer from 0 to 10000000)\n" in out
    assert "\n  DATABASE_POOL_SIZE          PostgreSQL connections per process, shared out among the " \
           "I/O threads (integer from 1 to 1000, default 8)\n" in out
    assert out.index("--migrate") < out.index("Settings:")  # the commands come first


def test_print_config_shows_values_and_sources_with_secrets_masked(tmp_path):
    result = run_args("task-manager", "--print-config", "--drain-timeout=7s", DATA_DIR=tmp_path,
                      JWT_SECRET_KEY=TEST_JWT_SECRET, BUS_URL="amqp://svc:hunter2@127.0.0.1:5672/v")
    assert result.returncode == 0, result
    out = result.stdout
    assert TEST_JWT_SECRET not in out and "hunter2" not in out
    lines = {line.split("=", 1)[0]: line for line in out.splitlines() if "=" in line and not line.startswith("#")}
    assert lines["JWT_SECRET_KEY"].split() == ["JWT_SECRET_KEY=****", "#", "environment"]
    assert lines["BUS_URL"].split() == ["BUS_URL=amqp://svc:****@127.0.0.1:5672/v", "#", "environment"]
    assert lines["DRAIN_TIMEOUT"].split() == ["DRAIN_TIMEOUT=7s", "#", "flag"]
    assert lines["DATABASE_POOL_SIZE"].split() == ["DATABASE_POOL_SIZE=8", "#", "default"]
    assert lines["TASK_CACHE_ENTRIES"].split() == ["TASK_CACHE_ENTRIES=", "#", "unset"]
    assert not (tmp_path / "task-manager.db").exists()


@pytest.mark.parametrize("url", ["amqp://svc:hunter2@host:99999/v", "amqp://svc:hunter2@host:notaport/v",
                                 "kafka://svc:hunter2@host/", "amqp:/svc:hunter2@host/"])
def test_a_bad_bus_url_is_refused_without_its_password(url, tmp_path):
    result = run_with_env("task-manager", PORT=0, DATA_DIR=tmp_path, BUS_URL=url)
    assert result.returncode == 2, result
    assert "BUS_URL" in result.stderr and "hunter2" not in result.stderr, result.stderr


def test_an_environment_variable_one_typo_away_is_warned_about(start_service):
    svc = start_service("task-manager", DRAIN_TIMOUT="5s")
    line = svc.wait_log("environment variable one letter away from a setting: a typo?")
    assert line["level"] == "WARNING"
    assert (line["variable"], line["setting"]) == ("DRAIN_TIMOUT", "DRAIN_TIMEOUT")


def test_probes_and_scrapes_are_not_access_logged_unless_asked(start_service):
    quiet = start_service("task-manager")
    loud = start_service("task-manager", ACCESS_LOG_PROBES="true")
    for svc in (quiet, loud):
        for path in ("/health", "/ready", "/health/live", "/health/ready", "/health/startup", "/metrics",
                     "/api/v1/tasks"):
            requests.get(svc.url + path, headers={"X-Request-ID": "probe-" + path.replace("/", "-")})
    loud.wait_log("request", path="/api/v1/tasks")
    quiet.wait_log("request", path="/api/v1/tasks")
    assert {l["path"] for l in quiet.logs("request")} == {"/api/v1/tasks"}
    assert {"/health", "/ready", "/metrics", "/health/startup"} <= {l["path"] for l in loud.logs("request")}


def test_port_zero_binds_a_free_port_and_logs_it(task_manager):
    line = task_manager.wait_log("listening")
    assert line["port"] > 0 and line["url"].endswith(f":{line['port']}")
    assert requests.get(task_manager.url + "/health").status_code == 200


def test_flags_override_environment(start_service):
    svc = start_service("task-manager", args=["--service-name=tm-flag"])
    assert requests.get(svc.url + "/health").json()["service"] == "tm-flag"


def test_occupied_port_is_a_clear_error(task_manager, tmp_path):
    result = run_with_env("task-manager", PORT=task_manager.port, HOST="127.0.0.1", DATA_DIR=tmp_path)
    assert result.returncode == 1
    assert "cannot listen" in result.stdout


def test_sigterm_turns_readiness_off_then_closes_and_exits_0(start_service):
    svc = start_service("task-manager", SHUTDOWN_DELAY="800ms")
    session = requests.Session()
    assert session.get(svc.url + "/ready").status_code == 200
    svc.signal(signal.SIGTERM)
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:  # readiness turns 503 at once...
        r = requests.get(svc.url + "/ready")
        if r.status_code == 503:
            break
    assert r.status_code == 503 and r.json()["status"] == "OUT_OF_SERVICE"
    assert requests.get(svc.url + "/health").status_code == 200  # ...while liveness stays UP
    assert authed.post(svc.url + API, json={"title": "during delay"}).status_code == 201
    assert svc.proc.wait(timeout=10) == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(svc.url + "/health", timeout=1)


def test_inflight_requests_finish_during_drain(start_service):
    svc = start_service("svckit-testd", SHUTDOWN_DELAY="100ms", DRAIN_TIMEOUT="10s")
    results = []

    def slow():
        results.append(requests.get(svc.url + "/test/slow", params={"ms": 1500}, timeout=10))

    t = threading.Thread(target=slow)
    t.start()
    svc.wait_log("slow request started")
    svc.signal(signal.SIGTERM)
    t.join(timeout=15)
    assert results and results[0].status_code == 200 and results[0].json()["slept_ms"] == 1500
    assert results[0].headers.get("Connection", "").lower() == "close"
    assert svc.proc.wait(timeout=10) == 0


def test_drain_timeout_bounds_the_wait(start_service):
    svc = start_service("svckit-testd", SHUTDOWN_DELAY="0", DRAIN_TIMEOUT="300ms")
    t = threading.Thread(target=lambda: _swallow(lambda: requests.get(svc.url + "/test/slow", params={"ms": 20000}, timeout=30)))
    t.start()
    svc.wait_log("slow request started")
    began = time.monotonic()
    svc.signal(signal.SIGTERM)
    assert svc.proc.wait(timeout=10) == 0
    assert time.monotonic() - began < 5
    svc.wait_log("drain timeout: closing connections still open")
    t.join(timeout=35)


def _swallow(fn):
    try:
        fn()
    except requests.RequestException:
        pass


def test_graceful_shutdown_under_continuous_load(start_service):
    """SIGTERM under load: every request accepted before readiness turned 503 completes, no
    connection is reset, and the process exits 0."""
    svc = start_service("task-manager", SHUTDOWN_DELAY="500ms", DRAIN_TIMEOUT="10s")
    stop = threading.Event()
    outcomes = []  # (started_at, status or exception name)
    lock = threading.Lock()

    def client():
        session = requests.Session()
        session.headers.update(authed.headers)
        while not stop.is_set():
            started = time.monotonic()
            try:
                r = session.post(svc.url + API, json={"title": "load"}, timeout=10)
                outcome = r.status_code
            except requests.ConnectionError as e:
                outcome = "refused" if "refused" in str(e).lower() else f"error: {e!r}"
            with lock:
                outcomes.append((started, outcome))
            if outcome == "refused":
                break

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    until(lambda: len(outcomes) >= 100, what="the load to be under way")
    sigterm_at = time.monotonic()
    svc.signal(signal.SIGTERM)
    code = svc.proc.wait(timeout=20)
    stop.set()
    for t in threads:
        t.join(timeout=15)

    assert code == 0
    before = [o for started, o in outcomes if started < sigterm_at]
    assert len(before) > 50, "the load did not run"
    assert all(o == 201 for o in before), [o for o in before if o != 201][:5]
    # After SIGTERM requests either completed or were refused by the closed listener: never reset.
    after = [o for started, o in outcomes if started >= sigterm_at]
    assert all(o in (201, "refused") for o in after), [o for o in after if o not in (201, "refused")][:5]
    assert any(o == 201 for o in after), "requests during SHUTDOWN_DELAY must still be served"
