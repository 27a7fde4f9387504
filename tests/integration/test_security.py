"""The Security Service (seed 002 §4.1) over real HTTP, with PyJWT and Python bcrypt as the
monolith's side."""
import json
import subprocess
import time

import bcrypt
import jwt
import pytest
import requests

SECRET = "security-test-secret-" + "x" * 20
ADMIN = ("admin@example.com", "admin-password-1")
AUTH = "/api/v1/auth"


@pytest.fixture
def security(start_service, database_url):
    return start_service("security", **database_url, JWT_SECRET_KEY=SECRET, SECURITY_ADMIN_EMAIL=ADMIN[0],
                         SECURITY_ADMIN_PASSWORD=ADMIN[1], SECURITY_BCRYPT_COST="4",
                         JWT_AUDIENCE="aether", SECURITY_LOGIN_LIMIT="1000")


def login(svc, email=ADMIN[0], password=ADMIN[1]):
    return requests.post(svc.url + AUTH + "/login", json={"email": email, "password": password})


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def admin_token(svc):
    r = login(svc)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def test_login_returns_the_seeds_shape_and_pyjwt_reads_the_tokens(security):
    r = login(security)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert set(body["user"]) == {"id", "email", "name", "roles", "created_at", "claims"}
    assert body["user"]["roles"] == ["admin"]
    claims = jwt.decode(body["access_token"], SECRET, algorithms=["HS256"], audience="aether")
    assert claims["sub"] == body["user"]["id"] and claims["email"] == ADMIN[0]
    assert claims["type"] == "access" and claims["iss"] == "aether-security" and claims["jti"]
    assert claims["roles"] == ["admin"] and claims["permissions"] == ["*"]
    assert claims["exp"] - claims["iat"] == 3600
    refresh = jwt.decode(body["refresh_token"], SECRET, algorithms=["HS256"], audience="aether")
    assert refresh["type"] == "refresh" and refresh["sub"] == claims["sub"]


def test_unknown_email_and_wrong_password_look_the_same(start_service):
    # A cost at which one hash (~50 ms here) dwarfs the HTTP round trip: an unknown email that
    # skipped hashing would answer several times faster and fail the ratio below.
    security = start_service("security", JWT_SECRET_KEY=SECRET, SECURITY_ADMIN_EMAIL=ADMIN[0],
                             SECURITY_ADMIN_PASSWORD=ADMIN[1], SECURITY_BCRYPT_COST="10",
                             SECURITY_LOGIN_LIMIT="1000")

    def attempt(email, password):
        started = time.monotonic()
        r = login(security, email, password)
        return r, time.monotonic() - started

    # Interleaved, so that a busy moment on a shared machine slows both kinds alike.
    unknown, wrong = [], []
    for _ in range(8):
        unknown.append(attempt("nobody@example.com", "whatever"))
        wrong.append(attempt(ADMIN[0], "wrong-password"))
    for r, _ in unknown + wrong:
        assert r.status_code == 401
        assert r.json()["detail"] == "Invalid credentials"
    # Both check a bcrypt hash of the same cost; neither answers early. Skipping the hash would
    # make the ratio below 0.1; the wide band is for the noise of a loaded 2-core machine.
    fast_unknown = min(t for _, t in unknown)
    fast_wrong = min(t for _, t in wrong)
    assert 0.25 < fast_unknown / fast_wrong < 4.0, (fast_unknown, fast_wrong)


def test_validate(security):
    token = admin_token(security)
    r = requests.post(security.url + AUTH + "/validate", json={"token": token})
    body = r.json()
    assert r.status_code == 200 and body["valid"] is True
    assert body["roles"] == ["admin"] and body["expires_at"].endswith("Z")
    for bad in ["garbage", token[:-3] + "abc", jwt.encode({"sub": "x"}, "another-secret-" * 3, algorithm="HS256")]:
        body = requests.post(security.url + AUTH + "/validate", json={"token": bad}).json()
        assert body["valid"] is False and body["reason"]
    refresh = login(security).json()["refresh_token"]
    body = requests.post(security.url + AUTH + "/validate", json={"token": refresh}).json()
    assert body == {"valid": False, "reason": "not an access token"}


