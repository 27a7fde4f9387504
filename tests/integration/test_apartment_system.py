"""The Agentic Apartment Manager (seed 004) black-box with real processes: the whole flow through
the gateway, AI Processing killed mid-run, an external system that fails and recovers, the
dead-letter queue and svckit-dlq over a real RabbitMQ, duplicated events, and hostile input on
every endpoint."""
import http.server
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import jwt
import pika
import pytest
import requests

from conftest import BIN_DIR, TEST_JWT_SECRET, free_port

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "support"))
from rabbitmq_broker import Broker  # noqa: E402
from waiting import until  # noqa: E402

ADMIN = ("admin@apartment.test", "admin-password-1")
LEAK = "Water is leaking from the ceiling and flooding the bathroom!"


def token(sub, roles, **claims):
    now = int(time.time())
    return jwt.encode({"sub": sub, "roles": list(roles), "type": "access", "iat": now, "exp": now + 3600,
                       **claims}, TEST_JWT_SECRET, algorithm="HS256")


def bearer(t):
    return {"Authorization": f"Bearer {t}"}


STAFF = bearer(token("staff-1", ["staff"]))


class StandIn:
    """An external system (maintenance, billing, ...) on loopback: records every call, fails the
    first `failures` calls with 503 (or all while `down`), and keeps its word on Idempotency-Key:
    a key it has answered gets the same work order again, never a second one."""

    def __init__(self, failures=0):
        self.failures = failures
        self.down = False
        self.calls = []
        self.orders = {}  # Idempotency-Key -> work order id
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                key = self.headers.get("Idempotency-Key")
                stand_in.calls.append({"path": self.path, "key": key, "body": json.loads(body)})
                if stand_in.down or stand_in.failures > 0:
                    stand_in.failures -= 1
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                order = stand_in.orders.setdefault(key, f"WO-{len(stand_in.orders) + 1}")
                answer = json.dumps({"id": order}).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stand_in():
    s = StandIn()
    yield s
    s.close()


def start_apartment(start_service, **env):
    """The whole system in one process (build/bin/apartment), its services calling one another
    on its own port."""
    port = free_port()
    self_url = f"http://127.0.0.1:{port}"
    return start_service("apartment", PORT=str(port), AI_PROCESSING_SERVICE_URL=self_url,
                         DECISION_SIMULATION_SERVICE_URL=self_url, EXECUTION_SERVICE_URL=self_url,
                         SECURITY_ADMIN_EMAIL=ADMIN[0], SECURITY_ADMIN_PASSWORD=ADMIN[1],
                         SECURITY_BCRYPT_COST="4", EXECUTION_RETRY_BACKOFF="50ms",
                         PENDING_RETRY_INTERVAL="200ms", **env)


def gateway_for(start_service, tmp_path, apartment):
    routes = json.loads((pathlib.Path(__file__).parents[2] / "services" / "gateway" / "config" /
                         "apartment-local.json").read_text())
    routes["upstreams"]["apartment"]["targets"] = [apartment.url]
    path = tmp_path / "routes.json"
    path.write_text(json.dumps(routes))
    return start_service("gateway", GATEWAY_ROUTES=str(path), TRUSTED_PROXIES="127.0.0.1")


def sign_up(url, email, unit, roles=("resident",)):
    """A user made by the admin through the Security module; their access token."""
    admin = requests.post(url + "/api/v1/auth/login", json={"email": ADMIN[0], "password": ADMIN[1]},
                          timeout=10).json()["access_token"]
    r = requests.post(url + "/api/v1/auth/users", headers=bearer(admin), timeout=10,
                      json={"email": email, "password": "password-of-" + email, "roles": list(roles),
                            "claims": {"unit": unit}})
    assert r.status_code == 201, r.text
    login = requests.post(url + "/api/v1/auth/login", timeout=10,
                          json={"email": email, "password": "password-of-" + email})
    return login.json()["access_token"]


def wait_for_status(url, request_id, headers, *statuses, timeout=20):
    def reached():
        r = requests.get(f"{url}/api/v1/requests/{request_id}", headers=headers, timeout=5).json()
        return r if r["status"] in statuses else None
    return until(reached, timeout, f"request {request_id} to become {statuses}")


