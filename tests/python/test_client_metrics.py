"""svckit.Client against a real svckit service (propagation, timeouts, retries, the breaker,
the GIL released while a call is out) and svckit.metrics (the registry's text format checked by
promtool)."""
import shutil
import socket
import subprocess
import threading
import time

import pytest

import svckit
from svckit import metrics


@pytest.fixture
def testd(start_service):
    return start_service("svckit-testd")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_call_returns_status_headers_and_json_and_carries_ids(testd):
    client = svckit.Client(testd.url)
    r = client.post("/test/echo", json={"hello": "world"}, request_id="req-from-python")
    assert r.status == 200 and r.attempts == 1
    assert r.headers["content-type"].startswith("application/json") and r.header("Content-Type")
    assert r.json()["request_id"] == "req-from-python"
    assert r.headers["x-request-id"] == "req-from-python"
    assert r.json()["bytes"] == len(b'{"hello":"world"}')
    # The request being served gives its id and trace to the calls it makes.
    tokens = (svckit.context.request_id.set("req-served"),
              svckit.context.traceparent.set("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
    try:
        body = client.post("/test/echo", body=b"raw").json()
    finally:
        svckit.context.traceparent.reset(tokens[1])
        svckit.context.request_id.reset(tokens[0])
    assert body["request_id"] == "req-served" and body["bytes"] == 3
    assert body["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert body["parent_span_id"] != "00f067aa0ba902b7"  # our hop is a new span
    # Outside a request: new ids.
    fresh = client.post("/test/echo").json()
    assert len(fresh["request_id"]) == 36 and len(fresh["trace_id"]) == 32


def test_error_statuses_are_answers_not_exceptions(testd):
    client = svckit.Client(testd.url, max_attempts=1)
    r = client.get("/test/boom")
    assert r.status == 500 and "internal detail" not in r.text
    missing = client.get("/nope")
    assert missing.status == 404 and missing.json()["status"] == 404  # problem+json
    text = client.get("/metrics")
    assert text.status == 200
    with pytest.raises(ValueError) as e:
        text.json()
    assert "not JSON" in str(e.value)


def test_a_timeout_is_a_timeout_error(testd):
    client = svckit.Client(testd.url, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(svckit.TimeoutError) as e:
        client.get("/test/slow?ms=3000")
    assert e.value.kind == "timeout" and isinstance(e.value, TimeoutError)
    assert time.monotonic() - started < 2
    with pytest.raises(svckit.TimeoutError):
        svckit.Client(testd.url).get("/test/slow?ms=3000", timeout=0.2)


def test_the_gil_is_released_while_a_call_waits(testd):
    client = svckit.Client(testd.url)
    done = threading.Event()
    result = {}

    def call():
        result["r"] = client.get("/test/slow?ms=500")
        done.set()

    t = threading.Thread(target=call)
    t.start()
    spins = 0
    while not done.is_set():
        spins += 1  # pure Python: runs only if the waiting thread let go of the GIL
    t.join()
    assert result["r"].status == 200 and spins > 10_000


def test_an_unreachable_upstream_is_retried_then_an_upstream_error():
    port = free_port()
    client = svckit.Client(f"http://127.0.0.1:{port}", max_attempts=3, initial_backoff=0.01,
                           breaker_failures=100)
    with pytest.raises(svckit.UpstreamError) as e:
        client.get("/anything")
    assert e.value.kind == "connect" and str(port) in e.value.upstream


def test_the_breaker_opens_after_consecutive_failures():
    client = svckit.Client(f"http://127.0.0.1:{free_port()}", max_attempts=1, breaker_failures=3,
                           breaker_open=30.0)
    for _ in range(3):
        with pytest.raises(svckit.UpstreamError):
            client.get("/x")
    assert client.breaker_state == "open"
    with pytest.raises(svckit.UpstreamError) as e:
        client.get("/x")
    assert e.value.kind == "circuit_open"


def test_bad_calls_are_refused_before_anything_is_sent(testd):
    client = svckit.Client(testd.url)
    for bad in (lambda: client.get("no-leading-slash"),
                lambda: client.get("/a b"),
                lambda: client.get("/x", headers={"X-Evil": "a\r\nInjected: yes"}),
                lambda: client.get("/x", headers={"Bad Name": "v"}),
                lambda: client.request("BREW", "/x"),
                lambda: client.post("/x", json={}, body=b"both"),
                lambda: client.get("/x", timeout=-1),
                lambda: client.post("/x", json={"n": float("nan")}),
                lambda: client.get("/x", request_id="has spaces in it")):
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(TypeError):
        client.post("/x", body=12)
    with pytest.raises(ValueError):
        svckit.Client("not a url")
    with pytest.raises(ValueError):
        svckit.Client(testd.url, max_attempts=0)


def test_metrics_render_in_the_text_format_promtool_accepts():
    registry = metrics.Registry()
    c = registry.counter("legacy_orders_total", "Orders placed.", ["channel"])
    c.labels(channel="web").inc()
    c.labels("api").inc(2.5)
    assert c.labels(channel="web").value == 1
    g = registry.gauge("legacy_queue_depth", "Jobs waiting.")
    g.set(7)
    h = registry.histogram("legacy_job_seconds", "Job time.", ["kind"], buckets=[0.1, 1, 10])
    h.labels(kind="report").observe(0.5)
    http = registry.http_metrics()
    http.started("/api/v1/orders/{id}", "GET")
    http.finished("/api/v1/orders/{id}", "GET", 404, 0.012, 0, 57)
    text = registry.render()
    assert 'legacy_orders_total{channel="web"} 1' in text and 'legacy_orders_total{channel="api"} 2.5' in text
    assert "legacy_queue_depth 7" in text
    assert 'legacy_job_seconds_bucket{kind="report",le="1"} 1' in text
    assert 'http_requests_total{handler="/api/v1/orders/{id}",method="GET",status="4xx"} 1' in text
    assert 'http_requests_errors_total{error_type="not_found",handler="/api/v1/orders/{id}",method="GET"} 1' in text
    assert 'http_response_size_bytes_sum{handler="/api/v1/orders/{id}"} 57' in text
    assert 'http_requests_inprogress{handler="/api/v1/orders/{id}",method="GET"} 0' in text
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian's prometheus) is needed"
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_metric_misuse_is_a_value_error():
    registry = metrics.Registry()
    c = registry.counter("things_total", "Things.", ["kind"])
    for bad in (lambda: c.labels(),                       # a label missing
                lambda: c.labels(kind="a", extra="b"),
                lambda: c.labels("a", kind="b"),
                lambda: c.labels(kind="a").inc(-1),       # counters only go up
                lambda: c.inc(),                          # has labels
                lambda: registry.counter("bad name", "x"),
                lambda: registry.counter("ok_total", "x", ["__reserved"]),
                lambda: registry.gauge("things_total", "same name, other type"),
                lambda: registry.histogram("h_seconds", "x", buckets=[1, 0.5]),
                lambda: registry.histogram("h2_seconds", "x").observe(float("nan"))):
        with pytest.raises(ValueError):
            bad()
    # The same name and type again is the same family.
    registry.counter("things_total", "Things.", ["kind"]).labels(kind="x").inc()
    assert c.labels(kind="x").value == 1


def test_the_default_registry_holds_svckits_own_metrics():
    with svckit.bus.connect("inproc://") as b:
        b.publish("audit.seen", {})
    text = metrics.render()
    assert 'bus_messages_published_total{type="audit.seen"} 1' in text
    assert "process_resident_memory_bytes" in text
