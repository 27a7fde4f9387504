"""Trace export (docs/tracing.md): services send their spans over OTLP/HTTP to a stand-in collector
(tests/support/otlp_collector.py); protobuf exports are decoded by OpenTelemetry's own generated
code from npm (tools/npm/decode-otlp.cjs), not by anything of svckit's."""
import json
import pathlib
import subprocess
import sys

import pytest
import requests

from conftest import make_token
from test_lifecycle import run_with_env
from waiting import until  # tests/support

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "support"))
from otlp_collector import Collector  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN}-01"
WRITER = {"Authorization": "Bearer " + make_token(permissions=["tasks:read", "tasks:write"])}


@pytest.fixture
def collector():
    c = Collector().start()
    yield c
    c.stop()


def otel(collector, **extra):
    """A service's OTEL_* settings for `collector`, exporting every 50 ms."""
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "50", **extra}


def decoded(collector, tmp_path):
    """Every export so far, decoded: [(resource attributes, [span, ...]), ...]."""
    files = []
    for i, (path, content_type, body, _) in enumerate(collector.bodies()):
        assert path == "/v1/traces" and content_type == "application/x-protobuf", (path, content_type)
        f = tmp_path / f"export-{i}.bin"
        f.write_bytes(body)
        files.append(str(f))
    if not files:
        return []
    out = subprocess.run(["node", str(ROOT / "tools/npm/decode-otlp.cjs"), *files], capture_output=True,
                         text=True, check=True, timeout=60)
    exports = []
    for line in out.stdout.splitlines():
        for rs in json.loads(line)["resourceSpans"]:
            resource = {a["key"]: a["value"] for a in rs["resource"]["attributes"]}
            spans = [s for ss in rs["scopeSpans"] for s in ss["spans"]]
            exports.append((resource, spans))
    return exports


def spans_of(collector, tmp_path, trace_id=TRACE_ID):
    return [s for _, spans in decoded(collector, tmp_path) for s in spans if s["traceId"] == trace_id]


def attributes(span):
    return {a["key"]: next(iter(a["value"].values())) for a in span.get("attributes", [])}


def one(spans, name):
    found = [s for s in spans if s["name"] == name]
    assert len(found) == 1, (name, [s["name"] for s in spans])
    return found[0]


def test_a_request_its_statements_and_its_event_are_one_trace(start_service, collector, tmp_path):
    # The AETHER-AI system in one process: the Task Manager writes and publishes task.created,
    # Analytics consumes it over the in-process bus.
    svc = start_service("aether", **otel(collector, OTEL_SERVICE_NAME="aether-local",
                                         OTEL_RESOURCE_ATTRIBUTES="deployment.environment=test,team=a%2Cb"))
    r = requests.post(svc.url + "/api/v1/tasks", json={"title": "traced"},
                      headers={**WRITER, "traceparent": TRACEPARENT})
    assert r.status_code == 201
    names = {"POST /api/v1/tasks", "transaction", "task.created publish", "task.created process"}
    until(lambda: names <= {s["name"] for s in spans_of(collector, tmp_path)}, timeout=10)
    spans = spans_of(collector, tmp_path)

    server = one(spans, "POST /api/v1/tasks")
    assert server["kind"] == 2 and server["parentSpanId"] == CALLER_SPAN  # continues the caller
    assert attributes(server) == {"http.request.method": "POST", "url.path": "/api/v1/tasks",
                                  "http.response.status_code": "201", "http.route": "/api/v1/tasks"}
    assert int(server["endTimeUnixNano"]) > int(server["startTimeUnixNano"])
    assert "status" not in server  # unset: a 201
    tx = one(spans, "transaction")
    assert tx["kind"] == 3 and tx["parentSpanId"] == server["spanId"]
    assert attributes(tx)["db.system"] == "sqlite"
    publish = one(spans, "task.created publish")
    assert publish["kind"] == 4 and publish["parentSpanId"] == server["spanId"]
    process = one(spans, "task.created process")
    assert process["kind"] == 5 and process["parentSpanId"] == publish["spanId"]
    assert attributes(process)["messaging.destination.name"] == "task.created"

    resource = next(res for res, s in decoded(collector, tmp_path) if s)
    assert resource["service.name"] == {"stringValue": "aether-local"}
    assert resource["deployment.environment"] == {"stringValue": "test"}
    assert resource["team"] == {"stringValue": "a,b"}  # percent-decoded


