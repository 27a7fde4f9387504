"""The Integration Hub: integrations connected with their credentials kept back, webhooks checked
with GitHub's, Slack's and Discord's real signature schemes (forged, stale and replayed ones
refused, nothing published), and GitHub and Slack called through the resilient client against
local fakes — one of which fails until the breaker opens."""
import hashlib
import hmac
import http.server
import json
import threading
import time

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from conftest import make_token

ADMIN = {"Authorization": "Bearer " + make_token(sub="admin-1", roles=("admin",))}
DEVELOPER = {"Authorization": "Bearer " + make_token(sub="dev-1", roles=("developer",))}
USER = {"Authorization": "Bearer " + make_token(sub="user-1", roles=("user",))}
I = "/api/v1/integrations"
GITHUB_SECRET = "it's a secret to everybody"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


class Fake(http.server.ThreadingHTTPServer):
    """GitHub's and Slack's APIs as far as the hub uses them; `fail` answers 500 to everything."""

    def __init__(self):
        self.calls = []
        self.fail = False
        super().__init__(("127.0.0.1", 0), self.Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def handle_any(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            self.server.calls.append((self.command, self.path, dict(self.headers), body))
            if self.server.fail:
                return self.answer(500, {"message": "down"})
            if self.path.startswith("/user/repos"):
                if self.headers.get("Authorization") != "Bearer gh-token":
                    return self.answer(401, {"message": "Bad credentials"})
                return self.answer(200, [{"full_name": "aether/svckit"}, {"full_name": "aether/monolith"}])
            if self.path == "/chat.postMessage":
                if self.headers.get("Authorization") != "Bearer xoxb-1":
                    return self.answer(200, {"ok": False, "error": "invalid_auth"})
                sent = json.loads(body)
                if sent["channel"] == "#nowhere":
                    return self.answer(200, {"ok": False, "error": "channel_not_found"})
                return self.answer(200, {"ok": True, "ts": "1700000000.000100", "channel": sent["channel"]})
            return self.answer(404, {})

        do_GET = handle_any
        do_POST = handle_any


@pytest.fixture
def fake():
    f = Fake()
    yield f
    f.shutdown()


@pytest.fixture
def hub(start_service, fake, database_url):
    return start_service("integration-hub", **database_url, GITHUB_API_URL=fake.url,
                         SLACK_API_URL=fake.url)


def connect(hub, service, credentials, **config):
    r = requests.post(hub.url + I + "/connect", headers=DEVELOPER, timeout=5,
                      json={"service": service, "credentials": credentials, "config": config})
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "connected"
    return r.json()["integration_id"]


def published(hub, expected=None):
    """integration.webhook.received events published so far. The outbox's relay publishes them
    after the answer: given `expected`, waits (briefly) for that count first."""
    def count():
        text = requests.get(hub.url + "/metrics", timeout=5).text
        for line in text.splitlines():
            if line.startswith('bus_messages_published_total{type="integration.webhook.received"}'):
                return int(float(line.split()[-1]))
        return 0
    deadline = time.monotonic() + 5
    while expected is not None and count() != expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return count()


def published_nothing_more(hub, expected):
    """After refusals: a refused delivery must add no event. An event written to the outbox is
    published within the relay's 200 ms poll (at once when the hub wakes it), so 0.5 s without a
    new one shows none was written; the count alone would pass before the relay had looked."""
    time.sleep(0.5)
    return published(hub) == expected


def test_connect_and_list_never_return_credentials(hub):
    gh = connect(hub, "github", {"token": "gh-token", "webhook_secret": GITHUB_SECRET}, name="org repos")
    connect(hub, "slack", {"bot_token": "xoxb-1", "signing_secret": SLACK_SECRET})
    r = requests.get(hub.url + I + "/", headers=DEVELOPER, timeout=5)
    assert r.status_code == 200
    listed = r.json()["integrations"]
    assert [(i["name"], i["type"], i["status"]) for i in listed] == [
        ("org repos", "github", "connected"), ("slack", "slack", "connected")]
    assert listed[0]["integration_id"] == gh
    assert "gh-token" not in r.text and GITHUB_SECRET not in r.text and "credentials" not in r.text


@pytest.mark.parametrize("body, field", [
    ({"service": "myspace", "credentials": {"token": "x"}}, "service"),
    ({"service": "github"}, "credentials"),
    ({"service": "github", "credentials": {}}, "credentials.token"),
    ({"service": "github", "credentials": {"token": 42}}, "credentials.token"),
    ({"service": "github", "credentials": {"token": "x", "password": "y"}}, "credentials.password"),
    ({"service": "slack", "credentials": {"bot_token": "x"}}, "credentials.signing_secret"),
    ({"service": "discord", "credentials": {"public_key": "not hex"}}, "credentials.public_key"),
    ({"service": "github", "credentials": {"token": "x" * 5000}}, "credentials.token"),
    ({"service": "github", "credentials": {"token": "x"}, "config": {"name": ["a"]}}, "config.name"),
])
def test_bad_connections_are_422_naming_the_field(hub, body, field):
    r = requests.post(hub.url + I + "/connect", headers=DEVELOPER, json=body, timeout=5)
    assert r.status_code == 422, r.text
    assert any(e["field"] == field for e in r.json()["errors"]), r.json()
    assert requests.get(hub.url + I + "/", headers=DEVELOPER).json()["integrations"] == []


def test_who_may_do_what(hub):
    assert requests.get(hub.url + I + "/", timeout=5).status_code == 401
    assert requests.get(hub.url + I + "/", headers=USER, timeout=5).status_code == 403
    r = requests.post(hub.url + I + "/connect", headers=USER, json={"service": "github", "credentials": {"token": "t"}})
    assert r.status_code == 403


def github_headers(body, secret=GITHUB_SECRET, delivery="d-1"):
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": sig, "X-GitHub-Event": "push", "X-GitHub-Delivery": delivery,
            "Content-Type": "application/json"}


def test_github_webhooks_signed_forged_and_replayed(hub):
    gh = connect(hub, "github", {"token": "gh-token", "webhook_secret": GITHUB_SECRET})
    url = f"{hub.url}/api/v1/webhooks/{gh}"
    body = json.dumps({"ref": "refs/heads/main", "commits": [{"id": "abc"}]}).encode()
    r = requests.post(url, data=body, headers=github_headers(body), timeout=5)
    assert r.status_code == 200 and r.json() == {"received": True}
    assert published(hub, 1) == 1
    forged = [
        github_headers(body, secret="wrong secret", delivery="d-2"),
        {**github_headers(body, delivery="d-3"), "X-Hub-Signature-256": "sha256=" + "0" * 64},
        {**github_headers(body, delivery="d-4"), "X-Hub-Signature-256": "sha1=abc"},
        {k: v for k, v in github_headers(body, delivery="d-5").items() if k != "X-Hub-Signature-256"},
    ]
    for headers in forged:
        assert requests.post(url, data=body, headers=headers, timeout=5).status_code == 401
    tampered = body.replace(b"main", b"evil")
    assert requests.post(url, data=tampered, headers=github_headers(body, delivery="d-6")).status_code == 401
    assert requests.post(url, data=body, headers=github_headers(body)).status_code == 409  # replayed
    # The delivery id is not signed: a captured delivery resent under a new one is the same.
    assert requests.post(url, data=body, headers=github_headers(body, delivery="d-7")).status_code == 409
    assert published_nothing_more(hub, 1)
    hub.wait_log("webhook refused", reason="the signature does not match")
    assert requests.post(f"{hub.url}/api/v1/webhooks/no-such-id", data=body, headers=github_headers(body)).status_code == 404


def slack_headers(body, ts=None, secret=SLACK_SECRET):
    ts = str(int(time.time()) if ts is None else ts)
    base = b"v0:" + ts.encode() + b":" + body
    return {"X-Slack-Request-Timestamp": ts, "Content-Type": "application/json",
            "X-Slack-Signature": "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()}


def test_slack_webhooks_with_the_timestamp_window(hub):
    sl = connect(hub, "slack", {"bot_token": "xoxb-1", "signing_secret": SLACK_SECRET})
    url = f"{hub.url}/api/v1/webhooks/{sl}"
    challenge = json.dumps({"type": "url_verification", "challenge": "3eZbrw1a"}).encode()
    assert requests.post(url, data=challenge, headers=slack_headers(challenge)).json() == {"challenge": "3eZbrw1a"}
    body = json.dumps({"type": "event_callback", "event": {"type": "message", "text": "hi"}}).encode()
    headers = slack_headers(body)
    assert requests.post(url, data=body, headers=headers).status_code == 200
    assert requests.post(url, data=body, headers=headers).status_code == 409  # replayed in the window
    stale = slack_headers(body, ts=int(time.time()) - 3600)
    assert requests.post(url, data=body, headers=stale).status_code == 401
    assert requests.post(url, data=body, headers=slack_headers(body, secret="x" * 32)).status_code == 401
    assert requests.post(url, data=body, headers={**slack_headers(body), "X-Slack-Request-Timestamp": "soon"}).status_code == 401
    assert published_nothing_more(hub, 1)


def test_discord_webhooks_with_ed25519(hub):
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    dc = connect(hub, "discord", {"public_key": public})
    url = f"{hub.url}/api/v1/webhooks/{dc}"

    def signed(body, signer=key, ts=None):
        ts = str(int(time.time()) if ts is None else ts)
        return {"X-Signature-Timestamp": ts, "X-Signature-Ed25519": signer.sign(ts.encode() + body).hex(),
                "Content-Type": "application/json"}
    ping = b'{"type":1}'
    assert requests.post(url, data=ping, headers=signed(ping)).json() == {"type": 1}
    command = json.dumps({"type": 2, "data": {"name": "deploy"}}).encode()
    headers = signed(command)
    assert requests.post(url, data=command, headers=headers).status_code == 200
    # The same signature in upper case verifies too, and is the same delivery.
    upper = {**headers, "X-Signature-Ed25519": headers["X-Signature-Ed25519"].upper()}
    assert requests.post(url, data=command, headers=upper).status_code == 409
    assert requests.post(url, data=command, headers=signed(command, signer=Ed25519PrivateKey.generate())).status_code == 401
    assert requests.post(url, data=command, headers={**signed(command), "X-Signature-Ed25519": "zz"}).status_code == 401
    assert requests.post(url, data=command, headers=signed(command, ts=int(time.time()) - 3600)).status_code == 401
    assert published_nothing_more(hub, 1)


def test_github_repos_and_slack_messages_through_the_client(hub, fake):
    gh = connect(hub, "github", {"token": "gh-token"})
    sl = connect(hub, "slack", {"bot_token": "xoxb-1", "signing_secret": SLACK_SECRET})
    r = requests.post(hub.url + I + "/github/repos", json={"integration_id": gh},
                      headers={**DEVELOPER, "X-Request-ID": "req-gh-1"}, timeout=5)
    assert r.status_code == 200, r.text
    assert [x["full_name"] for x in r.json()["repos"]] == ["aether/svckit", "aether/monolith"]
    method, path, headers, _ = fake.calls[-1]
    assert (method, path) == ("GET", "/user/repos?per_page=100")
    assert headers["X-Request-ID"] == "req-gh-1" and headers["Authorization"] == "Bearer gh-token"
    r = requests.post(hub.url + I + "/slack/message", json={"integration_id": sl, "channel": "#general", "message": "hi"},
                      headers=DEVELOPER, timeout=5)
    assert r.json() == {"success": True, "message_id": "1700000000.000100"}
    r = requests.post(hub.url + I + "/slack/message", json={"integration_id": sl, "channel": "#nowhere", "message": "hi"},
                      headers=DEVELOPER, timeout=5)
    assert r.status_code == 502 and "channel_not_found" in r.json()["detail"]
    wrong = requests.post(hub.url + I + "/slack/message", json={"integration_id": gh, "channel": "#g", "message": "hi"},
                          headers=DEVELOPER, timeout=5)
    assert wrong.status_code == 422
    assert requests.post(hub.url + I + "/github/repos", json={"integration_id": "nope"}, headers=DEVELOPER).status_code == 404


def test_a_failing_upstream_trips_the_breaker(hub, fake):
    gh = connect(hub, "github", {"token": "gh-token"})
    fake.fail = True
    statuses = [requests.post(hub.url + I + "/github/repos", json={"integration_id": gh}, headers=DEVELOPER,
                              timeout=15).status_code for _ in range(8)]
    assert set(statuses) <= {502, 503} and statuses[-1] == 503, statuses
    calls = len(fake.calls)
    assert requests.post(hub.url + I + "/github/repos", json={"integration_id": gh}, headers=DEVELOPER).status_code == 503
    assert len(fake.calls) == calls, "the open breaker did not call GitHub"


def test_webhooks_reach_analytics_in_the_local_system(start_service):
    svc = start_service("aether", SECURITY_ADMIN_EMAIL="a@b.c", SECURITY_ADMIN_PASSWORD="admin-password-1")
    gh = connect(svc, "github", {"token": "t", "webhook_secret": GITHUB_SECRET})
    body = b'{"action": "opened"}'
    assert requests.post(f"{svc.url}/api/v1/webhooks/{gh}", data=body, headers=github_headers(body)).status_code == 200
    deadline = time.monotonic() + 5
    while True:
        usage = requests.get(svc.url + "/api/v1/analytics/usage", headers=DEVELOPER, timeout=5).json()["usage"]
        if any(u["metric"] == "integration.webhook.received" for u in usage):
            break
        assert time.monotonic() < deadline, usage
        time.sleep(0.05)


OTHER_DEV = {"Authorization": "Bearer " + make_token(sub="dev-2", roles=("developer",))}


def test_credentials_are_their_owners_unless_shared(hub, fake):
    gh = connect(hub, "github", {"token": "gh-token"})
    repos = lambda who: requests.post(hub.url + I + "/github/repos", json={"integration_id": gh}, headers=who,
                                      timeout=5)
    listed = lambda who: [i["integration_id"] for i in
                          requests.get(hub.url + I + "/", headers=who, timeout=5).json()["integrations"]]
    # Another developer, with the same permissions, neither sees it nor can use its token.
    assert listed(OTHER_DEV) == []
    r = repos(OTHER_DEV)
    assert r.status_code == 404 and "gh-token" not in r.text
    calls = len(fake.calls)
    assert requests.post(hub.url + I + "/slack/message", json={"integration_id": gh, "channel": "#g", "message": "x"},
                         headers=OTHER_DEV, timeout=5).status_code == 404
    assert len(fake.calls) == calls
    # Nor share it with themselves.
    share = lambda who, users: requests.put(hub.url + I + f"/{gh}/sharing", json={"shared_with": users},
                                            headers=who, timeout=5)
    assert share(OTHER_DEV, ["dev-2"]).status_code == 404
    assert repos(OTHER_DEV).status_code == 404
    # Its owner shares it with them by name; admins see everything.
    assert share(DEVELOPER, ["dev-2"]).json() == {"shared_with": ["dev-2"]}
    assert repos(OTHER_DEV).status_code == 200 and listed(OTHER_DEV) == [gh]
    assert listed(ADMIN) == [gh] and repos(ADMIN).status_code == 200
    # A shared user may use it but not pass it on.
    assert share(OTHER_DEV, ["*"]).status_code == 403
    # "*": everyone with the permission; and taking the share back works at once.
    assert share(DEVELOPER, ["*"]).status_code == 200
    third = {"Authorization": "Bearer " + make_token(sub="dev-3", roles=("developer",))}
    assert repos(third).status_code == 200
    assert share(DEVELOPER, []).status_code == 200
    assert repos(third).status_code == 404 and repos(OTHER_DEV).status_code == 404
    assert repos(DEVELOPER).status_code == 200
    for bad in ({"shared_with": "dev-2"}, {"shared_with": [""]}, {"shared_with": ["x"] * 101}, {}):
        r = requests.put(hub.url + I + f"/{gh}/sharing", json=bad, headers=DEVELOPER, timeout=5)
        assert r.status_code == 422, (bad, r.text)