def test_refresh_rotates_and_reuse_revokes_the_family(security):
    first = login(security).json()["refresh_token"]
    r = requests.post(security.url + AUTH + "/refresh", json={"refresh_token": first})
    assert r.status_code == 200, r.text
    second = r.json()["refresh_token"]
    assert second != first and r.json()["access_token"]
    r = requests.post(security.url + AUTH + "/refresh", json={"refresh_token": second})
    assert r.status_code == 200
    third = r.json()["refresh_token"]
    # `first` again: a stolen token. It fails and takes the whole session with it.
    r = requests.post(security.url + AUTH + "/refresh", json={"refresh_token": first})
    assert r.status_code == 401 and "already used" in r.json()["detail"]
    r = requests.post(security.url + AUTH + "/refresh", json={"refresh_token": third})
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    # An access token is not a refresh token.
    r = requests.post(security.url + AUTH + "/refresh", json={"refresh_token": admin_token(security)})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_logout_revokes_the_refresh_token(security):
    refresh = login(security).json()["refresh_token"]
    r = requests.post(security.url + AUTH + "/logout", json={"refresh_token": refresh})
    assert r.status_code == 200 and r.json() == {"success": True}
    r = requests.post(security.url + AUTH + "/refresh", json={"refresh_token": refresh})
    assert r.status_code == 401


def test_me(security):
    token = admin_token(security)
    r = requests.get(security.url + AUTH + "/me", headers=bearer(token))
    assert r.status_code == 200
    assert r.json()["email"] == ADMIN[0] and r.json()["roles"] == ["admin"]
    r = requests.get(security.url + AUTH + "/me")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    assert r.headers["Content-Type"] == "application/problem+json"
    r = requests.get(security.url + AUTH + "/me", headers=bearer("nope"))
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    # A token minted by PyJWT with the shared secret is as good as the service's own.
    now = int(time.time())
    minted = jwt.encode({"sub": "svc-1", "roles": ["guest"], "type": "access", "iss": "aether-security",
                         "aud": "aether", "iat": now, "exp": now + 60}, SECRET, algorithm="HS256")
    r = requests.get(security.url + AUTH + "/me", headers=bearer(minted))
    assert r.status_code == 200 and r.json()["permissions"] == ["tasks:read"]


def test_admin_creates_users_including_from_monolith_hashes(security):
    token = admin_token(security)
    users = security.url + AUTH + "/users"
    r = requests.post(users, json={"email": "dev@example.com", "name": "Dev", "password": "dev-password",
                                   "roles": ["developer"]}, headers=bearer(token))
    assert r.status_code == 201, r.text
    dev = r.json()
    assert login(security, "dev@example.com", "dev-password").status_code == 200
    assert requests.get(f"{users}/{dev['id']}", headers=bearer(token)).json()["email"] == "dev@example.com"
    # The monolith's bcrypt hash logs in unchanged.
    monolith_hash = bcrypt.hashpw(b"legacy-password", bcrypt.gensalt(4)).decode()
    r = requests.post(users, json={"email": "legacy@example.com", "password_hash": monolith_hash},
                      headers=bearer(token))
    assert r.status_code == 201, r.text
    assert login(security, "legacy@example.com", "legacy-password").status_code == 200
    assert login(security, "LEGACY@example.com", "legacy-password").status_code == 200  # any case
    # Mistakes are named; nothing is created.
    assert requests.post(users, json={"email": "dev@example.com", "password": "another-pw"},
                         headers=bearer(token)).status_code == 409
    for body, field in [({"email": "x@example.com", "password": "p"}, "password"),
                        ({"email": "x@example.com", "password": "long-enough", "roles": ["wizard"]}, "roles"),
                        ({"email": "not-an-email", "password": "long-enough"}, "email"),
                        ({"email": "x@example.com", "password_hash": "md5:abc"}, "password_hash"),
                        ({"password": "long-enough"}, "email")]:
        r = requests.post(users, json=body, headers=bearer(token))
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, r.text
    assert login(security, "x@example.com", "long-enough").status_code == 401
    # Only admins manage users.
    dev_token = login(security, "dev@example.com", "dev-password").json()["access_token"]
    r = requests.post(users, json={"email": "y@example.com", "password": "long-enough"}, headers=bearer(dev_token))
    assert r.status_code == 403
    assert r.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope", scope="users:write"'
    assert requests.get(f"{users}/no-such-id", headers=bearer(token)).status_code == 404