def test_the_whole_flow_through_the_gateway(start_service, tmp_path):
    apartment = start_apartment(start_service)
    gw = gateway_for(start_service, tmp_path, apartment)
    alice = bearer(sign_up(gw.url, "alice@apartment.test", "1204"))
    bob = bearer(sign_up(gw.url, "bob@apartment.test", "305"))

    r = requests.post(gw.url + "/api/v1/requests", headers=alice, json={"message": LEAK}, timeout=20)
    assert r.status_code == 201, r.text
    req = r.json()
    assert r.headers["Location"] == "/api/v1/requests/" + req["id"]
    assert (req["status"], req["unit"]) == ("options_ready", "1204")
    assert (req["classification"]["category"], req["classification"]["urgency"]) == ("plumbing", "emergency")
    assert req["risk"]["band"] in ("high", "critical") and len(req["risk"]["factors"]) == 3
    assert {o["id"] for o in req["options"]} == {"in_house_standard", "in_house_priority",
                                                 "vendor_emergency", "scheduled_visit"}
    decision = req["decision"]
    assert decision["recommended_option"] in ("vendor_emergency", "in_house_priority")
    assert any(d["id"] == "sla-maintenance-response" for d in decision["documents"])
    assert [h["status"] for h in req["history"]] == ["submitted", "classified", "options_ready"]

    # A resident whose account names no unit cannot submit (nor name a unit themself).
    nobody = bearer(token("resident-no-unit", ["resident"]))
    r = requests.post(gw.url + "/api/v1/requests", headers=nobody, timeout=5, json={"message": LEAK, "unit": "1204"})
    assert r.status_code == 403, r.text

    # Another resident finds nothing of Alice's; staff see it.
    assert requests.get(f"{gw.url}/api/v1/requests/{req['id']}", headers=bob, timeout=5).status_code == 404
    assert requests.get(f"{gw.url}/api/v1/residents/{req['resident_id']}/requests", headers=bob,
                        timeout=5).status_code == 404
    assert requests.get(gw.url + "/api/v1/requests", headers=bob, timeout=5).status_code == 403
    assert requests.post(f"{gw.url}/api/v1/requests/{req['id']}/select-option", headers=bob, timeout=5,
                         json={"option_id": decision["recommended_option"]}).status_code == 404
    listed = requests.get(gw.url + "/api/v1/requests?status=options_ready&category=plumbing",
                          headers=STAFF, timeout=5).json()
    assert [x["id"] for x in listed["requests"]] == [req["id"]] and listed["total"] == 1
    mine = requests.get(f"{gw.url}/api/v1/residents/{req['resident_id']}/requests", headers=alice, timeout=5)
    assert mine.json()["total"] == 1

    # A resident may not choose what policy forbids or what needs approval; staff may.
    forbidden = requests.post(f"{gw.url}/api/v1/requests/{req['id']}/select-option", headers=alice, timeout=5,
                              json={"option_id": "scheduled_visit"})
    assert forbidden.status_code == 409 and "staff choose it" in forbidden.json()["detail"]
    # Alice chooses; Execution carries it out (recorded locally: no maintenance system is set).
    allowed = [s["option_id"] for s in decision["ranking"] if s["compliant"] and not s["requires_approval"]]
    assert allowed, decision
    chosen = allowed[0]
    r = requests.post(f"{gw.url}/api/v1/requests/{req['id']}/select-option", headers=alice, timeout=5,
                      json={"option_id": chosen})
    assert r.status_code == 200 and r.json()["status"] in ("option_selected", "executing", "resolved")
    done = wait_for_status(gw.url, req["id"], alice, "resolved")
    assert [h["status"] for h in done["history"]][-3:] == ["option_selected", "executing", "resolved"]
    assert done["execution"]["status"] == "succeeded" and done["execution"]["attempts"] == 1
    execution = requests.get(f"{gw.url}/api/v1/requests/{req['id']}/execution", headers=alice, timeout=5).json()
    assert (execution["target"], execution["action"], len(execution["attempts"])) == ("local", "maintenance", 1)
    # Choosing again is no second order; another option now is a conflict.
    again = requests.post(f"{gw.url}/api/v1/requests/{req['id']}/select-option", headers=alice, timeout=5,
                          json={"option_id": chosen})
    assert again.status_code == 200 and again.json()["status"] == "resolved"
    other = next(o["id"] for o in req["options"] if o["id"] != chosen)
    assert requests.post(f"{gw.url}/api/v1/requests/{req['id']}/select-option", headers=alice, timeout=5,
                         json={"option_id": other}).status_code == 409

    # Staff resolve a request by hand, and a resident cannot.
    second = requests.post(gw.url + "/api/v1/requests", headers=alice, timeout=20,
                           json={"message": "The hallway light outside my door flickers, no rush"}).json()
    assert requests.post(f"{gw.url}/api/v1/requests/{second['id']}/resolve", headers=alice, timeout=5,
                         json={"note": "fixed"}).status_code == 403
    r = requests.post(f"{gw.url}/api/v1/requests/{second['id']}/resolve", headers=STAFF, timeout=5,
                      json={"note": "bulb replaced on the round"})
    assert r.status_code == 200 and r.json()["resolution"] == "bulb replaced on the round"
    assert requests.post(f"{gw.url}/api/v1/requests/{second['id']}/resolve", headers=STAFF, timeout=5,
                         json={"note": "again"}).status_code == 409
    assert requests.put(f"{gw.url}/api/v1/requests/{second['id']}", headers=STAFF, timeout=5,
                        json={"status": "options_ready"}).status_code == 409

    # A browser front end is allowed by CORS at the edge.
    pre = requests.options(gw.url + "/api/v1/requests", timeout=5, headers={
        "Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"})
    assert pre.headers.get("Access-Control-Allow-Origin") == "http://localhost:3000"


