"""The AI Gateway (seed 000 §4.2.1) over REST (requests) and gRPC (grpcio), with fake OpenAI and
Ollama upstreams started here: models, chat, streaming, the cache, breakers, auth, hostile input,
the standard health service and reflection, metrics and graceful shutdown."""
import http.server
import json
import re
import shutil
import subprocess
import threading
import time

import grpc
import pytest
import requests

import ai_gateway_pb2 as pb
import ai_gateway_pb2_grpc as pb_grpc
import grpc_health_v1_health_pb2 as health_pb
import grpc_health_v1_health_pb2_grpc as health_grpc
import grpc_reflection_v1alpha_reflection_pb2 as reflection_pb
import grpc_reflection_v1alpha_reflection_pb2_grpc as reflection_grpc
from google.protobuf import descriptor_pb2

from conftest import make_token

USER = make_token(sub="user-1", roles=("user",))
ADMIN = make_token(sub="admin-1", roles=("admin",))
GUEST = make_token(sub="guest-1", roles=("guest",))
AI = "/api/v1/ai"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


class FakeModels(http.server.ThreadingHTTPServer):
    """An OpenAI-compatible API (/v1/chat/completions) and Ollama's (/api/chat). `mode`: ok,
    fail (500), garbage, slow (answers after `delay` s)."""

    def __init__(self):
        self.calls = []
        self.mode = "ok"
        self.delay = 1.0
        super().__init__(("127.0.0.1", 0), self.Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, body):
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            self.server.calls.append((self.path, dict(self.headers), body))
            mode = self.server.mode
            if mode == "fail":
                return self.answer(500, {"error": "the model is down"})
            if mode == "garbage":
                return self.answer(200, b"<html>not json</html>")
            if mode == "slow":
                time.sleep(self.server.delay)
            if self.path.startswith("/v1beta/models/"):
                # Gemini's generateContent (ai.google.dev/api/generate-content).
                if self.headers.get("x-goog-api-key") != "gemini-fake":
                    return self.answer(403, {"error": {"code": 403, "status": "PERMISSION_DENIED"}})
                said = body["contents"][-1]["parts"][0]["text"]
                return self.answer(200, {"candidates": [{"content": {"role": "model", "parts": [
                    {"text": "gemini says: "}, {"text": said}]}, "finishReason": "STOP"}],
                    "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 6}})
            if self.path.startswith("/models/"):
                # Hugging Face Inference, text generation (huggingface.co/docs/api-inference).
                if self.headers.get("Authorization") != "Bearer hf-fake":
                    return self.answer(401, {"error": "Authorization header is correct, but the token seems invalid"})
                prompt = body["inputs"]
                said = prompt.rsplit("User: ", 1)[1].removesuffix("\nAssistant:")
                return self.answer(200, [{"generated_text": f" hf says: {said}"}])
            last = body["messages"][-1]["content"]
            if self.path == "/v1/chat/completions":
                if self.headers.get("Authorization") != "Bearer sk-fake":
                    return self.answer(401, {"error": "bad key"})
                return self.answer(200, {"choices": [{"message": {"role": "assistant", "content": f"openai says: {last}"}}],
                                         "usage": {"prompt_tokens": 11, "completion_tokens": 7}})
            if self.path == "/api/chat":
                return self.answer(200, {"message": {"role": "assistant", "content": f"ollama says: {last}"},
                                         "prompt_eval_count": 5, "eval_count": 3, "done": True})
            return self.answer(404, {})


@pytest.fixture
def fake():
    f = FakeModels()
    yield f
    f.shutdown()


def models_setting(fake):
    return json.dumps([
        {"id": "chatgpt", "name": "ChatGPT", "provider": "openai", "base_url": fake.url + "/v1",
         "model": "gpt-4o-mini", "api_key_env": "TEST_OPENAI_KEY", "timeout_ms": 3000},
        {"id": "ollama", "provider": "ollama", "base_url": fake.url, "model": "llama3", "timeout_ms": 3000},
        {"id": "gemini", "provider": "gemini", "base_url": fake.url, "model": "gemini-1.5-flash",
         "api_key_env": "TEST_GEMINI_KEY", "timeout_ms": 3000},
        {"id": "hf", "provider": "huggingface", "base_url": fake.url, "model": "mistralai/Mistral-7B-Instruct-v0.2",
         "api_key_env": "TEST_HF_KEY", "timeout_ms": 3000},
    ])


@pytest.fixture
def gateway(start_service, fake):
    return start_service("ai-gateway", GRPC_PORT="0", AI_MODELS=models_setting(fake), TEST_OPENAI_KEY="sk-fake",
                         TEST_GEMINI_KEY="gemini-fake", TEST_HF_KEY="hf-fake")


def chat(svc, token=USER, **body):
    return requests.post(svc.url + AI + "/chat", json=body, headers=bearer(token), timeout=15)


def metric(svc, name_and_labels):
    for line in requests.get(svc.url + "/metrics", timeout=5).text.splitlines():
        if line.startswith(name_and_labels + " "):
            return float(line.split()[-1])
    return 0.0


def stub(svc):
    return pb_grpc.AIGatewayStub(grpc.insecure_channel(svc.grpc_target))


# --- REST ----------------------------------------------------------------------------------------

def test_chat_with_the_local_model_and_the_cache(gateway):
    r = chat(gateway, message="hello there", context=[{"role": "user", "content": "hi"}])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "local"
    assert body["response"] == "(local model) You said: hello there (after 1 earlier turns)"
    assert body["tokens"] == {"input": 3, "output": 10}
    assert isinstance(body["latency_ms"], int) and body["cached"] is False
    again = chat(gateway, message="hello there", context=[{"role": "user", "content": "hi"}]).json()
    assert again["cached"] is True and again["response"] == body["response"]
    assert chat(gateway, message="hello there", options={"cache": False}).json()["cached"] is False
    assert metric(gateway, "ai_cache_hits_total") == 1
    assert metric(gateway, 'ai_requests_total{model="local"}') == 3
    assert metric(gateway, 'ai_tokens_total{kind="input",model="local"}') == 3 + 3 + 2
    # Alone, on the in-process bus, nobody subscribes to ai.*: the events are not even built.
    assert metric(gateway, 'bus_messages_published_total{type="ai.request.received"}') == 0


def test_ai_events_reach_analytics_in_the_local_system(start_service):
    svc = start_service("aether", GRPC_PORT="0", SECURITY_ADMIN_EMAIL="a@b.c",
                        SECURITY_ADMIN_PASSWORD="admin-password-1")
    r = chat(svc, message="count me in analytics")
    assert r.status_code == 200, r.text
    stub(svc).Chat(pb.ChatRequest(message="and me, over grpc"), metadata=[("authorization", f"Bearer {USER}")],
                   timeout=5)
    developer = make_token(sub="dev-1", roles=("developer",))
    deadline = time.monotonic() + 5
    while True:
        usage = requests.get(svc.url + "/api/v1/analytics/usage", headers=bearer(developer), timeout=5).json()["usage"]
        counts = {u["metric"]: u.get("count", u.get("value")) for u in usage}
        if counts.get("ai.request.received") == 2 and counts.get("ai.response.generated") == 2:
            break
        assert time.monotonic() < deadline, usage
        time.sleep(0.05)
    assert metric(svc, 'bus_messages_published_total{type="ai.response.generated"}') == 2


def test_models_switch_and_who_may_do_what(gateway):
    models = requests.get(gateway.url + AI + "/models", headers=bearer(USER), timeout=5).json()
    assert models["current_model"] == "local"
    assert [(m["id"], m["provider"], m["status"]) for m in models["models"]] == [
        ("local", "local", "available"), ("chatgpt", "openai", "available"), ("ollama", "ollama", "available"),
        ("gemini", "gemini", "available"), ("hf", "huggingface", "available")]
    assert requests.post(gateway.url + AI + "/switch", json={"model": "ollama"}, headers=bearer(USER),
                         timeout=5).status_code == 403
    r = requests.post(gateway.url + AI + "/switch", json={"model": "ollama"}, headers=bearer(ADMIN), timeout=5)
    assert r.status_code == 200 and r.json() == {"current_model": "ollama", "status": "switched"}
    assert chat(gateway, message="who answers?").json()["model"] == "ollama"
    r = requests.post(gateway.url + AI + "/switch", json={"model": "nope"}, headers=bearer(ADMIN), timeout=5)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "model"
    assert chat(gateway, token=GUEST, message="x").status_code == 403
    assert requests.post(gateway.url + AI + "/chat", json={"message": "x"}, timeout=5).status_code == 401
    status = requests.get(gateway.url + AI + "/models/chatgpt", headers=bearer(USER), timeout=5).json()
    assert status["circuit_state"] == "closed" and status["current"] is False


def test_openai_and_ollama_providers_get_what_they_expect(gateway, fake):
    r = chat(gateway, model="chatgpt", message="hi", context=[{"role": "system", "content": "be brief"}],
             options={"temperature": 0.2, "max_tokens": 50}, )
    assert r.status_code == 200, r.text
    assert r.json()["response"] == "openai says: hi"
    assert r.json()["tokens"] == {"input": 11, "output": 7}
    path, headers, sent = fake.calls[-1]
    assert path == "/v1/chat/completions"
    assert sent["model"] == "gpt-4o-mini" and sent["stream"] is False
    assert sent["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert sent["temperature"] == 0.2 and sent["max_tokens"] == 50
    assert headers["Authorization"] == "Bearer sk-fake"
    assert headers["X-Request-ID"] == r.headers["X-Request-ID"]
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]", headers["traceparent"])

    r = chat(gateway, model="ollama", message="hey", options={"max_tokens": 9, "stop": "\n"})
    assert r.json()["response"] == "ollama says: hey" and r.json()["tokens"] == {"input": 5, "output": 3}
    path, _, sent = fake.calls[-1]
    assert path == "/api/chat" and sent["model"] == "llama3"
    assert sent["options"] == {"num_predict": 9, "stop": ["\n"]}


def test_gemini_and_hugging_face_get_their_documented_wire_formats(gateway, fake):
    r = chat(gateway, model="gemini", message="hi", options={"temperature": 0.3, "max_tokens": 40, "stop": "END"},
             context=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "before"},
                      {"role": "assistant", "content": "earlier answer"}])
    assert r.status_code == 200, r.text
    assert r.json()["response"] == "gemini says: hi" and r.json()["tokens"] == {"input": 4, "output": 6}
    path, headers, sent = fake.calls[-1]
    assert path == "/v1beta/models/gemini-1.5-flash:generateContent"
    assert "Authorization" not in headers  # the key goes in x-goog-api-key
    assert sent["systemInstruction"] == {"parts": [{"text": "be brief"}]}
    assert sent["contents"] == [{"role": "user", "parts": [{"text": "before"}]},
                                {"role": "model", "parts": [{"text": "earlier answer"}]},
                                {"role": "user", "parts": [{"text": "hi"}]}]
    assert sent["generationConfig"] == {"temperature": 0.3, "maxOutputTokens": 40, "stopSequences": ["END"]}

    r = chat(gateway, model="hf", message="hey", options={"temperature": 0, "max_tokens": 20},
             context=[{"role": "system", "content": "be brief"}])
    assert r.status_code == 200, r.text
    assert r.json()["response"] == " hf says: hey"
    path, headers, sent = fake.calls[-1]
    assert path == "/models/mistralai/Mistral-7B-Instruct-v0.2"
    assert headers["Authorization"] == "Bearer hf-fake"
    assert sent["inputs"] == "System: be brief\nUser: hey\nAssistant:"
    assert sent["parameters"] == {"return_full_text": False, "max_new_tokens": 20, "do_sample": False}
    assert sent["options"] == {"wait_for_model": True}

    # An answer in neither shape is the provider's failure (502), not the gateway's (500).
    fake.mode = "garbage"
    for model in ("gemini", "hf"):
        r = chat(gateway, model=model, message="x", options={"cache": "false"})
        assert r.status_code == 502, (model, r.text)