def test_a_users_own_claims_go_into_access_tokens(security):
    token = admin_token(security)
    users = security.url + AUTH + "/users"
    r = requests.post(users, json={"email": "resident@example.com", "password": "resident-pw",
                                   "claims": {"unit": "1204", "building": "north"}}, headers=bearer(token))
    assert r.status_code == 201, r.text
    assert r.json()["claims"] == {"unit": "1204", "building": "north"}
    access = login(security, "resident@example.com", "resident-pw").json()["access_token"]
    claims = jwt.decode(access, SECRET, algorithms=["HS256"], audience="aether")
    assert (claims["unit"], claims["building"]) == ("1204", "north")
    me = requests.get(security.url + AUTH + "/me", headers=bearer(access)).json()
    assert me["claims"] == {"unit": "1204", "building": "north"}
    # The claims the service gives meaning cannot be set, nor odd names or huge values.
    for claims in [{"sub": "someone-else"}, {"roles": "admin"}, {"permissions": "*"}, {"Unit": "1"},
                   {"unit-number": "1"}, {"": "1"}, {"unit": "x" * 257},
                   {f"c{i}": "v" for i in range(17)}, {"unit": 1204}]:
        r = requests.post(users, json={"email": "other@example.com", "password": "resident-pw",
                                       "claims": claims}, headers=bearer(token))
        assert r.status_code == 422 and r.json()["errors"][0]["field"].startswith("claims"), (claims, r.text)
    assert login(security, "other@example.com", "resident-pw").status_code == 401


def test_api_keys_are_shown_once_revocable_and_rotate_with_overlap(security):
    token = admin_token(security)
    keys = security.url + AUTH + "/api-keys"
    r = requests.post(keys, json={"name": "ci"}, headers=bearer(token))
    assert r.status_code == 201
    created = r.json()
    key = created["key"]
    assert key.startswith("sk_" + created["prefix"] + "_")
    me = requests.get(security.url + AUTH + "/me", headers={"X-API-Key": key})
    assert me.status_code == 200 and me.json()["authenticated_by"] == "api_key"
    assert requests.get(security.url + AUTH + "/me", headers={"X-API-Key": key[:-1] + "x"}).status_code == 401

    r = requests.post(f"{keys}/{created['id']}/rotate", headers=bearer(token))
    assert r.status_code == 201
    rotated = r.json()
    assert rotated["replaces"] == created["id"] and rotated["key"] != key
    for k in (key, rotated["key"]):  # both work during the overlap window
        assert requests.get(security.url + AUTH + "/me", headers={"X-API-Key": k}).status_code == 200

    assert requests.delete(f"{keys}/{rotated['id']}", headers=bearer(token)).json() == {"success": True}
    assert requests.get(security.url + AUTH + "/me", headers={"X-API-Key": rotated["key"]}).status_code == 401
    assert requests.delete(f"{keys}/{rotated['id']}", headers=bearer(token)).status_code == 404


def test_rotation_without_overlap_retires_the_old_key_at_once(start_service):
    svc = start_service("security", JWT_SECRET_KEY=SECRET, SECURITY_ADMIN_EMAIL=ADMIN[0],
                        SECURITY_ADMIN_PASSWORD=ADMIN[1], SECURITY_BCRYPT_COST="4",
                        SECURITY_API_KEY_OVERLAP="0")
    token = admin_token(svc)
    created = requests.post(svc.url + AUTH + "/api-keys", json={}, headers=bearer(token)).json()
    requests.post(f"{svc.url}{AUTH}/api-keys/{created['id']}/rotate", headers=bearer(token))
    assert requests.get(svc.url + AUTH + "/me", headers={"X-API-Key": created["key"]}).status_code == 401


def test_jwks_with_an_asymmetric_key(start_service, tmp_path):
    key_file = tmp_path / "signing.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-out", str(key_file)], check=True, capture_output=True)
    svc = start_service("security", JWT_SECRET_KEY="", SECURITY_SIGNING_KEY_FILE=str(key_file), JWT_ALGORITHM="ES256",
                        SECURITY_ADMIN_EMAIL=ADMIN[0], SECURITY_ADMIN_PASSWORD=ADMIN[1],
                        SECURITY_BCRYPT_COST="4")
    jwks = requests.get(svc.url + "/.well-known/jwks.json").json()
    assert len(jwks["keys"]) == 1 and jwks["keys"][0]["alg"] == "ES256" and "d" not in jwks["keys"][0]
    token = admin_token(svc)
    public_key = jwt.PyJWK(jwks["keys"][0]).key
    assert jwt.decode(token, public_key, algorithms=["ES256"])["email"] == ADMIN[0]


def test_jwks_is_404_with_a_shared_secret(security):
    assert requests.get(security.url + "/.well-known/jwks.json").status_code == 404