def test_a_call_through_the_gateway_is_parent_of_the_upstreams_span(start_service, collector, tmp_path):
    tasks = start_service("task-manager", **otel(collector, OTEL_SERVICE_NAME="task-manager"))
    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps({
        "upstreams": {"tasks": {"targets": [tasks.url]}},
        "routes": [{"name": "tasks", "paths": ["/api/v1/tasks"], "upstream": "tasks", "auth": "authenticated"}]}))
    gateway = start_service("gateway", GATEWAY_ROUTES=routes, **otel(collector, OTEL_SERVICE_NAME="gateway"))
    r = requests.get(gateway.url + "/api/v1/tasks", headers={**WRITER, "traceparent": TRACEPARENT})
    assert r.status_code == 200
    until(lambda: len([s for s in spans_of(collector, tmp_path) if s["kind"] == 2]) >= 2, timeout=10)
    by_service = {}
    for resource, spans in decoded(collector, tmp_path):
        for s in spans:
            if s["traceId"] == TRACE_ID:
                by_service.setdefault(resource["service.name"]["stringValue"], []).append(s)
    # The gateway routes by its own routes file, not the SDK's router: its spans are named by
    # the method alone, as OpenTelemetry's HTTP conventions have it when there is no route.
    [gateway_server] = [s for s in by_service["gateway"] if s["kind"] == 2]
    [client] = [s for s in by_service["gateway"] if s["kind"] == 3]
    assert gateway_server["name"] == client["name"] == "GET"
    upstream_server = one(by_service["task-manager"], "GET /api/v1/tasks")
    assert gateway_server["parentSpanId"] == CALLER_SPAN
    assert client["kind"] == 3 and client["parentSpanId"] == gateway_server["spanId"]
    assert attributes(client)["http.response.status_code"] == "200"
    assert upstream_server["parentSpanId"] == client["spanId"]  # the traceparent the call carried


def test_spans_as_otlp_json(start_service, collector, tmp_path):
    svc = start_service("task-manager", **otel(collector, OTEL_EXPORTER_OTLP_PROTOCOL="http/json"))
    r = requests.get(svc.url + "/api/v1/tasks/no-such-task", headers={**WRITER, "traceparent": TRACEPARENT})
    assert r.status_code == 404
    until(lambda: collector.bodies(), timeout=10)
    path, content_type, body, _ = collector.bodies()[0]
    assert content_type == "application/json"
    span = json.loads(body)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert span["traceId"] == TRACE_ID and span["parentSpanId"] == CALLER_SPAN  # hex, as OTLP/JSON has it
    assert span["name"] == "GET /api/v1/tasks/{id}" and span["kind"] == 2
    assert {"key": "http.response.status_code", "value": {"intValue": "404"}} in span["attributes"]
    assert "status" not in span  # a 4xx is the client's: no error on a server span


def test_the_sampler_decides_and_a_callers_choice_is_followed(start_service, collector, tmp_path):
    svc = start_service("task-manager", **otel(collector, OTEL_TRACES_SAMPLER="parentbased_traceidratio",
                                               OTEL_TRACES_SAMPLER_ARG="0"))
    for _ in range(20):  # traces that start here: ratio 0, none sampled
        assert requests.get(svc.url + "/api/v1/tasks", headers=WRITER).status_code == 200
    unsampled = f"00-{'1' * 32}-{CALLER_SPAN}-00"
    assert requests.get(svc.url + "/api/v1/tasks", headers={**WRITER, "traceparent": unsampled}).status_code == 200
    assert requests.get(svc.url + "/api/v1/tasks", headers={**WRITER, "traceparent": TRACEPARENT}).status_code == 200
    until(lambda: spans_of(collector, tmp_path), timeout=10)
    every = [s for _, spans in decoded(collector, tmp_path) for s in spans]
    assert {s["traceId"] for s in every} == {TRACE_ID}  # only the caller's sampled trace


def test_a_collector_that_is_away_or_slow_costs_spans_not_requests(start_service, collector, tmp_path):
    # Away: a port nobody listens on. Every export fails and is counted; requests are answered.
    away = Collector()
    away_endpoint = away.endpoint
    away.server.server_close()
    svc = start_service("task-manager", OTEL_EXPORTER_OTLP_ENDPOINT=away_endpoint, OTEL_BSP_SCHEDULE_DELAY="20")
    for _ in range(50):
        assert requests.get(svc.url + "/api/v1/tasks", headers=WRITER, timeout=5).status_code == 200
    until(lambda: dropped(svc, "export_failed") >= 50, timeout=10)

    # Slow: each export takes 2 s; a queue of 8 holds what it can and drops the rest.
    collector.delay = 2.0
    slow = start_service("task-manager", **otel(collector, OTEL_BSP_MAX_QUEUE_SIZE="8",
                                                OTEL_BSP_MAX_EXPORT_BATCH_SIZE="4"))
    session = requests.Session()
    for _ in range(300):
        assert session.get(slow.url + "/api/v1/tasks", headers=WRITER, timeout=5).status_code == 200
    assert dropped(slow, "queue_full") >= 300 - 8 - 4 * 10  # far more than the queue and the
    # batches sent meanwhile could take; none of the 300 waited for the collector (timeout=5 s)


