"""The gateway's strangler-fig controls: weighted, sticky splits between the legacy monolith and
the new service, shadow traffic compared and never seen by clients, automatic rollback on the
seed's triggers, and weights changed by editing the routes file under load."""
import json
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time

import jwt
import pytest
import requests

from conftest import TEST_JWT_SECRET, make_token
from waiting import until  # tests/support
from test_gateway import USER, Recorder, recorders, routes_file  # noqa: F401 (fixture)

SUPPORT = pathlib.Path(__file__).resolve().parents[1] / "support"


def tokens(n):
    now = int(time.time())
    return [jwt.encode({"sub": f"user-{i}", "roles": ["user"], "type": "access", "iat": now, "exp": now + 3600},
                       TEST_JWT_SECRET, algorithm="HS256") for i in range(n)]


def split_gateway(start_service, tmp_path, new, legacy, weight, **route):
    upstreams = {"new": {"targets": [new.url], "health_check": False},
                 "legacy": {"targets": [legacy.url], "health_check": False}}
    r = {"name": "tasks", "paths": ["/api/v1/tasks"], "upstream": "new", "auth": "authenticated",
         "split": {"legacy": "legacy", "weight": weight}, **route}
    path = routes_file(tmp_path, upstreams, [r])
    svc = start_service("gateway", GATEWAY_ROUTES=path)
    svc.routes_path, svc.upstreams, svc.route = path, upstreams, r
    return svc


def test_a_20_percent_split_is_within_3_points_over_10000_users_and_sticky(start_service, tmp_path, recorders):
    new, legacy = recorders(), recorders()
    gw = split_gateway(start_service, tmp_path, new, legacy, 20)
    session = requests.Session()
    sides = {}
    for i, token in enumerate(tokens(10_000)):
        r = session.get(gw.url + "/api/v1/tasks", headers={"Authorization": "Bearer " + token}, timeout=5)
        assert r.status_code == 200
        sides[i] = r.json()["upstream"]
    share = sum(1 for s in sides.values() if s == new.url) / len(sides)
    assert abs(share - 0.20) <= 0.03, share
    # Sticky: every user keeps their side, request after request.
    for i, token in list(enumerate(tokens(50))):
        for _ in range(5):
            r = session.get(gw.url + "/api/v1/tasks", headers={"Authorization": "Bearer " + token}, timeout=5)
            assert r.json()["upstream"] == sides[i]
    metrics = session.get(gw.metrics_url, timeout=5).text
    assert 'gateway_split_requests_total{route="tasks",side="new"}' in metrics


@pytest.fixture
def legacy_app(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "legacy_tasks:app", "--app-dir", str(SUPPORT),
                             "--port", str(port), "--log-level", "warning"], stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(url + "/ready", timeout=1)
            break
        except requests.RequestException:
            assert proc.poll() is None and time.monotonic() < deadline, "the legacy app did not start"
            time.sleep(0.1)
    yield url
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