def test_hostile_requests(security):
    url = security.url + AUTH + "/login"
    assert requests.post(url, data="{not json", headers={"Content-Type": "application/json"}).status_code == 400
    assert requests.post(url, json=["a"]).status_code == 422
    assert requests.post(url, json={"email": 5, "password": "x"}).status_code == 422
    assert requests.post(url, json={"email": "a" * 5000 + "@x", "password": "x"}).status_code == 422
    assert requests.post(url, json={"email": ADMIN[0], "password": "p" * 100_000}).status_code == 422
    assert requests.post(url, data="email=a", headers={"Content-Type": "text/plain"}).status_code == 415
    r = requests.get(security.url + AUTH + "/me", headers=bearer("a" * 20_000))
    assert r.status_code == 431  # the header limit stops it before any auth code sees it
    r = requests.get(security.url + AUTH + "/me", headers=bearer("a.b." + "c" * 7000))
    assert r.status_code == 401 and r.json()["detail"].startswith("invalid token")
    assert login(security).status_code == 200  # still serving


def test_a_refresh_token_in_the_query_string_is_refused_unless_allowed(security, start_service):
    token = login(security).json()["refresh_token"]
    r = requests.post(security.url + AUTH + "/refresh", params={"refresh_token": token})
    assert r.status_code == 400 and "in the body" in r.json()["detail"], r.text
    assert requests.post(security.url + AUTH + "/refresh", json={"refresh_token": token}).status_code == 200, \
        "the refused request did not use the token"
    # The seed's monolith took it in the query: a setting allows that, for its clients.
    compatible = start_service("security", JWT_SECRET_KEY=SECRET, SECURITY_ADMIN_EMAIL=ADMIN[0],
                               SECURITY_ADMIN_PASSWORD=ADMIN[1], SECURITY_BCRYPT_COST="4",
                               SECURITY_REFRESH_IN_QUERY="true")
    token = login(compatible).json()["refresh_token"]
    r = requests.post(compatible.url + AUTH + "/refresh", params={"refresh_token": token})
    assert r.status_code == 200, r.text


