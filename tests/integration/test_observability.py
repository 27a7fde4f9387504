"""Probes, /metrics through promtool, JSON logs, request ids and trace context."""
import re
import shutil
import subprocess

import pytest
import requests

from conftest import authed

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize("path", ["/health", "/health/live", "/ready", "/health/ready", "/health/startup"])
def test_probes_are_up_when_running(task_manager, path):
    r = requests.get(task_manager.url + path)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "UP"
    assert body["service"] == "task-manager"
    assert isinstance(body["checks"], dict)


def test_readiness_reports_the_database_check(task_manager):
    body = requests.get(task_manager.url + "/ready").json()
    assert body["checks"]["database"]["status"] == "UP"


def test_probes_during_startup(start_service):
    svc = start_service("svckit-testd", wait_ready=False, TESTD_START_DELAY="1500ms")
    assert requests.get(svc.url + "/health").status_code == 200  # alive while starting
    startup = requests.get(svc.url + "/health/startup")
    ready = requests.get(svc.url + "/ready")
    assert startup.status_code == 503 and startup.json()["status"] == "DOWN"
    assert ready.status_code == 503 and ready.json()["status"] == "DOWN"
    svc.wait_ready(timeout=10)
    assert requests.get(svc.url + "/health/startup").status_code == 200


def test_metrics_pass_promtool(task_manager):
    authed.post(task_manager.url + "/api/v1/tasks", json={"title": "m", "priority": "high"})
    authed.get(task_manager.url + "/api/v1/tasks/some-id")
    requests.get(task_manager.url + "/api/v1/nope")
    r = requests.get(task_manager.url + "/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is required"
    check = subprocess.run([promtool, "check", "metrics"], input=r.text, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.strip() == "" and check.stderr.strip() == "", check.stdout + check.stderr


def test_metric_names_and_labels_match_the_instrumentator(task_manager):
    authed.get(task_manager.url + "/api/v1/tasks/abc")  # 404 through a templated route
    authed.get(task_manager.url + "/api/v1/tasks/def")
    requests.get(task_manager.url + "/random/path/1")
    text = requests.get(task_manager.url + "/metrics").text
    assert 'http_requests_total{handler="/api/v1/tasks/{id}",method="GET",status="4xx"} 2' in text
    assert 'http_requests_total{handler="none",method="GET",status="4xx"} 1' in text
    assert "/api/v1/tasks/abc" not in text  # never the raw path
    assert 'http_request_duration_seconds_bucket{handler="/api/v1/tasks/{id}",method="GET",le="0.005"}' in text
    assert 'http_request_size_bytes_count{handler="/api/v1/tasks/{id}"} 2' in text
    assert 'http_response_size_bytes_sum{handler="/api/v1/tasks/{id}"}' in text
    assert 'http_requests_inprogress{handler="/api/v1/tasks/{id}",method="GET"} 0' in text
    assert 'http_requests_errors_total{error_type="not_found",handler="/api/v1/tasks/{id}",method="GET"} 2' in text
    for name in ("process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds",
                 "process_start_time_seconds", "process_max_fds", "process_virtual_memory_bytes"):
        assert re.search(rf"^{name} \d", text, re.M), name


def test_request_id_is_echoed_or_generated(task_manager):
    r = requests.get(task_manager.url + "/health", headers={"X-Request-ID": "req-abc123"})
    assert r.headers["X-Request-ID"] == "req-abc123"
    generated = requests.get(task_manager.url + "/health").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    for insane in ("has space", "x" * 129, "semi;colon", "ünïcode", "<script>"):
        got = requests.get(task_manager.url + "/health", headers={"X-Request-ID": insane.encode()}).headers["X-Request-ID"]
        assert got != insane and re.fullmatch(r"[0-9a-f]{32}", got)


def test_error_body_carries_the_request_id(task_manager):
    r = authed.get(task_manager.url + "/api/v1/tasks/missing", headers={"X-Request-ID": "trace-me-1"})
    assert r.json()["request_id"] == "trace-me-1"


def test_access_log_lines(task_manager):
    authed.get(task_manager.url + "/api/v1/tasks", headers={"X-Request-ID": "log-line-1", "traceparent": TRACEPARENT})
    line = task_manager.wait_log("request", request_id="log-line-1")
    assert line["level"] == "INFO"
    assert line["service"] == "task-manager"
    assert line["method"] == "GET" and line["path"] == "/api/v1/tasks" and line["status"] == 200
    assert isinstance(line["duration_ms"], (int, float))
    assert line["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["timestamp"])


def test_traceparent_is_continued_or_restarted(start_service):
    svc = start_service("svckit-testd")
    body = requests.post(svc.url + "/test/echo", data=b"x", headers={"traceparent": TRACEPARENT}).json()
    assert body["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert body["parent_span_id"] == "00f067aa0ba902b7"
    fresh = requests.post(svc.url + "/test/echo", data=b"x", headers={"traceparent": "00-zz-bad-01"}).json()
    assert re.fullmatch(r"[0-9a-f]{32}", fresh["trace_id"]) and fresh["parent_span_id"] == ""


def test_handler_exception_is_a_500_without_detail(start_service):
    svc = start_service("svckit-testd")
    r = requests.get(svc.url + "/test/boom")
    assert r.status_code == 500
    assert "internal detail" not in r.text
    assert r.json()["request_id"] == r.headers["X-Request-ID"]
    line = svc.wait_log("unhandled exception")
    assert "internal detail" in line["detail"]  # the operator sees it in the log
    assert requests.get(svc.url + "/health").status_code == 200


def test_metrics_port_moves_metrics_off_the_service_port(start_service):
    svc = start_service("task-manager", METRICS_PORT="0")
    assert svc.metrics_port and svc.metrics_port != svc.port
    requests.get(svc.url + "/api/v1/nope", timeout=5)
    moved = requests.get(svc.metrics_url, timeout=5)
    assert moved.status_code == 200 and 'handler="none"' in moved.text
    assert requests.get(svc.url + "/metrics", timeout=5).status_code == 404
    # Only /metrics there: the API and the probes stay on PORT.
    base = svc.metrics_url.rsplit("/", 1)[0]
    assert requests.get(base + "/api/v1/tasks", timeout=5).status_code == 404
    assert requests.get(base + "/health", timeout=5).status_code == 404
    assert requests.get(svc.url + "/health", timeout=5).status_code == 200