def test_shadow_traffic_is_compared_and_never_changes_answers(start_service, tmp_path, legacy_app):
    tasks = start_service("task-manager", DATA_DIR=tmp_path / "tm")
    upstreams = {"task-manager": {"targets": [tasks.url]}, "legacy": {"targets": [legacy_app]}}
    path = routes_file(tmp_path, upstreams, [
        {"name": "tasks", "paths": ["/api/v1/tasks"], "upstream": "task-manager", "auth": "authenticated",
         "split": {"legacy": "legacy", "weight": 0},
         "shadow": {"percent": 100, "ignore_fields": ["created_at", "updated_at", "user_id", "description",
                                                      "due_date", "assigned_to", "tags", "completed_at"]}}])
    gw = start_service("gateway", GATEWAY_ROUTES=path)
    # One task on both sides: made in the Task Manager, copied into the legacy app.
    r = requests.post(tasks.url + "/api/v1/tasks", json={"title": "migrate me"}, headers=USER, timeout=5)
    task = r.json()["task"]
    requests.put(legacy_app + f"/legacy/tasks/{task['id']}", json=task, timeout=5)
    direct = requests.get(legacy_app + f"/api/v1/tasks/{task['id']}", timeout=5).json()
    for _ in range(20):
        r = requests.get(gw.url + f"/api/v1/tasks/{task['id']}", headers=USER, timeout=5)
        assert r.status_code == 200 and r.json() == direct  # the primary (legacy) answer, always

    def shadow_counts():
        text = requests.get(gw.metrics_url, timeout=5).text
        out = {}
        for result in ("match", "mismatch", "error"):
            line = [l for l in text.splitlines() if l.startswith(f'gateway_shadow_requests_total{{result="{result}",route="tasks"}}')]
            out[result] = float(line[0].split()[-1]) if line else 0
        return out

    deadline = time.monotonic() + 10
    while shadow_counts()["match"] < 20:
        assert time.monotonic() < deadline, shadow_counts()
        time.sleep(0.05)
    assert shadow_counts()["mismatch"] == 0
    # An injected difference on the legacy side is detected, counted and logged with the diff;
    # the client still gets the legacy answer.
    requests.put(legacy_app + "/legacy/faults", json={"mismatch": True}, timeout=5)
    r = requests.get(gw.url + f"/api/v1/tasks/{task['id']}", headers=USER, timeout=5)
    assert r.json()["task"]["title"] == "migrate me (legacy spelling)"
    line = gw.wait_log("shadow answer differs", timeout=10)
    assert line["difference"].startswith("$.task.title:") and line["route"] == "tasks"
    assert shadow_counts()["mismatch"] >= 1


def test_a_slow_shadow_does_not_hold_up_the_client(start_service, tmp_path, recorders):
    new, legacy = recorders(), recorders()
    new.delay = 1.0
    gw = split_gateway(start_service, tmp_path, new, legacy, 0, shadow={"percent": 100})
    started = time.monotonic()
    r = requests.get(gw.url + "/api/v1/tasks/1", headers=USER, timeout=5)
    assert r.status_code == 200 and r.json()["upstream"] == legacy.url
    assert time.monotonic() - started < 0.9  # waiting for the shadow would take 1 s or more


def test_rollback_on_injected_5xx(start_service, tmp_path, recorders):
    new, legacy = recorders(), recorders()
    new.status = 500
    gw = split_gateway(start_service, tmp_path, new, legacy, 50,
                       rollback={"window_seconds": 30, "min_requests": 20, "max_error_rate": 0.01})
    session = requests.Session()
    users = tokens(400)
    for token in users:
        session.get(gw.url + "/api/v1/tasks", headers={"Authorization": "Bearer " + token}, timeout=5)
    line = gw.wait_log("rollback: the new upstream's weight is 0", timeout=10)
    assert line["route"] == "tasks" and "error rate" in line["reason"]
    # From now on everyone is on the legacy side.
    for token in users[:100]:
        r = session.get(gw.url + "/api/v1/tasks", headers={"Authorization": "Bearer " + token}, timeout=5)
        assert r.status_code == 200 and r.json()["upstream"] == legacy.url
    metrics = session.get(gw.metrics_url, timeout=5).text
    assert 'gateway_route_rolled_back{route="tasks"} 1' in metrics
    assert 'gateway_rollbacks_total{route="tasks"} 1' in metrics
    assert 'bus_messages_published_total{type="gateway.rollback"} 1' in metrics


def test_rollback_on_injected_latency(start_service, tmp_path, recorders):
    new, legacy = recorders(), recorders()
    new.delay = 0.03
    gw = split_gateway(start_service, tmp_path, new, legacy, 50,
                       rollback={"window_seconds": 30, "min_requests": 20, "max_latency_increase": 0.2})
    session = requests.Session()
    for token in tokens(300):
        session.get(gw.url + "/api/v1/tasks", headers={"Authorization": "Bearer " + token}, timeout=5)
    line = gw.wait_log("rollback: the new upstream's weight is 0", timeout=10)
    assert "p95" in line["reason"] and "legacy" in line["reason"]


def test_healthy_new_side_is_not_rolled_back(start_service, tmp_path, recorders):
    new, legacy = recorders(), recorders()
    gw = split_gateway(start_service, tmp_path, new, legacy, 50,
                       rollback={"window_seconds": 30, "min_requests": 20})
    session = requests.Session()
    for token in tokens(300):
        assert session.get(gw.url + "/api/v1/tasks", headers={"Authorization": "Bearer " + token}, timeout=5).status_code == 200
    assert not gw.logs("rollback: the new upstream's weight is 0")
    assert 'gateway_route_rolled_back{route="tasks"} 0' in session.get(gw.metrics_url, timeout=5).text