def test_bad_settings_stop_startup(tmp_path):
    from conftest import BIN_DIR
    bin_dir = str(BIN_DIR)
    weak_admin = [{"JWT_SECRET_KEY": SECRET, "SECURITY_ADMIN_EMAIL": "root@example.com", "SECURITY_ADMIN_PASSWORD": p}
                  for p in ("short-1", "aaaaaaaaaaaaaaaa", "123456789012345", "onlylettershere",
                            "root@example.com", "Password12345")]
    for env in [{}, {"JWT_SECRET_KEY": "short"}, {"JWT_SECRET_KEY": SECRET, "SECURITY_BCRYPT_COST": "99"},
                {"SECURITY_SIGNING_KEY_FILE": str(tmp_path / "missing.pem")}, *weak_admin]:
        result = subprocess.run([f"{bin_dir}/security"], env={"PATH": "/usr/bin:/bin", "PORT": "0",
                                "DATA_DIR": str(tmp_path), **env}, capture_output=True, text=True, timeout=20)
        assert result.returncode == 2, (env, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        if "SECURITY_ADMIN_PASSWORD" in env:
            assert "too weak" in result.stderr and env["SECURITY_ADMIN_PASSWORD"] not in result.stderr


def test_logins_are_rate_limited_per_client_and_failures_count(start_service):
    svc = start_service("security", JWT_SECRET_KEY=SECRET, SECURITY_ADMIN_EMAIL=ADMIN[0],
                        SECURITY_ADMIN_PASSWORD=ADMIN[1], SECURITY_BCRYPT_COST="4",
                        SECURITY_LOGIN_LIMIT="3")
    statuses = []
    for _ in range(3):
        r = login(svc, ADMIN[0], "wrong-password")
        statuses.append(r.status_code)
        assert r.headers["RateLimit-Limit"] == "3"
    assert statuses == [401, 401, 401]
    r = login(svc)  # the right password, but this client is out of attempts
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1 and r.headers["RateLimit-Remaining"] == "0"
    assert r.headers["Content-Type"] == "application/problem+json"
    # Other endpoints have their own, larger budget.
    me = requests.get(svc.url + AUTH + "/me")
    assert me.status_code == 401 and int(me.headers["RateLimit-Remaining"]) > 0


def test_behind_a_trusted_proxy_each_client_has_its_own_login_budget(start_service):
    svc = start_service("security", JWT_SECRET_KEY=SECRET, SECURITY_ADMIN_EMAIL=ADMIN[0],
                        SECURITY_ADMIN_PASSWORD=ADMIN[1], SECURITY_BCRYPT_COST="4",
                        SECURITY_LOGIN_LIMIT="3", TRUSTED_PROXIES="127.0.0.1")

    def attempt(client, password="wrong-password"):
        return requests.post(svc.url + AUTH + "/login", json={"email": "someone@example.com", "password": password},
                             headers={"X-Forwarded-For": client}, timeout=10)
    assert [attempt("203.0.113.1").status_code for _ in range(3)] == [401, 401, 401]
    assert attempt("203.0.113.1").status_code == 429
    # Another client behind the same proxy is not locked out by the first.
    r = requests.post(svc.url + AUTH + "/login", json={"email": ADMIN[0], "password": ADMIN[1]},
                      headers={"X-Forwarded-For": "203.0.113.2"}, timeout=10)
    assert r.status_code == 200, r.text
    # A forged entry left of the proxy's is not believed: still 203.0.113.1, still out.
    assert attempt("198.51.100.9, 203.0.113.1").status_code == 429


def test_a_forged_x_forwarded_for_line_before_the_proxys_is_not_believed(start_service):
    """A proxy that adds its own X-Forwarded-For line (HAProxy's option forwardfor) leaves the
    client's forged one first: all lines are one list, the client the right-most untrusted."""
    import http.client
    svc = start_service("security", JWT_SECRET_KEY=SECRET, SECURITY_ADMIN_EMAIL=ADMIN[0],
                        SECURITY_ADMIN_PASSWORD=ADMIN[1], SECURITY_BCRYPT_COST="4",
                        SECURITY_LOGIN_LIMIT="3", TRUSTED_PROXIES="127.0.0.1")
    body = json.dumps({"email": "x@example.com", "password": "wrong-password"})
    statuses = []
    for i in range(4):
        c = http.client.HTTPConnection("127.0.0.1", svc.port, timeout=10)
        c.putrequest("POST", AUTH + "/login")
        c.putheader("Content-Type", "application/json")
        c.putheader("Content-Length", str(len(body)))
        c.putheader("X-Forwarded-For", f"198.51.100.{i}")  # the client's, a new one each time
        c.putheader("X-Forwarded-For", "203.0.113.1")  # the proxy's: the address it saw
        c.endheaders(body.encode())
        statuses.append(c.getresponse().status)
        c.close()
    assert statuses == [401, 401, 401, 429]


def test_concurrent_attempts_cannot_outrun_the_account_lock(start_service):
    svc = start_service("security", JWT_SECRET_KEY=SECRET, SECURITY_ADMIN_EMAIL=ADMIN[0],
                        SECURITY_ADMIN_PASSWORD=ADMIN[1], SECURITY_BCRYPT_COST="4", SECURITY_LOGIN_LIMIT="1000",
                        SECURITY_ACCOUNT_FAILURES="3")
    from concurrent.futures import ThreadPoolExecutor

    def attempt(_):
        return requests.post(svc.url + AUTH + "/login", json={"email": ADMIN[0], "password": "wrong-password"},
                             timeout=30).status_code
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(attempt, range(16)))
    assert sorted(statuses) == [401] * 3 + [429] * 13, statuses


def test_x_forwarded_for_from_an_untrusted_peer_changes_nothing(start_service):
    svc = start_service("security", JWT_SECRET_KEY=SECRET, SECURITY_ADMIN_EMAIL=ADMIN[0],
                        SECURITY_ADMIN_PASSWORD=ADMIN[1], SECURITY_BCRYPT_COST="4", SECURITY_LOGIN_LIMIT="3")
    statuses = [requests.post(svc.url + AUTH + "/login", json={"email": "x@example.com", "password": "wrong-password"},
                              headers={"X-Forwarded-For": f"203.0.113.{i}"}, timeout=10).status_code
                for i in range(4)]
    assert statuses == [401, 401, 401, 429], "a client cannot pick a new address per attempt"