def test_a_failing_model_trips_its_breaker_and_its_status_says_so(gateway, fake):
    fake.mode = "fail"
    statuses = [chat(gateway, model="chatgpt", message=f"q{i}").status_code for i in range(7)]
    assert set(statuses) <= {502, 503} and statuses[-1] == 503, statuses
    calls = len(fake.calls)
    refused = chat(gateway, model="chatgpt", message="again")
    assert refused.status_code == 503 and refused.headers.get("Retry-After")
    assert len(fake.calls) == calls, "an open breaker does not call the model"
    models = {m["id"]: m["status"] for m in
              requests.get(gateway.url + AI + "/models", headers=bearer(USER), timeout=5).json()["models"]}
    assert models == {"local": "available", "chatgpt": "unavailable", "ollama": "available", "gemini": "available",
                      "hf": "available"}
    status = stub(gateway).GetModelStatus(pb.ModelStatusRequest(model="chatgpt"),
                                          metadata=[("authorization", f"Bearer {USER}")], timeout=5)
    assert status.circuit_state == "open" and status.status == "unavailable"
    assert chat(gateway, model="local", message="still here").status_code == 200
    fake.mode = "garbage"
    assert chat(gateway, model="ollama", message="x").status_code == 502


@pytest.mark.parametrize("body,field", [
    ({}, "message"),
    ({"message": ""}, "message"),
    ({"message": 5}, "message"),
    ({"message": "x" * 40000}, "message"),
    ({"message": "x", "model": 7}, "model"),
    ({"message": "x", "model": "gpt-9"}, "model"),
    ({"message": "x", "context": "hi"}, "context"),
    ({"message": "x", "context": [{"role": "user"}]}, "context[0].content"),
    ({"message": "x", "context": [{"role": "root", "content": "x"}]}, "context[0].role"),
    ({"message": "x", "context": [{"role": "user", "content": "x"}] * 51}, "context"),
    ({"message": "x", "options": {"temperature": 9}}, "options.temperature"),
    ({"message": "x", "options": {"rm -rf": "1"}}, "options.rm -rf"),
    ({"message": "x", "options": {"temperature": [1]}}, "options.temperature"),
])
def test_bad_questions_are_422_naming_the_field(gateway, body, field):
    r = chat(gateway, **body)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field


