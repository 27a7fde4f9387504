"""JWKS_URL: a service fetches its verification keys from an issuer, keeps them fresh, follows a
rotation on the first unknown kid, and keeps its keys when the issuer fails."""
import base64
import http.server
import json
import threading
import time

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from test_security import ADMIN, admin_token

ISSUER = "https://issuer.test"


class JwksIssuer:
    """An issuer's /.well-known/jwks.json on loopback whose answer the test changes."""

    def __init__(self):
        self.keys = {}
        self.mode = "ok"  # "ok", "500", "garbage", "hang", "slow"
        self.fetches = 0  # counted once the fetch's key set is fixed: later keys are not in it
        self.foreign = []  # JWKs served beside the test's own keys, as the test wrote them
        self.lock = threading.Lock()  # the handler threads read keys while the test adds them
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                with issuer.lock:
                    issuer.fetches += 1
                    keys = issuer.jwks()
                if issuer.mode == "hang":
                    time.sleep(3)
                if issuer.mode == "500":
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = b"{not json" if issuer.mode == "garbage" else json.dumps(keys).encode()
                if issuer.mode == "slow":  # the keys as they were when the fetch came
                    time.sleep(1.5)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add_key(self, kid):
        private = ec.generate_private_key(ec.SECP256R1())
        with self.lock:
            self.keys[kid] = private
        return private

    def jwks(self):
        """The public set as it is now; the caller holds the lock."""
        out = []
        for kid, private in self.keys.items():
            jwk = json.loads(ECAlgorithm.to_jwk(private.public_key()))
            out.append({**jwk, "kid": kid, "alg": "ES256", "use": "sig"})
        return {"keys": out + self.foreign}

    def token(self, kid, permissions=("tasks:read",)):
        now = int(time.time())
        return self.sign({"sub": "u1", "roles": [], "permissions": list(permissions), "type": "access",
                          "iss": ISSUER, "iat": now, "exp": now + 600}, kid)

    def sign(self, claims, kid):
        return jwt.encode(claims, self.keys[kid], algorithm="ES256", headers={"kid": kid})

    def close(self):
        self.server.shutdown()


@pytest.fixture
def issuer():
    i = JwksIssuer()
    yield i
    i.close()


def tasks(svc, token):
    return requests.get(svc.url + "/api/v1/tasks", headers={"Authorization": f"Bearer {token}"}, timeout=5)


def test_tokens_verify_with_keys_fetched_from_the_url(start_service, issuer):
    issuer.add_key("k1")
    svc = start_service("task-manager", JWT_SECRET_KEY="", JWKS_URL=issuer.url, JWT_ISSUER=ISSUER)
    assert svc.wait_log("JWKS loaded", keys=1)["url"] == issuer.url
    assert tasks(svc, issuer.token("k1")).status_code == 200
    other = JwksIssuer()
    other.add_key("k1")  # same kid, someone else's key
    r = tasks(svc, other.token("k1"))
    other.close()
    assert r.status_code == 401 and "signature" in r.json()["detail"]


def test_not_ready_until_the_first_key_set_arrives(start_service, issuer):
    issuer.add_key("k1")
    issuer.mode = "500"
    svc = start_service("task-manager", wait_ready=False, JWT_SECRET_KEY="", JWKS_URL=issuer.url, JWT_ISSUER=ISSUER)
    svc.wait_log("JWKS fetch failed; the current keys stay")
    ready = requests.get(svc.url + "/ready", timeout=5)
    assert ready.status_code == 503
    assert ready.json()["checks"]["jwks"]["status"] == "DOWN"
    assert tasks(svc, issuer.token("k1")).status_code == 401
    issuer.mode = "ok"  # the fetcher retries with backoff (1 s first)
    deadline = time.monotonic() + 10
    while not svc.logs("JWKS loaded"):  # probing all the while, as an orchestrator would
        assert time.monotonic() < deadline, "the keys never arrived"
        requests.get(svc.url + "/ready", timeout=5)
        time.sleep(0.01)
    # The check is not cached: the probe right after the keys arrive is UP.
    assert requests.get(svc.url + "/ready", timeout=5).status_code == 200
    assert tasks(svc, issuer.token("k1")).status_code == 200


def wait_for_key(svc, issuer, token, timeout=10):
    deadline = time.monotonic() + timeout
    while (status := tasks(svc, token).status_code) != 200:
        assert time.monotonic() < deadline, \
            f"the rotated key never arrived: {status}, {issuer.fetches} fetches, {svc.logs()[-6:]}"
        time.sleep(0.05)