def test_failed_logins_lock_the_account_from_any_address(start_service):
    svc = start_service("security", JWT_SECRET_KEY=SECRET, SECURITY_ADMIN_EMAIL=ADMIN[0],
                        SECURITY_ADMIN_PASSWORD=ADMIN[1], SECURITY_BCRYPT_COST="4", SECURITY_LOGIN_LIMIT="1000",
                        SECURITY_ACCOUNT_FAILURES="3", TRUSTED_PROXIES="127.0.0.1")

    def attempt(email, password, client):
        return requests.post(svc.url + AUTH + "/login", json={"email": email, "password": password},
                             headers={"X-Forwarded-For": client}, timeout=10)
    assert attempt(ADMIN[0], ADMIN[1], "203.0.113.1").status_code == 200
    assert [attempt(ADMIN[0].upper(), "wrong-password", f"203.0.113.{i}").status_code for i in range(3)] == [401] * 3
    r = attempt(ADMIN[0], ADMIN[1], "198.51.100.1")  # the right password, from a fresh address
    assert r.status_code == 429 and "this account" in r.json()["detail"] and int(r.headers["Retry-After"]) == 900
    # Other accounts, known or not, are not affected; unknown ones lock alike (no hint either way).
    assert attempt("nobody@example.com", "wrong-password", "198.51.100.1").status_code == 401
    # The log names accounts by a hash: people type passwords into the email field.
    failed = svc.wait_log("login failed")
    assert "email" not in failed and len(failed["account"]) == 24 and failed["known"] == "yes"
    assert not any(ADMIN[0].split("@")[0] in str(line) for line in svc.logs("login failed"))


def test_hostile_input_on_every_endpoint(security):
    token = admin_token(security)
    auth = security.url + AUTH
    cases = [
        ("post", "/validate", {"data": "{bad", "headers": {"Content-Type": "application/json"}}, 400),
        ("post", "/validate", {"json": {"token": 5}}, 422),
        ("post", "/validate", {"json": {}}, 422),
        ("post", "/validate", {"json": {"token": "x" * 100_000}}, 200),  # {"valid": false}
        ("post", "/refresh", {"json": {"refresh_token": ["a"]}}, 422),
        ("post", "/refresh", {"json": {"refresh_token": "a.b.c"}}, 401),
        ("post", "/refresh", {"data": "x", "headers": {"Content-Type": "text/plain"}}, 415),
        ("post", "/logout", {"json": {"refresh_token": 1}}, 422),
        ("post", "/logout", {"json": {"refresh_token": "not-a-token"}}, 401),
        ("post", "/api-keys", {"json": {"name": "n" * 1000}, "headers": bearer(token)}, 422),
        ("post", "/api-keys", {"json": {"name": 7}, "headers": bearer(token)}, 422),
        ("post", "/api-keys", {"data": "{", "headers": {**bearer(token), "Content-Type": "application/json"}}, 400),
        ("post", "/users", {"json": {"email": ["a"], "password": "long-enough"}, "headers": bearer(token)}, 422),
        ("post", "/users", {"json": {"email": "a@b.c", "password": "p" * 100}, "headers": bearer(token)}, 422),
        ("post", "/users", {"json": {"email": "a@b.c", "password": "long-enough", "roles": "admin"},
                            "headers": bearer(token)}, 422),
    ]
    for method, path, kwargs, status in cases:
        r = getattr(requests, method)(auth + path, **kwargs)
        assert r.status_code == status, (method, path, r.status_code, r.text[:200])
        if status >= 400:
            assert r.headers["Content-Type"] == "application/problem+json"
    assert login(security).status_code == 200  # still serving, nothing broken