def test_ai_processing_killed_mid_run_requests_pend_and_complete(start_service):
    ai_port = free_port()
    ai = start_service("ai-processing", PORT=str(ai_port))
    ds = start_service("decision-simulation")
    rm = start_service("request-management", AI_PROCESSING_SERVICE_URL=f"http://127.0.0.1:{ai_port}",
                       DECISION_SIMULATION_SERVICE_URL=ds.url, PENDING_RETRY_INTERVAL="200ms",
                       STEP_TIMEOUT="1s")
    resident = bearer(token("resident-7", ["resident"], unit="701"))
    ids, statuses, codes = [], [], []
    for i in range(12):
        if i == 4:
            ai.proc.kill()  # mid-run: no goodbye
            ai.proc.wait()
        r = requests.post(rm.url + "/api/v1/requests", headers=resident, timeout=10,
                          json={"message": f"The radiator in room {i} is cold, no heat"})
        ids.append(r.json()["id"])
        statuses.append(r.json()["status"])
        codes.append(r.status_code)
    # Before the outage each is answered in full (201); during it each is stored as pending, and
    # why (202).
    assert statuses[:4] == ["options_ready"] * 4 and codes[:4] == [201] * 4
    assert statuses[4:] == ["pending"] * 8 and codes[4:] == [202] * 8
    pending = requests.get(f"{rm.url}/api/v1/requests/{ids[5]}", headers=resident, timeout=5).json()
    assert "AI Processing" in pending["pending_reason"] and pending["retry_at"]
    start_service("ai-processing", PORT=str(ai_port))
    for request_id in ids:
        done = wait_for_status(rm.url, request_id, resident, "options_ready", timeout=30)
        assert done["decision"]["recommended_option"]
        assert done["pending_reason"] is None and done["retry_at"] is None
    listed = requests.get(rm.url + "/api/v1/requests?limit=100", headers=STAFF, timeout=5).json()
    assert sorted(x["id"] for x in listed["requests"]) == sorted(ids)  # none lost, none twice
    history = requests.get(f"{rm.url}/api/v1/requests/{ids[-1]}", headers=resident, timeout=5).json()["history"]
    assert [h["status"] for h in history] == ["submitted", "pending", "classified", "options_ready"]


def select_recommended(url, headers):
    """A resident's request, and staff choosing its decision's recommendation."""
    req = requests.post(url + "/api/v1/requests", headers=headers, json={"message": LEAK}, timeout=20).json()
    assert req["status"] == "options_ready", req
    r = requests.post(f"{url}/api/v1/requests/{req['id']}/select-option", headers=STAFF, timeout=5,
                      json={"option_id": req["decision"]["recommended_option"]})
    assert r.status_code == 200, r.text
    return req["id"]