def test_hostile_bodies_are_refused_and_serving_goes_on(gateway):
    h = {**bearer(USER), "Content-Type": "application/json"}
    assert requests.post(gateway.url + AI + "/chat", data=b"{not json", headers=h, timeout=5).status_code == 400
    assert requests.post(gateway.url + AI + "/chat", data=b"[1,2]", headers=h, timeout=5).status_code == 422
    assert requests.post(gateway.url + AI + "/chat", data=b"message=x", timeout=5,
                         headers={**bearer(USER), "Content-Type": "text/plain"}).status_code == 415
    big = json.dumps({"message": "x" * (2 << 20)}).encode()
    assert requests.post(gateway.url + AI + "/chat", data=big, headers=h, timeout=10).status_code == 413
    assert chat(gateway, message="still serving").status_code == 200


# --- gRPC ----------------------------------------------------------------------------------------

def test_grpc_chat_with_and_without_valid_tokens(gateway):
    s = stub(gateway)
    reply = s.Chat(pb.ChatRequest(message="hello over grpc"),
                   metadata=[("authorization", f"Bearer {USER}"), ("x-request-id", "grpc-req-1")], timeout=5)
    assert reply.response == "(local model) You said: hello over grpc"
    assert reply.model == "local" and reply.tokens.input == 3 and reply.tokens.output == 7
    gateway.wait_log("rpc", method="/AIGateway/Chat", request_id="grpc-req-1")
    with pytest.raises(grpc.RpcError) as failed:  # a failing call says its request id
        s.Chat(pb.ChatRequest(message=""), metadata=[("authorization", f"Bearer {USER}")], timeout=5)
    assert len(dict(failed.value.trailing_metadata())["x-request-id"]) == 32
    for metadata, code in [([], grpc.StatusCode.UNAUTHENTICATED),
                           ([("authorization", "Bearer forged.token.here")], grpc.StatusCode.UNAUTHENTICATED),
                           ([("authorization", f"Bearer {make_token(secret='x' * 40)}")], grpc.StatusCode.UNAUTHENTICATED),
                           ([("authorization", f"Bearer {GUEST}")], grpc.StatusCode.PERMISSION_DENIED)]:
        with pytest.raises(grpc.RpcError) as e:
            s.Chat(pb.ChatRequest(message="x"), metadata=metadata, timeout=5)
        assert e.value.code() == code, metadata
    md = [("authorization", f"Bearer {USER}")]
    for bad in [pb.ChatRequest(message=""), pb.ChatRequest(message="x", model="gpt-9"),
                pb.ChatRequest(message="x", options={"temperature": "hot"}),
                pb.ChatRequest(message="x", context=[pb.ContextMessage(role="root", content="x")])]:
        with pytest.raises(grpc.RpcError) as e:
            s.Chat(bad, metadata=md, timeout=5)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, bad
    # Bytes that are no ChatRequest at all.
    raw = grpc.insecure_channel(gateway.grpc_target).unary_unary("/AIGateway/Chat")
    with pytest.raises(grpc.RpcError) as e:
        raw(b"\xff\xff\xff\xff\x0f", metadata=md, timeout=5)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "ChatRequest" in e.value.details()
    # A message over the 4 MiB limit.
    with pytest.raises(grpc.RpcError) as e:
        s.Chat(pb.ChatRequest(message="x" * (5 << 20)), metadata=md, timeout=5)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert s.Chat(pb.ChatRequest(message="still serving"), metadata=md, timeout=5).model == "local"