def raw_request(svc, head):
    """`head` sent as bytes, as written: requests would normalise a path's dot segments first."""
    import socket
    port = int(svc.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head.encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def test_dot_segments_in_a_path_reach_no_other_route(security):
    token = admin_token(security)
    created = requests.post(security.url + AUTH + "/api-keys", json={"name": "kept"}, headers=bearer(token)).json()
    for path in ("/api-keys/../../users", "/api-keys/..%2F..%2Fusers", "/api-keys/%2e%2e", "/api-keys/..",
                 f"/api-keys/{created['id']}/../{created['id']}", "/api-keys/./" + created["id"]):
        head = (f"DELETE {AUTH}{path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                "Connection: close\r\n\r\n")
        assert raw_request(security, head) == 404, path
    # The key is still there, and still works.
    me = requests.get(security.url + AUTH + "/me", headers={"X-API-Key": created["key"]}, timeout=5)
    assert me.status_code == 200


def new_user(svc, admin, email, roles=("user",)):
    r = requests.post(svc.url + AUTH + "/users", json={"email": email, "password": "long-enough-1",
                                                       "roles": list(roles)}, headers=bearer(admin))
    assert r.status_code == 201, r.text
    return r.json()["id"], login(svc, email, "long-enough-1").json()["access_token"]


def test_api_keys_need_a_users_token_to_make_and_rotate(security):
    keys = security.url + AUTH + "/api-keys"
    token = admin_token(security)
    created = requests.post(keys, json={"name": "ci"}, headers=bearer(token)).json()
    as_key = {"X-API-Key": created["key"]}
    r = requests.post(keys, json={"name": "child"}, headers=as_key)
    assert r.status_code == 403 and "access token" in r.json()["detail"], r.text
    assert requests.post(f"{keys}/{created['id']}/rotate", headers=as_key).status_code == 403
    listed = requests.get(keys, headers=bearer(token)).json()["keys"]
    assert [k["name"] for k in listed] == ["ci"]  # nothing was made


def test_owners_list_their_keys_and_only_theirs(security):
    keys = security.url + AUTH + "/api-keys"
    admin = admin_token(security)
    user_id, user = new_user(security, admin, "lister@example.com")
    mine = requests.post(keys, json={"name": "laptop", "expires_in_days": 30}, headers=bearer(user)).json()
    requests.post(keys, json={"name": "admin's"}, headers=bearer(admin))
    r = requests.get(keys, headers=bearer(user))
    assert r.status_code == 200
    listed = r.json()["keys"]
    assert [(k["id"], k["name"], k["status"], k["user_id"]) for k in listed] == [
        (mine["id"], "laptop", "active", user_id)]
    assert listed[0]["expires_at"] == mine["expires_at"] and mine["expires_at"] is not None
    assert "key" not in listed[0] and "hash" not in listed[0] and mine["key"] not in r.text
    # Another user's keys: only with users:read.
    assert requests.get(keys, params={"user_id": "someone"}, headers=bearer(user)).status_code == 403
    theirs = requests.get(keys, params={"user_id": user_id}, headers=bearer(admin)).json()["keys"]
    assert [k["id"] for k in theirs] == [mine["id"]]
    for bad in ({"expires_in_days": 0}, {"expires_in_days": 4000}, {"expires_in_days": "7"}):
        assert requests.post(keys, json=bad, headers=bearer(user)).status_code == 422, bad
    for bad in ("", "x" * 129):  # empty, oversized
        assert requests.get(keys, params={"user_id": bad}, headers=bearer(admin)).status_code == 422, bad
    hostile = requests.get(keys, params={"user_id": "' OR '1'='1"}, headers=bearer(admin))
    assert hostile.status_code == 200 and hostile.json()["keys"] == []  # a parameter, not SQL


def test_a_rotated_or_expired_key_is_not_rotated_again(start_service, tmp_path):
    import sqlite3
    svc = start_service("security", JWT_SECRET_KEY=SECRET, SECURITY_ADMIN_EMAIL=ADMIN[0],
                        SECURITY_ADMIN_PASSWORD=ADMIN[1], SECURITY_BCRYPT_COST="4")
    keys = svc.url + AUTH + "/api-keys"
    token = admin_token(svc)
    first = requests.post(keys, json={"name": "a", "expires_in_days": 10}, headers=bearer(token)).json()
    rotated = requests.post(f"{keys}/{first['id']}/rotate", headers=bearer(token))
    assert rotated.status_code == 201
    # The successor keeps the old key's expiry: rotation swaps a secret, it does not extend it.
    assert rotated.json()["expires_at"] == first["expires_at"]
    again = requests.post(f"{keys}/{first['id']}/rotate", headers=bearer(token))
    assert again.status_code == 409 and rotated.json()["id"] in again.json()["detail"]
    statuses = {k["id"]: k["status"] for k in requests.get(keys, headers=bearer(token)).json()["keys"]}
    assert statuses == {first["id"]: "expiring", rotated.json()["id"]: "active"}
    # Ten days on (the clock moved by editing the row): the successor has expired.
    successor = rotated.json()
    with sqlite3.connect(tmp_path / "data" / "security.db") as db:
        db.execute("UPDATE api_keys SET expires_at = ? WHERE id = ?", (int(time.time()) - 1, successor["id"]))
    assert requests.get(svc.url + AUTH + "/me", headers={"X-API-Key": successor["key"]}).status_code == 401
    r = requests.post(f"{keys}/{successor['id']}/rotate", headers=bearer(token))
    assert r.status_code == 409 and "expired" in r.json()["detail"]
    assert requests.get(svc.url + AUTH + "/me", headers={"X-API-Key": successor["key"]}).status_code == 401


def test_two_rotations_at_once_make_one_successor(security):
    from concurrent.futures import ThreadPoolExecutor
    keys = security.url + AUTH + "/api-keys"
    token = admin_token(security)
    for _ in range(5):
        created = requests.post(keys, json={}, headers=bearer(token)).json()
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: requests.post(f"{keys}/{created['id']}/rotate", headers=bearer(token)),
                                    range(4)))
        assert sorted(a.status_code for a in answers) == [201, 409, 409, 409], [a.text for a in answers]