def test_an_external_system_that_fails_then_recovers_is_retried(start_service, stand_in):
    stand_in.failures = 2
    apartment = start_apartment(start_service, MAINTENANCE_SYSTEM_URL=stand_in.url, EXECUTION_MAX_ATTEMPTS="4")
    resident = bearer(token("resident-9", ["resident"], unit="901"))
    request_id = select_recommended(apartment.url, resident)
    done = wait_for_status(apartment.url, request_id, resident, "resolved")
    assert done["execution"]["attempts"] == 3
    assert done["resolution"] == "executed: WO-1"
    assert [c["path"] for c in stand_in.calls] == ["/work-orders"] * 3
    assert len({c["key"] for c in stand_in.calls}) == 1  # one Idempotency-Key for every attempt
    assert stand_in.calls[0]["body"]["request_id"] == request_id
    execution = requests.get(f"{apartment.url}/api/v1/requests/{request_id}/execution", headers=resident,
                             timeout=5).json()
    assert [a["outcome"] for a in execution["attempts"]] == ["failed", "failed", "succeeded"]
    assert [a["status"] for a in execution["attempts"]] == [503, 503, 201]


@pytest.fixture(scope="module")
def broker():
    base = tempfile.mkdtemp(prefix="svckit-rabbitmq-")  # pytest's tmp dirs are closed to the rabbitmq user
    os.chmod(base, 0o755)
    b = Broker(base, 5686).start()
    yield b
    b.stop()
    shutil.rmtree(base, ignore_errors=True)


def dlq(broker, *args):
    return subprocess.run([str(BIN_DIR / "svckit-dlq"), "--bus", broker.url, *args],
                          capture_output=True, text=True, timeout=60)


def test_dead_letters_replay_with_svckit_dlq_and_duplicates_execute_once(start_service, stand_in, broker):
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    channel = connection.channel()
    for group in ("execution", "request-management"):
        channel.queue_delete(group)
        channel.queue_delete(group + ".dlq")
    stand_in.down = True
    apartment = start_apartment(start_service, BUS_URL=broker.url, MAINTENANCE_SYSTEM_URL=stand_in.url,
                                EXECUTION_MAX_ATTEMPTS="2")
    resident = bearer(token("resident-3", ["resident"], unit="303"))
    request_id = select_recommended(apartment.url, resident)
    failed = wait_for_status(apartment.url, request_id, resident, "failed")
    assert failed["execution"]["status"] == "failed" and failed["execution"]["attempts"] == 2
    assert "503" in failed["history"][-1]["reason"]

    listed = until(lambda: [json.loads(line) for line in dlq(broker, "list", "execution").stdout.splitlines()],
                   20, "the dead letter")
    assert len(listed) == 1 and listed[0]["type"] == "apartment.option.selected"
    event_id = listed[0]["id"]
    dead = json.loads(dlq(broker, "show", "execution", event_id).stdout)

    stand_in.down = False
    assert dlq(broker, "replay", "execution", event_id).returncode == 0
    done = wait_for_status(apartment.url, request_id, resident, "resolved")
    assert done["resolution"] == "executed: WO-1" and done["execution"]["attempts"] == 3
    assert len(stand_in.orders) == 1

    # The same event delivered again, twice: the execution is done, nothing is called again.
    calls = len(stand_in.calls)
    event = dead.get("event", dead)
    for _ in range(2):
        channel.basic_publish("svckit.events", "apartment.option.selected", json.dumps(event).encode(),
                              pika.BasicProperties(content_type="application/cloudevents+json", delivery_mode=2))
    connection.close()

    def redelivered_twice():
        return len([l for l in apartment.logs() if l.get("message") == "execution already done"]) >= 2
    until(redelivered_twice, 20, "both duplicates to be handled")
    assert len(stand_in.calls) == calls and len(stand_in.orders) == 1
    again = requests.get(f"{apartment.url}/api/v1/requests/{request_id}", headers=resident, timeout=5).json()
    assert again["status"] == "resolved" and again["execution"]["attempts"] == 3