def test_grpc_calls_to_http_models_and_their_deadline(gateway, fake):
    s = stub(gateway)
    md = [("authorization", f"Bearer {USER}")]
    reply = s.Chat(pb.ChatRequest(model="chatgpt", message="via grpc", options={"temperature": "0.5"}),
                   metadata=md, timeout=5)
    assert reply.response == "openai says: via grpc" and reply.tokens.input == 11
    assert fake.calls[-1][2]["temperature"] == 0.5
    fake.mode, fake.delay = "slow", 2.0
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as e:
        s.Chat(pb.ChatRequest(model="ollama", message="slow one"), metadata=md, timeout=0.3)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 1.5


def test_grpc_stream_chat_sends_the_answer_in_pieces(gateway):
    md = [("authorization", f"Bearer {USER}")]
    message = " ".join(f"word{i}" for i in range(40))
    pieces = list(stub(gateway).StreamChat(pb.ChatRequest(message=message), metadata=md, timeout=5))
    whole = stub(gateway).Chat(pb.ChatRequest(message=message, options={"cache": "false"}), metadata=md, timeout=5)
    assert len(pieces) > 3
    assert "".join(p.response for p in pieces) == whole.response
    assert all(p.model == "local" for p in pieces)
    assert pieces[-1].tokens.output == whole.tokens.output and pieces[0].tokens.output == 0
    with pytest.raises(grpc.RpcError) as e:
        list(stub(gateway).StreamChat(pb.ChatRequest(message="x"), timeout=5))
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_grpc_list_models_and_model_status(gateway):
    md = [("authorization", f"Bearer {USER}")]
    listed = stub(gateway).ListModels(pb.ListModelsRequest(), metadata=md, timeout=5)
    assert [m.id for m in listed.models] == ["local", "chatgpt", "ollama", "gemini", "hf"]
    assert listed.current_model == "local"
    status = stub(gateway).GetModelStatus(pb.ModelStatusRequest(model="local"), metadata=md, timeout=5)
    assert (status.status, status.circuit_state, status.current) == ("available", "closed", True)
    with pytest.raises(grpc.RpcError) as e:
        stub(gateway).GetModelStatus(pb.ModelStatusRequest(model="nope"), metadata=md, timeout=5)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_the_standard_health_service_follows_readiness(gateway):
    health = health_grpc.HealthStub(grpc.insecure_channel(gateway.grpc_target))
    serving = health_pb.HealthCheckResponse.SERVING
    assert health.Check(health_pb.HealthCheckRequest(), timeout=5).status == serving
    assert health.Check(health_pb.HealthCheckRequest(service="AIGateway"), timeout=5).status == serving
    with pytest.raises(grpc.RpcError) as e:
        health.Check(health_pb.HealthCheckRequest(service="NoSuchService"), timeout=5)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    watch = health.Watch(health_pb.HealthCheckRequest(service=""), timeout=10)
    assert next(watch).status == serving
    gateway.signal()  # readiness goes OUT_OF_SERVICE at once, and the watch says so
    assert next(watch).status == health_pb.HealthCheckResponse.NOT_SERVING
    assert gateway.proc.wait(timeout=10) == 0, "the watch did not hold up the drain"