def test_weights_change_by_editing_the_file_under_load_without_a_failed_request(start_service, tmp_path, recorders):
    new, legacy = recorders(), recorders()
    gw = split_gateway(start_service, tmp_path, new, legacy, 0)
    results, stop = [], threading.Event()
    users = tokens(200)

    def load():
        session = requests.Session()
        i = 0
        while not stop.is_set():
            r = session.get(gw.url + "/api/v1/tasks", headers={"Authorization": "Bearer " + users[i % 200]}, timeout=10)
            results.append((r.status_code, r.json().get("upstream")))
            i += 1

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    for weight in (10, 50, 100):
        route = {**gw.route, "split": {"legacy": "legacy", "weight": weight}}
        gw.routes_path.write_text(json.dumps({"upstreams": gw.upstreams, "routes": [route]}))
        loads = len(gw.logs("routes loaded"))
        gw.signal(signal.SIGHUP)
        until(lambda: len(gw.logs("routes loaded")) > loads, what=f"the routes with weight {weight}")
        served = len(results)
        until(lambda: len(results) >= served + 40, what=f"requests served at weight {weight}")
    stop.set()
    for t in threads:
        t.join()
    assert results and all(status == 200 for status, _ in results), [r for r in results if r[0] != 200][:5]
    assert len(gw.logs("routes loaded")) >= 4  # at start, then one per weight
    assert results[-1][1] == new.url  # weight 100: everyone on the new side at the end


def test_a_feature_flag_decides_the_split_and_follows_the_configuration_service(start_service, tmp_path,
                                                                                recorders):
    new, legacy = recorders(), recorders()
    admin = {"Authorization": "Bearer " + make_token(sub="ops", roles=("admin",))}
    config = start_service("configuration", DATA_DIR=tmp_path / "config")
    beta = {"state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": "off",
            "targeting": {"if": [{"in": [{"var": "targetingKey"}, ["user-1", "user-2"]]}, "on", "off"]}}
    r = requests.put(config.url + "/api/v1/flags/tasks-new-service", json={"definition": beta}, headers=admin,
                     timeout=5)
    assert r.status_code == 200, r.text
    reader = make_token(sub="gateway", permissions=("flags:read",))
    upstreams = {"new": {"targets": [new.url], "health_check": False},
                 "legacy": {"targets": [legacy.url], "health_check": False}}
    route = {"name": "tasks", "paths": ["/api/v1/tasks"], "upstream": "new", "auth": "authenticated",
             "split": {"legacy": "legacy", "weight": 100, "flag": "tasks-new-service"}}
    gw = start_service("gateway", GATEWAY_ROUTES=routes_file(tmp_path, upstreams, [route]), FLAGS_URL=config.url,
                       FLAGS_TOKEN=reader, FLAGS_POLL_INTERVAL="200ms")
    side = lambda token: requests.get(gw.url + "/api/v1/tasks", headers={"Authorization": "Bearer " + token},  # noqa: E731
                                      timeout=5).json()["upstream"]
    users = tokens(5)
    assert [side(t) for t in users] == [legacy.url, new.url, new.url, legacy.url, legacy.url]
    # Everyone on the new side: one flag change, no routes file touched.
    beta["targeting"] = {"fractional": [["on", 1], ["off", 0]]}
    requests.put(config.url + "/api/v1/flags/tasks-new-service", json={"definition": beta}, headers=admin, timeout=5)
    until(lambda: all(side(t) == new.url for t in users), what="the flag change at the gateway")
    # The service away: the gateway keeps deciding by the last flags it had.
    config.stop()
    assert [side(t) for t in users] == [new.url] * 5
    # A split naming no flag is refused at start.
    route["split"]["flag"] = ""
    (tmp_path / "bad").mkdir()
    with pytest.raises(RuntimeError, match="split.flag"):
        start_service("gateway", GATEWAY_ROUTES=routes_file(tmp_path / "bad", upstreams, [route]))