@pytest.mark.parametrize("method,path,body,status", [
    ("post", "/api/v1/requests", {}, 422),
    ("post", "/api/v1/requests", {"message": ""}, 422),
    ("post", "/api/v1/requests", {"message": "x" * 4001}, 422),
    ("post", "/api/v1/requests", {"message": ["a"]}, 422),
    ("post", "/api/v1/requests", {"message": "leak", "unit": "999"}, 422),  # not the token's unit
    ("post", "/api/v1/requests", {"message": "leak", "resident_id": "someone-else"}, 403),
    ("post", "/api/v1/requests", "not json", 400),
    ("get", "/api/v1/requests/no-such-id", None, 404),
    ("get", "/api/v1/requests/%00%ff", None, 404),
    ("get", "/api/v1/requests?status=lost", None, 403),
    ("get", "/api/v1/residents/resident-5/requests?status=lost", None, 422),
    ("get", "/api/v1/residents/resident-5/requests?limit=0", None, 422),
    ("get", "/api/v1/residents/resident-5/requests?page=-1", None, 422),
    ("post", "/api/v1/requests/no-such-id/select-option", {"option_id": "notice"}, 404),
    ("post", "/api/v1/requests/no-such-id/select-option", {"option_id": "teleport"}, 422),
    ("post", "/api/v1/requests/no-such-id/select-option", {}, 422),
    ("put", "/api/v1/requests/no-such-id", {"status": "resolved"}, 403),
    ("post", "/api/v1/requests/no-such-id/resolve", {"note": "x"}, 403),
    ("get", "/api/v1/executions/no-such-id", None, 403),
    ("post", "/api/v1/execute", {"execution_id": "x"}, 403),
    ("post", "/api/v1/notify", {"recipient": "r"}, 403),
])
def test_hostile_input_as_a_resident(method, path, body, status, apartment_for_hostile):
    apartment = apartment_for_hostile
    resident = bearer(token("resident-5", ["resident"], unit="505"))
    kwargs = {"data": body, "headers": {**resident, "Content-Type": "application/json"}} if isinstance(body, str) \
        else {"json": body, "headers": resident}
    r = getattr(requests, method)(apartment.url + path, timeout=10, **{k: v for k, v in kwargs.items()
                                                                      if v is not None})
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/problem+json")


@pytest.mark.parametrize("method,path,body,status", [
    ("post", "/api/v1/requests", {"message": "leak"}, 422),  # staff name the resident and unit
    ("post", "/api/v1/requests", {"message": "leak", "resident_id": "r-1"}, 422),
    ("get", "/api/v1/requests?status=lost", None, 422),
    ("get", "/api/v1/requests?category=garden", None, 422),
    ("get", "/api/v1/requests?limit=101", None, 422),
    ("put", "/api/v1/requests/no-such-id", {"status": "resolved"}, 404),
    ("put", "/api/v1/requests/no-such-id", {"status": "executing"}, 422),
    ("put", "/api/v1/requests/no-such-id", {"status": "gone"}, 422),
    ("post", "/api/v1/requests/no-such-id/resolve", {"note": ""}, 422),
    ("post", "/api/v1/requests/no-such-id/resolve", {"note": "x" * 2001}, 422),
    ("post", "/api/v1/requests/no-such-id/resolve", {"note": "fine"}, 404),
    ("get", "/api/v1/executions/no-such-id", None, 404),
    ("post", "/api/v1/execute", {"execution_id": "x"}, 422),
    ("post", "/api/v1/execute", {"execution_id": "e", "request_id": "r", "option_id": "notice", "action": "teleport",
                                 "category": "noise", "urgency": "low", "unit": "1", "resident_id": "r"}, 422),
    ("post", "/api/v1/notify", {"recipient": "r", "channel": "pigeon", "subject": "s", "message": "m"}, 422),
    ("post", "/api/v1/notify", {"recipient": "", "channel": "sms", "subject": "s", "message": "m"}, 422),
])
def test_hostile_input_as_staff(method, path, body, status, apartment_for_hostile):
    r = getattr(requests, method)(apartment_for_hostile.url + path, json=body, headers=STAFF, timeout=10)
    assert r.status_code == status, r.text