def test_reflection_describes_the_services(gateway):
    info = reflection_grpc.ServerReflectionStub(grpc.insecure_channel(gateway.grpc_target)).ServerReflectionInfo
    answers = list(info(iter([reflection_pb.ServerReflectionRequest(list_services=""),
                              reflection_pb.ServerReflectionRequest(file_containing_symbol="AIGateway")]), timeout=5))
    names = {s.name for s in answers[0].list_services_response.service}
    assert {"AIGateway", "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= names
    files = [descriptor_pb2.FileDescriptorProto.FromString(b)
             for b in answers[1].file_descriptor_response.file_descriptor_proto]
    service = next(s for f in files for s in f.service if s.name == "AIGateway")
    assert [(m.name, m.server_streaming) for m in service.method] == [
        ("Chat", False), ("StreamChat", True), ("ListModels", False), ("GetModelStatus", False)]


def test_grpc_metrics_have_the_names_operators_know_and_pass_promtool(gateway):
    md = [("authorization", f"Bearer {USER}")]
    stub(gateway).Chat(pb.ChatRequest(message="count me"), metadata=md, timeout=5)
    with pytest.raises(grpc.RpcError):
        stub(gateway).Chat(pb.ChatRequest(message=""), metadata=md, timeout=5)
    labels = 'grpc_method="Chat",grpc_service="AIGateway",grpc_type="unary"'
    assert metric(gateway, f"grpc_server_started_total{{{labels}}}") == 2
    assert metric(gateway, f'grpc_server_handled_total{{grpc_code="OK",{labels}}}') == 1
    assert metric(gateway, f'grpc_server_handled_total{{grpc_code="INVALID_ARGUMENT",{labels}}}') == 1
    assert metric(gateway, f"grpc_server_handling_seconds_count{{{labels}}}") == 2
    text = requests.get(gateway.url + "/metrics", timeout=5).text
    check = subprocess.run([shutil.which("promtool"), "check", "metrics"], input=text, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    line = gateway.wait_log("rpc", method="/AIGateway/Chat", grpc_code="OK")
    assert line["user_id"] == "user-1" and line["duration_ms"] >= 0


def test_a_call_in_flight_finishes_during_a_graceful_shutdown(start_service, fake):
    svc = start_service("ai-gateway", GRPC_PORT="0", AI_MODELS=models_setting(fake), SHUTDOWN_DELAY="0",
                        DRAIN_TIMEOUT="5s")
    fake.mode, fake.delay = "slow", 0.8
    result = {}

    def slow_call():
        try:
            result["reply"] = stub(svc).Chat(pb.ChatRequest(model="ollama", message="in flight"),
                                             metadata=[("authorization", f"Bearer {USER}")], timeout=10)
        except grpc.RpcError as e:
            result["error"] = e

    caller = threading.Thread(target=slow_call)
    caller.start()
    deadline = time.monotonic() + 5
    while not fake.calls:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    svc.signal()
    caller.join(timeout=10)
    assert "reply" in result, result.get("error")
    assert result["reply"].response == "ollama says: in flight"
    assert svc.proc.wait(timeout=10) == 0
    svc.wait_log("gRPC drained")


def test_replicas_share_answers_through_redis_and_ask_the_model_when_it_is_away(start_service, fake,
                                                                                redis_server, tmp_path):
    replicas = [start_service("ai-gateway", GRPC_PORT="0", AI_MODELS=models_setting(fake),
                              TEST_OPENAI_KEY="sk-fake", REDIS_URL=redis_server.url,
                              DATA_DIR=tmp_path / f"r{i}") for i in range(2)]
    first = chat(replicas[0], model="chatgpt", message="what is svckit?").json()
    assert first["cached"] is False and len(fake.calls) == 1
    second = chat(replicas[1], model="chatgpt", message="what is svckit?").json()
    assert second["cached"] is True and second["response"] == first["response"]
    assert len(fake.calls) == 1, "the other replica's answer, not a second paid call"
    assert metric(replicas[1], "ai_shared_cache_hits_total") == 1
    other = chat(replicas[1], model="chatgpt", message="what is svckit? (another question)").json()
    assert other["cached"] is False and len(fake.calls) == 2

    redis_server.kill()
    started = time.monotonic()
    away = chat(replicas[0], model="chatgpt", message="asked while redis is away")
    assert away.status_code == 200 and away.json()["cached"] is False
    assert time.monotonic() - started < 2.0
    assert len(fake.calls) == 3