def dropped(svc, reason):
    for line in requests.get(svc.url + "/metrics").text.splitlines():
        if line.startswith(f'svckit_trace_spans_dropped_total{{reason="{reason}"}}'):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.parametrize("variable,value", [
    ("OTEL_TRACES_SAMPLER", "sometimes"), ("OTEL_TRACES_SAMPLER_ARG", "2"),
    ("OTEL_TRACES_SAMPLER_ARG", "half"), ("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://collector"),
    ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"), ("OTEL_RESOURCE_ATTRIBUTES", "novalue"),
    ("OTEL_BSP_MAX_QUEUE_SIZE", "0"), ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
])
def test_bad_tracing_settings_stop_start_up(variable, value, tmp_path):
    env = {"PORT": 0, "DATA_DIR": tmp_path, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
           "OTEL_TRACES_SAMPLER": "traceidratio", variable: value}
    result = run_with_env("task-manager", **env)
    assert result.returncode == 2, result
    assert variable in result.stderr


def test_other_sdks_settings_do_not_stop_a_service_that_exports_nothing(start_service):
    # A namespace may set OTEL_* for other SDKs (gRPC export, X-Ray's sampler): without an endpoint
    # svckit exports nothing, and starts.
    svc = start_service("task-manager", OTEL_EXPORTER_OTLP_PROTOCOL="grpc", OTEL_TRACES_SAMPLER="xray")
    assert requests.get(svc.url + "/api/v1/tasks", headers=WRITER).status_code == 200
    svc.wait_log("the sampler setting is ignored: no spans are exported here")


def test_headers_are_sent_and_never_echoed(start_service, collector, tmp_path):
    result = run_with_env("task-manager", PORT=0, DATA_DIR=tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint,
                          OTEL_EXPORTER_OTLP_HEADERS="api-key=s3cr3t-value,broken")
    assert result.returncode == 2 and "OTEL_EXPORTER_OTLP_HEADERS" in result.stderr
    assert "s3cr3t" not in result.stderr + result.stdout
    svc = start_service("task-manager", **otel(collector, OTEL_EXPORTER_OTLP_HEADERS="api-key=s3cr3t%20value"))
    requests.get(svc.url + "/api/v1/tasks", headers={**WRITER, "traceparent": TRACEPARENT})
    until(lambda: collector.bodies(), timeout=10)
    assert collector.bodies()[0][3].get("api-key") == "s3cr3t value"
    assert not any("s3cr3t" in json.dumps(line) for line in svc.logs())


def test_a_span_larger_than_usual_is_encoded_whole(start_service, collector, tmp_path):
    # A path of 2,000 characters: the span is over the encoder's stack room and takes its other way.
    svc = start_service("task-manager", **otel(collector))
    long_id = "x" * 2000
    r = requests.get(svc.url + "/api/v1/tasks/" + long_id, headers={**WRITER, "traceparent": TRACEPARENT})
    assert r.status_code == 404
    until(lambda: spans_of(collector, tmp_path), timeout=10)
    [span] = spans_of(collector, tmp_path)
    assert attributes(span)["url.path"] == "/api/v1/tasks/" + long_id
    assert span["parentSpanId"] == CALLER_SPAN


def test_grpc_calls_are_server_spans(start_service, collector, tmp_path):
    import grpc

    import ai_gateway_pb2 as pb
    import ai_gateway_pb2_grpc as pb_grpc
    svc = start_service("ai-gateway", GRPC_PORT="0", **otel(collector))
    stub = pb_grpc.AIGatewayStub(grpc.insecure_channel(svc.grpc_target))
    md = [("authorization", "Bearer " + make_token(sub="user-1", roles=("user",))), ("traceparent", TRACEPARENT)]
    assert stub.Chat(pb.ChatRequest(message="hello"), metadata=md, timeout=5).model == "local"
    with pytest.raises(grpc.RpcError):
        stub.Chat(pb.ChatRequest(message=""), metadata=md, timeout=5)
    until(lambda: len(spans_of(collector, tmp_path)) >= 2, timeout=10)
    ok, failed = sorted(spans_of(collector, tmp_path), key=lambda s: int(s["startTimeUnixNano"]))
    for span in ok, failed:
        assert span["name"] == "AIGateway/Chat" and span["kind"] == 2 and span["parentSpanId"] == CALLER_SPAN
        assert attributes(span)["rpc.system"] == "grpc"
    assert attributes(ok)["rpc.grpc.status_code"] == "0" and "status" not in ok
    assert attributes(failed)["rpc.grpc.status_code"] == "3"  # INVALID_ARGUMENT
    assert failed["status"] == {"code": 2, "message": "INVALID_ARGUMENT"}