@pytest.fixture(scope="module")
def apartment_for_hostile(tmp_path_factory):
    """One system for every hostile case (they change nothing), and a check that it still serves."""
    port = free_port()
    self_url = f"http://127.0.0.1:{port}"
    data = tmp_path_factory.mktemp("hostile")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PORT": str(port), "HOST": "127.0.0.1",
           "DATA_DIR": str(data), "SHUTDOWN_DELAY": "0", "THREADS": "2", "JWT_SECRET_KEY": TEST_JWT_SECRET,
           "AI_PROCESSING_SERVICE_URL": self_url, "DECISION_SIMULATION_SERVICE_URL": self_url,
           "EXECUTION_SERVICE_URL": self_url}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    from conftest import Service
    svc = Service("apartment", env)
    svc.wait_ready()
    yield svc
    resident = bearer(token("resident-5", ["resident"], unit="505"))
    r = requests.post(svc.url + "/api/v1/requests", headers=resident, json={"message": LEAK}, timeout=20)
    assert r.status_code == 201, r.text
    listed = requests.get(svc.url + "/api/v1/requests", headers=STAFF, timeout=5).json()
    assert listed["total"] == 1  # nothing the hostile requests sent was stored
    code = svc.stop()
    assert code == 0, svc.stderr[-2000:]
    assert "runtime error:" not in svc.stderr and "ERROR: AddressSanitizer" not in svc.stderr


def test_the_seed_layout_four_processes_over_rabbitmq_behind_apartment_json(start_service, tmp_path, broker):
    """What `BUS_URL=... ./dev.sh run apartment` starts: each service its own process, the events
    between them over RabbitMQ, the gateway routing by services/gateway/config/apartment.json."""
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    channel = connection.channel()
    for group in ("execution", "request-management"):
        channel.queue_delete(group)
        channel.queue_delete(group + ".dlq")
    connection.close()
    common = {"BUS_URL": broker.url}
    ai = start_service("ai-processing", SERVICE_NAME="ai-processing", **common)
    ds = start_service("decision-simulation", SERVICE_NAME="decision-simulation", **common)
    ex = start_service("execution", SERVICE_NAME="execution", **common)
    rm = start_service("request-management", SERVICE_NAME="request-management", AI_PROCESSING_SERVICE_URL=ai.url,
                       DECISION_SIMULATION_SERVICE_URL=ds.url, EXECUTION_SERVICE_URL=ex.url, **common)
    routes = json.loads((pathlib.Path(__file__).parents[2] / "services/gateway/config/apartment.json").read_text())
    for name, svc in {"request-management": rm, "ai-processing": ai, "decision-simulation": ds,
                      "execution": ex, "security": rm}.items():
        routes["upstreams"][name]["targets"] = [svc.url]
    routes["upstreams"]["security"]["health_check"]["path"] = "/ready"  # no sign-in process here
    path = tmp_path / "apartment.json"
    path.write_text(json.dumps(routes))
    gw = start_service("gateway", GATEWAY_ROUTES=str(path))
    until(lambda: requests.get(gw.url + "/ready", timeout=5).status_code == 200, 20, "the gateway's upstreams")
    resident = bearer(token("resident-11", ["resident"], unit="1101"))
    req = requests.post(gw.url + "/api/v1/requests", headers=resident, json={"message": LEAK}, timeout=20).json()
    assert req["status"] == "options_ready", req
    r = requests.post(f"{gw.url}/api/v1/requests/{req['id']}/select-option", headers=STAFF, timeout=5,
                      json={"option_id": req["decision"]["recommended_option"]})
    assert r.status_code == 200, r.text
    done = wait_for_status(gw.url, req["id"], resident, "resolved")
    assert done["execution"]["status"] == "succeeded"
    # The seed's paths of the other three answer through the gateway too.
    assert requests.post(gw.url + "/api/v1/classify", headers=resident, json={"message": "a leak"},
                         timeout=5).json()["category"] == "plumbing"
    assert requests.get(gw.url + "/api/v1/rag/config", headers=resident, timeout=5).json()["documents"] >= 35
    assert requests.get(f"{gw.url}/api/v1/executions/{done['execution']['execution_id']}", headers=STAFF,
                        timeout=5).json()["status"] == "succeeded"
