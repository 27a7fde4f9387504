"""The legacy monolith (a FastAPI app, tests/support/legacy_monolith.py) using svckit from Python
beside the C++ services, over a real RabbitMQ: tokens from the Security Service, its events into
Analytics, the Task Manager's events into it, and calls to the Task Manager that a restart of
that service does not break."""
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests

from waiting import until  # tests/support
from conftest import PYTHON_DIR, TEST_JWT_SECRET, python_env

SUPPORT = pathlib.Path(__file__).resolve().parents[1] / "support"
ADMIN = ("admin@legacy.test", "legacy-admin-password-1")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]




class Monolith:
    def __init__(self, port, env, log_path):
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(log_path, "w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "legacy_monolith:app", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning"],
            cwd=SUPPORT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

        def ready():
            assert self.proc.poll() is None, self.output()
            try:
                return requests.get(self.url + "/ready", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        until(ready, timeout=30, what="the monolith to be ready")

    def output(self):
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        return code, self.output()


@pytest.fixture
def system(start_service, broker, tmp_path):
    """Security, Task Manager and Analytics (C++, events over RabbitMQ) and the monolith."""
    common = {"BUS_URL": broker.url, "JWT_SECRET_KEY": TEST_JWT_SECRET}
    security = start_service("security", SECURITY_ADMIN_EMAIL=ADMIN[0], SECURITY_ADMIN_PASSWORD=ADMIN[1],
                             SECURITY_BCRYPT_COST="4", DATA_DIR=tmp_path / "security", **common)
    analytics = start_service("analytics", DATA_DIR=tmp_path / "analytics", **common)
    tm_port = free_port()
    tasks = start_service("task-manager", PORT=tm_port, DATA_DIR=tmp_path / "tasks", **common)
    monolith = Monolith(free_port(), python_env(
        PYTHONPATH=f"{PYTHON_DIR}:{SUPPORT}", TASK_MANAGER_URL=tasks.url,
        JWT_ISSUER="aether-security", SERVICE_NAME="legacy-monolith", **common), tmp_path / "monolith.log")
    r = requests.post(security.url + "/api/v1/auth/login", json={"email": ADMIN[0], "password": ADMIN[1]}, timeout=10)
    assert r.status_code == 200, r.text
    yield {"security": security, "analytics": analytics, "tasks": tasks, "tm_port": tm_port,
           "monolith": monolith, "token": r.json()["access_token"], "start": start_service,
           "tmp": tmp_path, "common": common}
    code, output = monolith.stop()
    assert code == 0, output
    for bad in ("Fatal Python error", "Segmentation fault", "terminate called"):
        assert bad not in output, output


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_tokens_from_the_security_service_are_accepted_and_tampered_ones_refused(system):
    m, token = system["monolith"], system["token"]
    r = requests.get(m.url + "/api/v1/me", headers=bearer(token), timeout=5)
    assert r.status_code == 200, r.text
    assert r.json()["email"] == ADMIN[0] and "admin" in r.json()["roles"]
    header, payload, signature = token.split(".")
    tampered = [f"{header}.{payload}.{signature[:-3]}AAA",
                f"{header}.{payload[:-2]}xx.{signature}",
                token + "x", "not-a-token", ""]
    for bad in tampered:
        r = requests.get(m.url + "/api/v1/me", headers=bearer(bad), timeout=5)
        assert r.status_code == 401, (bad, r.text)
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = requests.get(m.url + "/api/v1/me", headers=bearer(f"{header}.{payload}.{signature[:-3]}AAA"), timeout=5)
    assert "invalid_token" in r.headers["WWW-Authenticate"] and "signature" in r.json()["detail"]
    assert requests.get(m.url + "/api/v1/me", timeout=5).status_code == 401
    # A refresh token is not an access token, there as in the C++ services.
    r = requests.post(system["security"].url + "/api/v1/auth/login",
                      json={"email": ADMIN[0], "password": ADMIN[1]}, timeout=10)
    r = requests.get(m.url + "/api/v1/me", headers=bearer(r.json()["refresh_token"]), timeout=5)
    assert r.status_code == 401 and "access" in r.json()["detail"]


def usage(analytics, token):
    r = requests.get(analytics.url + "/api/v1/analytics/usage", headers=bearer(token), timeout=5)
    assert r.status_code == 200, r.text
    return sum(row["count"] for row in r.json()["usage"] if row["metric"] == "task.created")


def published(monolith, event_type):
    """The monolith's own count of events it published (svckit's bus metrics on its /metrics)."""
    text = requests.get(monolith.url + "/metrics", timeout=5).text
    series = f'bus_messages_published_total{{type="{event_type}"}} '
    return sum(float(line[len(series):]) for line in text.splitlines() if line.startswith(series))


def test_monolith_events_reach_the_cpp_analytics_service(system):
    m, token, analytics = system["monolith"], system["token"], system["analytics"]
    before = usage(analytics, token)
    published_before = published(m, "task.created")
    for i in range(5):
        r = requests.post(m.url + "/legacy/tasks", json={"id": f"legacy-{i}", "title": f"old task {i}"},
                          headers=bearer(token), timeout=10)
        assert r.status_code == 201, r.text
    until(lambda: usage(analytics, token) == before + 5, what="5 monolith events in Analytics usage")
    # A user without tasks:write is refused before anything is published.
    guest = requests.post(system["security"].url + "/api/v1/auth/login",
                          json={"email": ADMIN[0], "password": ADMIN[1]}, timeout=10)
    assert guest.status_code == 200
    r = requests.post(m.url + "/legacy/tasks", json={"id": "x"}, headers=bearer(guest.json()["refresh_token"]), timeout=5)
    assert r.status_code == 401
    # A publish completes (the broker confirms) before the handler answers, so a refused request
    # that had published would already show here.
    assert published(m, "task.created") == published_before + 5
    assert usage(analytics, token) == before + 5


def test_task_manager_events_reach_the_monolith(system):
    m, token = system["monolith"], system["token"]
    r = requests.post(system["tasks"].url + "/api/v1/tasks", json={"title": "made in C++"},
                      headers={**bearer(token), "X-Request-ID": "req-cpp-to-python"}, timeout=5)
    assert r.status_code == 201, r.text
    task_id = r.json()["id"]

    def arrived():
        events = requests.get(m.url + "/legacy/events", timeout=5).json()
        return [e for e in events if e["source"] == "task-manager" and e["data"].get("task_id") == task_id]

    event = until(arrived, what="the Task Manager's task.created in the monolith")[0]
    assert event["type"] == "task.created" and event["data"]["title"] == "made in C++"
    assert event["requestid"] == "req-cpp-to-python" and event["specversion"] == "1.0"


def test_calls_to_the_task_manager_survive_its_restart(system):
    m, token = system["monolith"], system["token"]
    r = requests.post(system["tasks"].url + "/api/v1/tasks", json={"title": "survives restarts"},
                      headers=bearer(token), timeout=5)
    task_id = r.json()["id"]
    results, stop = [], threading.Event()

    def hammer():
        session = requests.Session()
        while not stop.is_set():
            r = session.get(m.url + f"/legacy/tasks/{task_id}", headers=bearer(token), timeout=30)
            body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
            results.append((r.status_code, int(r.headers.get("X-Upstream-Attempts", "0")), body.get("task", {}).get("id")))

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for t in threads:
        t.start()
    until(lambda: len(results) > 20, what="calls before the restart")
    old = system["tasks"]
    assert old.stop() == 0
    new = system["start"]("task-manager", PORT=system["tm_port"], DATA_DIR=system["tmp"] / "tasks",
                          **system["common"])
    assert new.proc.pid != old.proc.pid
    count = len(results)
    until(lambda: len(results) > count + 20, what="calls after the restart")
    stop.set()
    for t in threads:
        t.join()
    failures = [r for r in results if r[0] != 200]
    assert not failures, failures[:5]
    assert any(attempts > 1 for _, attempts, _ in results), "no call crossed the restart"
    assert all(got == task_id for _, _, got in results)


def test_the_monolith_exports_the_instrumentator_metrics_and_ids(system):
    m, token = system["monolith"], system["token"]
    r = requests.get(m.url + "/api/v1/me", headers={**bearer(token), "X-Request-ID": "req-legacy-9"}, timeout=5)
    assert r.headers["X-Request-ID"] == "req-legacy-9"
    assert len(requests.get(m.url + "/api/v1/me", timeout=5).headers["X-Request-ID"]) == 36
    text = requests.get(m.url + "/metrics", timeout=5).text
    assert 'http_requests_total{handler="/api/v1/me",method="GET",status="2xx"}' in text
    assert 'http_requests_total{handler="/api/v1/me",method="GET",status="4xx"}' in text
    assert 'http_request_duration_seconds_bucket{handler="/api/v1/me",method="GET",le="0.005"}' in text
    requests.get(m.url + "/no/such/path/123", timeout=5)
    text = requests.get(m.url + "/metrics", timeout=5).text
    assert 'handler="none"' in text and "/no/such/path" not in text
    assert 'bus_connected{backend="amqp"} 1' in text  # the monolith's own bus, same registry
