"""The examples do what their docs say."""
import time

import grpc
import requests

import ai_gateway_pb2 as ai_pb
import ai_gateway_pb2_grpc as ai_grpc
from conftest import make_token


def test_hello(start_service):
    svc = start_service("hello")
    assert requests.get(svc.url + "/api/v1/hello/world").json() == {"message": "hello, world"}
    assert requests.get(svc.url + "/api/v1/hello/a%20b").json() == {"message": "hello, a b"}
    assert requests.post(svc.url + "/api/v1/echo", json={"text": "hi"}).json() == {"text": "hi"}
    bad = requests.post(svc.url + "/api/v1/echo", json={"text": 1})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "text"
    assert requests.post(svc.url + "/api/v1/echo", data="hi").status_code == 415
    assert requests.get(svc.url + "/ready").json()["service"] == "hello"


def test_notes(start_service):
    svc = start_service("notes")
    created = requests.post(svc.url + "/api/v1/notes", json={"body": "remember the milk"})
    assert created.status_code == 201
    note_id = created.json()["id"]
    assert requests.get(f"{svc.url}/api/v1/notes/{note_id}").json() == {"body": "remember the milk"}
    missing = requests.get(svc.url + "/api/v1/notes/999")
    assert missing.status_code == 404 and missing.headers["Content-Type"] == "application/problem+json"
    assert requests.post(svc.url + "/api/v1/notes", json={"body": ""}).status_code == 422
    assert requests.post(svc.url + "/api/v1/notes", json={"body": "x" * 1001}).status_code == 422
    # Its model is its API: the same rule in /openapi.json.
    doc = requests.get(svc.url + "/openapi.json").json()
    assert doc["components"]["schemas"]["Note"]["properties"]["body"] == \
        {"type": "string", "minLength": 1, "maxLength": 1000}
    assert doc["paths"]["/api/v1/notes/{id}"]["get"]["responses"]["200"]["content"]["application/json"] == \
        {"schema": {"$ref": "#/components/schemas/Note"}}


def test_relay(start_service):
    hello = start_service("hello")
    relay = start_service("relay", RELAY_UPSTREAM=hello.url)
    r = requests.get(relay.url + "/api/v1/relay/hello/world",
                     headers={"X-Request-ID": "relay-test-1", "X-Request-Timeout-Ms": "1500",
                              "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
    assert r.status_code == 200
    assert r.json() == {"upstream": {"message": "hello, world"}, "attempts": 1}
    # The upstream saw the same request id and trace, within the caller's deadline.
    line = hello.wait_log("request", request_id="relay-test-1")
    assert line["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    # The upstream goes away: no answer is a 502 naming it, then the breaker opens and the
    # fallback answers.
    hello.stop()
    statuses = [requests.get(relay.url + "/api/v1/relay/hello/x").status_code for _ in range(8)]
    assert statuses[0] == 502
    after = requests.get(relay.url + "/api/v1/relay/hello/x")
    assert after.status_code == 200 and "fallback" in after.json()["upstream"]["message"]
    assert 'http_client_circuit_breaker_state{upstream="hello"} 1' in requests.get(relay.url + "/metrics").text


def test_worker_in_one_process(start_service):
    """Publisher and consumer in one process on the in-process bus: each event handled once."""
    worker = start_service("worker", WORKER_PUBLISH=200, WORKER_WINDOW=8)
    worker.wait_log("published all", count=200)
    deadline = time.monotonic() + 10
    while requests.get(worker.url + "/api/v1/worker/handled", timeout=5).json() != {"rows": 200, "distinct": 200}:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_grpc_chat(start_service):
    svc = start_service("grpc-chat", GRPC_PORT="0")
    chat = ai_grpc.AIGatewayStub(grpc.insecure_channel(svc.grpc_target)).Chat
    reply = chat(ai_pb.ChatRequest(message="hi there"), metadata=[("authorization", f"Bearer {make_token()}")],
                 timeout=5)
    assert (reply.response, reply.model, reply.tokens.input, reply.tokens.output) == (
        "(local model) You said: hi there", "local", 2, 6)
    try:
        chat(ai_pb.ChatRequest(message="hi"), timeout=5)
        assert False, "no token, no answer"
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.UNAUTHENTICATED
    assert 'grpc_method="Chat"' in requests.get(svc.url + "/metrics", timeout=5).text


def test_counter_replicas_count_together(start_service, redis_server, tmp_path):
    a, b = (start_service("counter", REDIS_URL=redis_server.url, DATA_DIR=tmp_path / n) for n in "ab")
    assert requests.get(a.url + "/api/v1/counters/visits").status_code == 404
    assert requests.post(a.url + "/api/v1/counters/visits").json()["value"] == 1
    assert requests.post(b.url + "/api/v1/counters/visits").json()["value"] == 2
    once = {"Idempotency-Key": "visit-3"}
    assert requests.post(a.url + "/api/v1/counters/visits", headers=once).json()["value"] == 3
    again = requests.post(b.url + "/api/v1/counters/visits", headers=once)
    assert again.json()["value"] == 3 and again.headers["Idempotent-Replayed"] == "true"
    assert requests.get(b.url + "/api/v1/counters/visits").json() == {"name": "visits", "value": 3}
    bad = requests.post(a.url + "/api/v1/counters/" + "x" * 65)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "name"
    assert requests.post(a.url + "/api/v1/counters/a%20b").status_code == 422
    # Several counters read in one batch, on either replica.
    requests.post(b.url + "/api/v1/counters/other")
    many = requests.get(a.url + "/api/v1/counters", params={"names": "visits,other,never"})
    assert many.json() == {"counters": {"visits": 3, "other": 1, "never": None}}, many.text
    for names in ("", "visits,,other", "visits,a b", ",".join(["n"] * 101)):
        bad = requests.get(b.url + "/api/v1/counters", params={"names": names})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "names", (names, bad.text)