def test_a_rotation_is_followed_on_the_first_unknown_kid(start_service, issuer):
    issuer.add_key("old")
    # An hour between scheduled refreshes: only the unknown kid can explain a fetch.
    svc = start_service("task-manager", JWT_SECRET_KEY="", JWKS_URL=issuer.url, JWT_ISSUER=ISSUER, JWKS_REFRESH_SECONDS="3600")
    svc.wait_log("JWKS loaded")
    issuer.add_key("new")
    token = issuer.token("new")
    first = tasks(svc, token)
    assert first.status_code == 401 and "kid" in first.json()["detail"]
    wait_for_key(svc, issuer, token)
    assert issuer.fetches == 2
    assert tasks(svc, issuer.token("old")).status_code == 200  # both keys live side by side

    # Made-up kids do not make the service hammer the issuer: one early fetch per 30 s.
    for i in range(50):
        forged = jwt.encode({"sub": "x", "type": "access", "exp": int(time.time()) + 60}, issuer.keys["old"],
                            algorithm="ES256", headers={"kid": f"forged-{i}"})
        assert tasks(svc, forged).status_code == 401
    # A kid let past refresh_soon()'s 30 s limit (min_refresh_interval) would wake the fetcher
    # before its 401 went out and reach this loopback issuer in milliseconds: 0.5 s is ample.
    time.sleep(0.5)
    assert issuer.fetches == 2


def test_an_unknown_kid_seen_during_a_fetch_is_fetched_again_after_it(start_service, issuer):
    # The first fetch is in flight with the old set when a token with the new kid comes: its
    # early fetch must follow that one, not wait for the next scheduled refresh an hour away.
    issuer.add_key("old")
    issuer.mode = "slow"
    svc = start_service("task-manager", wait_ready=False, JWT_SECRET_KEY="", JWKS_URL=issuer.url, JWT_ISSUER=ISSUER,
                        JWKS_REFRESH_SECONDS="3600")
    deadline = time.monotonic() + 5
    while issuer.fetches == 0:
        assert time.monotonic() < deadline, "no fetch began"
        time.sleep(0.01)
    issuer.add_key("new")
    token = issuer.token("new")
    first = tasks(svc, token)
    assert first.status_code == 401 and "kid" in first.json()["detail"]
    issuer.mode = "ok"
    wait_for_key(svc, issuer, token)
    assert issuer.fetches == 2


# An X25519 key (for key agreement, no "use") and a P-256 key whose y is off the curve.
FOREIGN_KEYS = [{"kty": "OKP", "crv": "X25519", "kid": "agreement",
                 "x": "hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"},
                {"kty": "EC", "crv": "P-256", "kid": "broken", "x": "AQ", "y": "AQ"}]


def test_keys_the_service_cannot_use_are_left_out_and_named(start_service, issuer):
    issuer.add_key("k1")
    issuer.foreign = FOREIGN_KEYS
    svc = start_service("task-manager", JWT_SECRET_KEY="", JWKS_URL=issuer.url, JWT_ISSUER=ISSUER)
    assert svc.wait_log("JWKS loaded", keys=1)
    skipped = sorted(l["key"] for l in svc.logs("JWKS key skipped"))
    assert skipped[0].startswith("agreement: ") and "X25519" in skipped[0], skipped
    assert skipped[1].startswith("broken: "), skipped
    assert tasks(svc, issuer.token("k1")).status_code == 200


def test_a_set_with_no_usable_key_keeps_the_service_not_ready(start_service, issuer):
    issuer.foreign = FOREIGN_KEYS
    svc = start_service("task-manager", wait_ready=False, JWT_SECRET_KEY="", JWKS_URL=issuer.url, JWT_ISSUER=ISSUER)
    failed = svc.wait_log("JWKS fetch failed; the current keys stay")
    assert "no usable key" in failed["error"], failed
    assert requests.get(svc.url + "/ready", timeout=5).status_code == 503


def test_a_failing_or_garbage_issuer_keeps_the_current_keys(start_service, issuer):
    issuer.add_key("k1")
    svc = start_service("task-manager", JWT_SECRET_KEY="", JWKS_URL=issuer.url, JWT_ISSUER=ISSUER, JWKS_REFRESH_SECONDS="1")
    svc.wait_log("JWKS loaded")
    token = issuer.token("k1")
    for mode in ("500", "garbage"):
        issuer.mode = mode
        before = len(svc.logs("JWKS fetch failed; the current keys stay"))
        deadline = time.monotonic() + 10
        while len(svc.logs("JWKS fetch failed; the current keys stay")) <= before:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert tasks(svc, token).status_code == 200, mode
    assert requests.get(svc.url + "/ready", timeout=5).status_code == 200


