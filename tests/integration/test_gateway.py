"""The API Gateway (services/gateway) in front of real upstreams: svckit services and a recording
HTTP upstream (Python's http.server, to see exactly what reaches an upstream). Routing, balancing,
health checks and ejection, rewriting, edge auth and identity headers, rate limits, reloads, and
hostile input refused at the edge."""
import hashlib
import http.server
import hmac
import json
import os
import pathlib
import signal
import threading
import time

import pytest
import requests

from conftest import TEST_JWT_SECRET, make_token


class Recorder(http.server.ThreadingHTTPServer):
    """An upstream that answers every request with what it received, and keeps a copy."""

    daemon_threads = True

    def __init__(self, status=200):
        self.seen = []
        self.status = status  # for every path but /ready
        self.ready = True  # /ready: 200, else 503
        self.delay = 0.0
        super().__init__(("127.0.0.1", 0), RecorderHandler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()


class RecorderHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms delayed-ACK stall

    def log_message(self, *args):
        pass

    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/ready":
            payload, status = b'{"status":"UP"}', 200 if self.server.ready else 503
        else:
            time.sleep(self.server.delay)
            seen = {"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                    "header_list": list(self.headers.items()), "body": body.decode("latin-1")}
            self.server.seen.append(seen)
            payload, status = json.dumps({**seen, "upstream": self.server.url}).encode(), self.server.status
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Upstream-Secret", "internal")
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = answer


@pytest.fixture
def recorders():
    made = []

    def make(status=200):
        r = Recorder(status)
        made.append(r)
        return r

    yield make
    for r in made:
        r.shutdown()
        r.server_close()


API_KEY = "gw_0123456789ab_" + "k" * 43


def routes_file(tmp_path, upstreams, routes, **extra):
    path = tmp_path / "routes.json"
    path.write_text(json.dumps({"upstreams": upstreams, "routes": routes, **extra}))
    return path


@pytest.fixture
def gateway(start_service, tmp_path, recorders):
    """A gateway over two recorders (pool "echo") with the routes most tests use."""
    a, b = recorders(), recorders()
    upstreams = {"echo": {"targets": [a.url, b.url], "health_check": {"path": "/ready", "interval_seconds": 0.1},
                          "eject_after_failures": 2, "eject_seconds": 30}}
    routes = [
        {"name": "public", "paths": ["/public"], "upstream": "echo", "auth": "public"},
        {"name": "tasks-v1", "paths": ["/api/v1/tasks"], "methods": ["GET", "POST", "PUT", "DELETE"],
         "upstream": "echo", "auth": "authenticated",
         "request_headers": {"add": {"X-Gateway": "svckit"}, "remove": ["X-Debug"]},
         "response_headers": {"remove": ["X-Upstream-Secret"], "add": {"X-Served-By": "gateway"}}},
        {"name": "tasks-v2", "paths": ["/api/v2/tasks"], "upstream": "echo", "auth": "authenticated",
         "rewrite_prefix": "/internal/tasks"},
        {"name": "admin", "paths": ["/api/v1/admin"], "upstream": "echo", "auth": "permission:admin:write",
         "strip_prefix": True},
        {"name": "limited", "paths": ["/limited"], "upstream": "echo", "auth": "public",
         "rate_limit": {"minute": 3, "by": "ip"}, "max_body_bytes": 16},
    ]
    consumers = [{"name": "ci-bot", "api_key_sha256": hashlib.sha256(API_KEY.encode()).hexdigest(),
                  "roles": ["developer"]}]
    path = routes_file(tmp_path, upstreams, routes, consumers=consumers,
                       cors={"allow_origins": ["https://app.aether.local"]})
    svc = start_service("gateway", GATEWAY_ROUTES=path)
    svc.recorders = (a, b)
    svc.routes_path = path
    svc.upstreams, svc.routes = upstreams, routes
    return svc


USER = {"Authorization": "Bearer " + make_token(sub="user-1", roles=("user",))}
ADMIN = {"Authorization": "Bearer " + make_token(sub="admin-1", roles=("admin",))}


def seen_all(svc):
    return svc.recorders[0].seen + svc.recorders[1].seen


def test_routes_balance_round_robin_and_pass_the_request_on(gateway):
    for i in range(10):
        r = requests.post(gateway.url + f"/api/v1/tasks/{i}?page=2", json={"n": i},
                          headers={**USER, "X-Debug": "1", "X-Request-ID": f"req-gw-{i}"}, timeout=5)
        assert r.status_code == 200, r.text
        got = r.json()
        assert got["method"] == "POST" and got["path"] == f"/api/v1/tasks/{i}?page=2"
        assert json.loads(got["body"]) == {"n": i}
        h = got["headers"]
        assert h["X-Gateway"] == "svckit" and "X-Debug" not in h
        assert h["X-User-ID"] == "user-1" and h["X-User-Roles"] == "user" and h["X-Auth-Method"] == "jwt"
        assert h["X-Request-ID"] == f"req-gw-{i}" and h["traceparent"].startswith("00-")
        assert h["X-Forwarded-For"] == "127.0.0.1" and "Authorization" in h
        assert r.headers["X-Request-ID"] == f"req-gw-{i}"
        assert "X-Upstream-Secret" not in r.headers and r.headers["X-Served-By"] == "gateway"
    a, b = gateway.recorders
    assert len(a.seen) == 5 and len(b.seen) == 5


FORGED = {"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "bank.example",
          "X-Forwarded-Port": "443", "X-Real-IP": "6.6.6.6", "Forwarded": "for=6.6.6.6;proto=https"}


def forwarding_headers(got):
    return sorted((k, v) for k, v in got["header_list"]
                  if k.lower().startswith("x-forwarded-") or k.lower() in ("x-real-ip", "forwarded"))


def test_a_clients_forwarding_headers_never_reach_an_upstream(gateway):
    r = requests.get(gateway.url + "/api/v1/tasks/1", headers={**USER, **FORGED, "Host": "gw.local"}, timeout=5)
    assert r.status_code == 200, r.text
    # One of each, all the gateway's own: the client's address, the scheme and host it used.
    assert forwarding_headers(r.json()) == [("X-Forwarded-For", "127.0.0.1"), ("X-Forwarded-Host", "gw.local"),
                                            ("X-Forwarded-Proto", "http"), ("X-Real-IP", "127.0.0.1")]


def test_a_trusted_proxys_forwarding_headers_pass_on(start_service, recorders, tmp_path):
    echo = recorders()
    path = routes_file(tmp_path, {"echo": {"targets": [echo.url]}},
                       [{"name": "all", "paths": ["/"], "upstream": "echo", "auth": "public"}])
    gw = start_service("gateway", GATEWAY_ROUTES=path, TRUSTED_PROXIES="127.0.0.1")
    r = requests.get(gw.url + "/x", headers={**FORGED, "Host": "gw.local"}, timeout=5)
    assert r.status_code == 200, r.text
    # The proxy's chain is kept and the peer appended; the client is the right-most untrusted.
    assert forwarding_headers(r.json()) == [
        ("Forwarded", "for=6.6.6.6;proto=https"), ("X-Forwarded-For", "6.6.6.6, 127.0.0.1"),
        ("X-Forwarded-Host", "bank.example"), ("X-Forwarded-Port", "443"), ("X-Forwarded-Proto", "https"),
        ("X-Real-IP", "6.6.6.6")]


def test_versions_prefixes_and_rewrites(gateway):
    assert requests.get(gateway.url + "/api/v2/tasks/7", headers=USER, timeout=5).json()["path"] == "/internal/tasks/7"
    assert requests.get(gateway.url + "/api/v1/admin/users", headers=ADMIN, timeout=5).json()["path"] == "/users"
    assert requests.get(gateway.url + "/public", timeout=5).json()["path"] == "/public"
    assert requests.get(gateway.url + "/publicity", timeout=5).status_code == 404  # a prefix is a segment
    assert requests.get(gateway.url + "/nowhere", timeout=5).status_code == 404
    r = requests.patch(gateway.url + "/api/v1/tasks/1", headers=USER, timeout=5)
    assert r.status_code == 405 and "GET" in r.headers["Allow"]
    # The gateway's own probes and metrics are not proxied.
    assert requests.get(gateway.url + "/health", timeout=5).json()["service"] == "gateway"


def test_edge_auth_and_forged_identity(gateway):
    before = len(seen_all(gateway))
    for headers in ({}, {"Authorization": "Bearer not-a-token"},
                    {"Authorization": "Bearer " + make_token(secret="another-secret-" + "x" * 32)},
                    {"X-API-Key": "gw_0123456789ab_" + "z" * 43}):
        r = requests.get(gateway.url + "/api/v1/tasks", headers=headers, timeout=5)
        assert r.status_code == 401, r.text
    assert requests.get(gateway.url + "/api/v1/admin/x", headers=USER, timeout=5).status_code == 403
    assert len(seen_all(gateway)) == before  # refused at the edge: nothing reached an upstream
    forged = {"X-User-ID": "admin-1", "X-User-Roles": "admin", "X-Auth-Method": "jwt",
              "X-Consumer-Username": "root", "X-User-Permissions": "*"}
    h = requests.get(gateway.url + "/public", headers=forged, timeout=5).json()["headers"]
    assert not any(k.startswith(("X-User-", "X-Auth-", "X-Consumer-")) for k in h), h
    h = requests.get(gateway.url + "/api/v1/tasks", headers={**USER, **forged}, timeout=5).json()["headers"]
    assert h["X-User-ID"] == "user-1" and h["X-User-Roles"] == "user" and "X-Consumer-Username" not in h
    # An API key of a configured consumer.
    h = requests.get(gateway.url + "/api/v1/tasks", headers={"X-API-Key": API_KEY}, timeout=5).json()["headers"]
    assert h["X-User-ID"] == "ci-bot" and h["X-Auth-Method"] == "api_key" and h["X-User-Roles"] == "developer"


def test_rate_limits_with_kongs_headers_and_body_limits(gateway):
    answers = [requests.get(gateway.url + "/limited", timeout=5) for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert answers[0].headers["X-RateLimit-Limit-Minute"] == "3"
    assert answers[0].headers["X-RateLimit-Remaining-Minute"] == "2"
    assert answers[0].headers["RateLimit-Limit"] == "3" and int(answers[3].headers["Retry-After"]) >= 1
    assert answers[3].headers["X-RateLimit-Remaining-Minute"] == "0"  # Kong's on the 429 too


def test_hostile_input_is_refused_at_the_edge(gateway):
    import socket
    before = len(seen_all(gateway))
    port = int(gateway.url.rsplit(":", 1)[1])
    for target in ("/public/../api/v1/admin", "/public/%2e%2e/api/v1/admin", "/public/a%2fb",
                   "/public//etc", "/public/%00", "/public/./x", "/public/%2E%2e/x", "/public/a%5Cb",
                   "/public/a\\b", "/public/..", "/public/.", "/public/%2F"):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            status = s.recv(4096).split(b" ")[1]
        assert status == b"400", (target, status)
    r = requests.get(gateway.url + "/public", headers={"X-Big": "a" * 20000}, timeout=5)
    assert r.status_code == 431
    r = requests.post(gateway.url + "/limited", data=b"x" * 17, timeout=5)
    assert r.status_code == 413
    assert len(seen_all(gateway)) == before
    for harmless in ("/public/.well-known", "/public/a..b", "/public/v1.2/x%20y"):  # dots, not segments
        assert requests.get(gateway.url + harmless, timeout=5).status_code != 400, harmless


def test_cors_preflight_and_headers(gateway):
    origin = {"Origin": "https://app.aether.local"}
    r = requests.options(gateway.url + "/api/v1/tasks", headers={**origin, "Access-Control-Request-Method": "POST"},
                         timeout=5)
    assert r.status_code == 204 and r.headers["Access-Control-Allow-Origin"] == "https://app.aether.local"
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    r = requests.get(gateway.url + "/public", headers=origin, timeout=5)
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.aether.local"
    r = requests.get(gateway.url + "/public", headers={"Origin": "https://evil.example"}, timeout=5)
    assert "Access-Control-Allow-Origin" not in r.headers


def wait_metric(svc, line, timeout=5):
    """The /metrics text once it holds `line` (health checks here run every 0.1 s)."""
    deadline = time.monotonic() + timeout
    while line not in (metrics := requests.get(svc.metrics_url, timeout=5).text):
        assert time.monotonic() < deadline, f"{line!r} never showed: {metrics}"
        time.sleep(0.05)
    return metrics


def test_a_failing_target_is_ejected_and_retries_carry_calls(gateway):
    a, b = gateway.recorders
    a.shutdown()
    a.server_close()
    for _ in range(20):
        r = requests.get(gateway.url + "/public", timeout=5)
        assert r.status_code == 200 and r.json()["upstream"] == b.url
    metrics = wait_metric(gateway, f'gateway_target_up{{target="{a.url}",upstream="echo"}} 0')
    assert 'gateway_requests_total{route="public",status="2xx",upstream="echo"} 20' in metrics


def test_a_target_not_ready_gets_no_traffic_until_it_is_again(gateway):
    a, b = gateway.recorders
    a.ready = False  # it still answers requests: only the health check can tell
    wait_metric(gateway, f'gateway_target_up{{target="{a.url}",upstream="echo"}} 0')
    for _ in range(10):
        assert requests.get(gateway.url + "/public", timeout=5).json()["upstream"] == b.url
    a.ready = True
    wait_metric(gateway, f'gateway_target_up{{target="{a.url}",upstream="echo"}} 1')
    served_by = {requests.get(gateway.url + "/public", timeout=5).json()["upstream"] for _ in range(4)}
    assert served_by == {a.url, b.url}


def test_a_post_is_not_retried(gateway):
    a, b = gateway.recorders
    a.status = b.status = 503  # both still pass their health checks: the POST reaches one
    r = requests.post(gateway.url + "/public", data=b"once", timeout=5)
    assert r.status_code == 503
    assert len(seen_all(gateway)) == 1


def test_least_outstanding_prefers_the_idle_target(start_service, tmp_path, recorders):
    slow, fast = recorders(), recorders()
    slow.delay = 0.3
    path = routes_file(tmp_path, {"pool": {"targets": [slow.url, fast.url], "balance": "least_outstanding",
                                           "health_check": False}},
                       [{"name": "all", "paths": ["/"], "upstream": "pool", "auth": "public"}])
    svc = start_service("gateway", GATEWAY_ROUTES=path)
    threads = [threading.Thread(target=lambda: requests.get(svc.url + "/x", timeout=5)) for _ in range(12)]
    for t in threads:
        t.start()
        time.sleep(0.02)
    for t in threads:
        t.join()
    assert len(fast.seen) > len(slow.seen) * 2, (len(fast.seen), len(slow.seen))


REJECTED = "routes file rejected; the previous routes keep serving"


def test_reload_on_change_and_sighup_rejecting_bad_files(gateway):
    path = gateway.routes_path
    assert requests.get(gateway.url + "/fresh", timeout=5).status_code == 404
    routes = gateway.routes + [{"name": "fresh", "paths": ["/fresh"], "upstream": "echo", "auth": "public"}]
    path.write_text(json.dumps({"upstreams": gateway.upstreams, "routes": routes}))
    deadline = time.monotonic() + 10
    while requests.get(gateway.url + "/fresh", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "the edited file was not loaded"
        time.sleep(0.1)
    bad_files = [
        ("{not json", "not valid JSON"),
        (json.dumps({"upstreams": {}, "routes": [{"name": "x", "paths": ["/x"], "upstream": "nope"}]}),
         "no upstream 'nope'"),
        (json.dumps({"upstreams": gateway.upstreams, "routes": routes, "typo": 1}), "unknown member 'typo'"),
    ]
    for bad, reason in bad_files:
        # Each write is seen by the file watch and by SIGHUP; a half-written file may be rejected
        # for another reason first, so wait for this file's own.
        path.write_text(bad)
        gateway.signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while not any(reason in l["error"] for l in gateway.logs(REJECTED)):
            assert time.monotonic() < deadline, f"never rejected for {reason!r}: {gateway.logs(REJECTED)}"
            time.sleep(0.05)
        assert requests.get(gateway.url + "/fresh", timeout=5).status_code == 200


@pytest.mark.parametrize("document, message", [
    ({"routes": []}, "upstreams"),
    ({"upstreams": {"u": {"targets": ["ftp://x"]}}, "routes": []}, "not an http(s) URL"),
    ({"upstreams": {"u": {"targets": ["http://127.0.0.1:1"]}},
      "routes": [{"name": "r", "paths": ["/a/../b"], "upstream": "u"}]}, "not a path prefix"),
    ({"upstreams": {"u": {"targets": ["http://127.0.0.1:1"]}},
      "routes": [{"name": "r", "paths": ["/a"], "upstream": "u", "auth": "maybe"}]}, "auth"),
])
def test_a_bad_routes_file_stops_the_start_with_the_reason(start_service, tmp_path, document, message):
    path = tmp_path / "routes.json"
    path.write_text(json.dumps(document))
    with pytest.raises(RuntimeError) as e:
        start_service("gateway", GATEWAY_ROUTES=path)
    assert "GATEWAY_ROUTES" in str(e.value) and message in str(e.value)


def test_in_front_of_the_task_manager(start_service, tmp_path):
    tasks = start_service("task-manager", DATA_DIR=tmp_path / "tm")
    path = routes_file(tmp_path, {"task-manager": {"targets": [tasks.url]}},
                       [{"name": "tasks", "paths": ["/api/v1/tasks"], "upstream": "task-manager",
                         "auth": "permission:tasks:write"}])
    gw = start_service("gateway", GATEWAY_ROUTES=path)
    r = requests.post(gw.url + "/api/v1/tasks", json={"title": "through the gateway"}, headers=USER, timeout=5)
    assert r.status_code == 201, r.text
    task_id = r.json()["id"]
    r = requests.get(gw.url + f"/api/v1/tasks/{task_id}", headers=USER, timeout=5)
    assert r.status_code == 200 and r.json()["task"]["title"] == "through the gateway"
    assert r.headers["Content-Type"].startswith("application/json")
    r = requests.post(gw.url + "/api/v1/tasks", json={"title": 5}, headers=USER, timeout=5)
    assert r.status_code == 422 and r.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("system", ["aether", "raptorflow", "raptorflow-local", "apartment"])
def test_each_systems_routes_file_loads(start_service, system):
    path = pathlib.Path(os.environ.get("SVCKIT_SOURCE_DIR", ".")) / "services" / "gateway" / "config" / f"{system}.json"
    gw = start_service("gateway", GATEWAY_ROUTES=path, PORT=0)
    line = gw.wait_log("routes loaded")
    assert int(line["routes"]) >= 4


def test_the_local_system_behind_the_gateway(start_service, tmp_path):
    """The main job's shape (./dev.sh run): every AETHER-AI service on 127.0.0.1:8100, the gateway
    in front with services/gateway/config/aether.json."""
    path = pathlib.Path(os.environ.get("SVCKIT_SOURCE_DIR", ".")) / "services" / "gateway" / "config" / "aether.json"
    document = json.loads(path.read_text())
    aether = start_service("aether", GRPC_PORT="0", SECURITY_ADMIN_EMAIL="admin@aether.local",
                           SECURITY_ADMIN_PASSWORD="admin-password-1", SECURITY_BCRYPT_COST="4")
    document["upstreams"]["aether"]["targets"] = [aether.url]  # 8100 in the file; a free port here
    routes = tmp_path / "aether.json"
    routes.write_text(json.dumps(document))
    gw = start_service("gateway", GATEWAY_ROUTES=routes)
    r = requests.post(gw.url + "/api/v1/auth/login", json={"email": "admin@aether.local", "password": "admin-password-1"},
                      timeout=10)
    assert r.status_code == 200, r.text
    token = {"Authorization": "Bearer " + r.json()["access_token"]}
    assert requests.get(gw.url + "/api/v1/tasks", timeout=5).status_code == 401  # refused at the edge
    r = requests.post(gw.url + "/api/v1/tasks", json={"title": "via the gateway"}, headers=token, timeout=5)
    assert r.status_code == 201, r.text
    assert r.headers["X-RateLimit-Limit-Minute"] == "60"
    r = requests.post(gw.url + "/api/v1/ai/chat", json={"message": "hi"},
                      headers=token, timeout=10)
    assert r.status_code == 200, r.text
    # The local system signs with a shared secret: no public key set, said by the service itself.
    r = requests.get(gw.url + "/.well-known/jwks.json", timeout=5)
    assert r.status_code == 404 and "shared secret" in r.json()["detail"], r.text
    # A signed GitHub delivery passes the edge without a token and reaches the hub.
    secret = "gateway-webhook-secret"
    r = requests.post(gw.url + "/api/v1/integrations/connect", headers=token, timeout=10,
                      json={"service": "github", "credentials": {"token": "t", "webhook_secret": secret}})
    assert r.status_code == 201, r.text
    hook = gw.url + "/api/v1/webhooks/" + r.json()["integration_id"]
    body = json.dumps({"ref": "refs/heads/main"}).encode()
    signed = {"Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": "g-1",
              "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}
    r = requests.post(hook, data=body, headers=signed, timeout=10)
    assert r.status_code == 200 and r.json() == {"received": True}, r.text
    r = requests.post(hook, data=body, headers={**signed, "X-Hub-Signature-256": "sha256=" + "0" * 64}, timeout=10)
    assert r.status_code == 401 and "signature" in r.json()["detail"], "the hub's refusal, not the edge's"


def test_the_gateway_keeps_metrics_off_its_public_port(gateway, start_service, tmp_path):
    public = requests.get(gateway.url + "/metrics", timeout=5)
    assert public.status_code == 404 and "gateway_requests_total" not in public.text
    assert "gateway_requests_total" in requests.get(gateway.metrics_url, timeout=5).text
    # Only when told to, and then without a port of its own.
    told = start_service("gateway", GATEWAY_ROUTES=gateway.routes_path, METRICS_PORT="",
                         GATEWAY_PUBLIC_METRICS="true")
    assert told.metrics_port is None
    assert "gateway_requests_total" in requests.get(told.url + "/metrics", timeout=5).text