def audit(svc, token, **params):
    r = requests.get(svc.url + AUTH + "/audit", params=params, headers=bearer(token), timeout=5)
    assert r.status_code == 200, r.text
    return r.json()["entries"]


def test_the_audit_log_records_who_did_what_from_where(security):
    admin_id = requests.get(security.url + AUTH + "/me", headers=bearer(admin_token(security))).json()["user_id"]
    assert login(security, ADMIN[0], "wrong-password").status_code == 401
    r = requests.post(security.url + AUTH + "/login", json={"email": ADMIN[0], "password": ADMIN[1]},
                      headers={"X-Request-ID": "req-audit-login"})
    tokens = r.json()
    admin = tokens["access_token"]
    refreshed = requests.post(security.url + AUTH + "/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    assert requests.post(security.url + AUTH + "/refresh",
                         json={"refresh_token": tokens["refresh_token"]}).status_code == 401  # reuse
    user_id, _ = new_user(security, admin, "audited@example.com")
    key = requests.post(security.url + AUTH + "/api-keys", json={"name": "k"}, headers=bearer(admin)).json()
    rotated = requests.post(f"{security.url}{AUTH}/api-keys/{key['id']}/rotate", headers=bearer(admin)).json()
    requests.delete(f"{security.url}{AUTH}/api-keys/{rotated['id']}", headers=bearer(admin))

    entries = audit(security, admin, limit=500)
    actions = [(e["action"], e["outcome"]) for e in reversed(entries)]
    for expected in [("login", "failure"), ("login", "success"), ("token.refresh", "success"),
                     ("token.refresh", "reused"), ("user.create", "success"), ("api_key.create", "success"),
                     ("api_key.rotate", "success"), ("api_key.revoke", "success")]:
        assert expected in actions, (expected, actions)
    # In the order they happened (the new user's own login comes between).
    assert [a for a in actions if a[0] != "login"] == [
        ("token.refresh", "success"), ("token.refresh", "reused"), ("user.create", "success"),
        ("api_key.create", "success"), ("api_key.rotate", "success"), ("api_key.revoke", "success")]
    failed = audit(security, admin, action="login", outcome="failure")
    assert len(failed) == 1 and failed[0]["actor_id"] is None
    assert ADMIN[0] not in json.dumps(failed)  # the account's hash, never the email
    assert failed[0]["address"] == "127.0.0.1"
    logged_in = audit(security, admin, action="login", outcome="success")
    assert any(e["request_id"] == "req-audit-login" and e["actor_id"] == admin_id for e in logged_in)
    created = audit(security, admin, action="user.create")
    assert created[0]["subject"] == user_id and created[0]["actor_id"] == admin_id
    assert created[0]["detail"] == {"roles": ["user"]}
    assert audit(security, admin, action="api_key.rotate")[0]["detail"] == {"replaced_by": rotated["id"]}
    assert [e["action"] for e in audit(security, admin, subject=key["id"])] == ["api_key.rotate", "api_key.create"]
    # Pages: newest first, without overlap.
    everything = audit(security, admin, limit=500)
    pages = audit(security, admin, limit=3) + audit(security, admin, limit=3, offset=3)
    assert [e["id"] for e in pages] == [e["id"] for e in everything[:6]]
    since = everything[2]["at"]
    assert all(e["at"] >= since for e in audit(security, admin, since=since, limit=500))


def test_the_audit_log_is_for_admins_and_only_read(security):
    admin = admin_token(security)
    _, user = new_user(security, admin, "nosy@example.com")
    url = security.url + AUTH + "/audit"
    assert requests.get(url).status_code == 401
    assert requests.get(url, headers=bearer(user)).status_code == 403
    for params in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"since": "yesterday"}, {"until": "2026-13-45"},
                   {"action": "x" * 65}, {"limit": "ten"}):
        r = requests.get(url, params=params, headers=bearer(admin))
        assert r.status_code == 422, (params, r.text)
    before = len(audit(security, admin, limit=500))
    for method in ("put", "delete", "patch", "post"):
        assert getattr(requests, method)(url, headers=bearer(admin), json={}).status_code == 405, method
    assert len(audit(security, admin, limit=500)) == before