def test_the_security_service_is_the_issuer(start_service, tmp_path):
    import subprocess
    key_file = tmp_path / "signing.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-out", str(key_file)], check=True, capture_output=True)
    security = start_service("security", JWT_SECRET_KEY="", SECURITY_SIGNING_KEY_FILE=str(key_file),
                             JWT_ALGORITHM="ES256", SECURITY_ADMIN_EMAIL=ADMIN[0],
                             SECURITY_ADMIN_PASSWORD=ADMIN[1], SECURITY_BCRYPT_COST="4")
    svc = start_service("task-manager", JWT_SECRET_KEY="",
                        JWKS_URL=security.url + "/.well-known/jwks.json", JWT_ISSUER="aether-security")
    token = admin_token(security)
    r = requests.post(svc.url + "/api/v1/tasks", json={"title": "from a JWKS-verified admin"},
                      headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert r.status_code == 201, r.text


def test_bad_jwks_settings_stop_startup(tmp_path):
    import subprocess
    from conftest import BIN_DIR
    for env, named in [({"JWKS_URL": "ftp://issuer/jwks"}, "JWKS_URL"),
                       ({"JWKS_URL": "http://127.0.0.1:1/x", "JWKS_REFRESH_SECONDS": "0"}, "JWKS_REFRESH_SECONDS"),
                       ({"JWKS_URL": "https://127.0.0.1:1/x", "JWKS_CA_FILE": str(tmp_path / "missing.pem")},
                        "CA file"),
                       # Anyone on the path could swap keys fetched over plain http from afar.
                       ({"JWKS_URL": "http://192.0.2.1/jwks.json"}, "JWKS_ALLOW_HTTP"),
                       ({"JWKS_URL": "http://user@192.0.2.1:80/jwks.json"}, "JWKS_ALLOW_HTTP"),
                       ({"JWKS_URL": "http://127.0.0.1.example.com/jwks.json"}, "JWKS_ALLOW_HTTP"),
                       # Fetched keys without an issuer to hold tokens to.
                       ({"JWKS_URL": "https://127.0.0.1:1/x", "JWT_ISSUER": ""}, "JWT_ISSUER")]:
        env = {"JWT_ISSUER": ISSUER, **env}
        result = subprocess.run([str(BIN_DIR / "task-manager")], env={"PATH": "/usr/bin:/bin", "PORT": "0",
                                "DATA_DIR": str(tmp_path), **env}, capture_output=True, text=True, timeout=20)
        assert result.returncode == 2, (env, result.stderr)
        assert named in result.stderr, (env, result.stderr)


def test_plain_http_to_another_host_starts_when_allowed(start_service):
    svc = start_service("task-manager", wait_ready=False, JWT_SECRET_KEY="", JWT_ISSUER=ISSUER,
                        JWKS_URL="http://192.0.2.1:9/jwks.json", JWKS_ALLOW_HTTP="true")
    assert requests.get(svc.url + "/health", timeout=5).status_code == 200


def test_a_token_from_another_issuer_or_none_is_refused(start_service, issuer):
    issuer.add_key("k1")
    svc = start_service("task-manager", JWT_SECRET_KEY="", JWKS_URL=issuer.url, JWT_ISSUER=ISSUER)
    svc.wait_log("JWKS loaded")
    now = int(time.time())
    claims = {"sub": "u1", "permissions": ["tasks:read"], "type": "access", "exp": now + 600}
    assert tasks(svc, issuer.sign({**claims, "iss": ISSUER}, "k1")).status_code == 200
    for wrong in ({**claims, "iss": "https://elsewhere.test"}, claims):
        r = tasks(svc, issuer.sign(wrong, "k1"))
        assert r.status_code == 401 and "issuer" in r.json()["detail"], r.text


def test_a_symmetric_key_in_the_fetched_set_is_refused(start_service, issuer):
    # An "oct" key published in a set is a secret anyone can fetch and sign with.
    secret = b"s" * 32
    issuer.add_key("k1")
    issuer.foreign = [{"kty": "oct", "kid": "shared", "alg": "HS256",
                       "k": base64.urlsafe_b64encode(secret).rstrip(b"=").decode()}]
    svc = start_service("task-manager", JWT_SECRET_KEY="", JWKS_URL=issuer.url, JWT_ISSUER=ISSUER)
    assert svc.wait_log("JWKS loaded", keys=1)
    skipped = [l["key"] for l in svc.logs("JWKS key skipped")]
    assert len(skipped) == 1 and skipped[0].startswith("shared: ") and "symmetric" in skipped[0], skipped
    forged = jwt.encode({"sub": "attacker", "permissions": ["tasks:read"], "type": "access", "iss": ISSUER,
                         "exp": int(time.time()) + 600}, secret, algorithm="HS256", headers={"kid": "shared"})
    assert tasks(svc, forged).status_code == 401
    assert tasks(svc, issuer.token("k1")).status_code == 200
