"""Raptorflow's Authentication service (services/raptorflow/auth): sessions per device with
refresh rotation and reuse detection, TOTP checked against oathtool and pyotp (its QR code read
back by zbarimg from Chromium's rendering), step-up, admin user management, the OIDC provider
through authlib's client over the whole code flow with PKCE, and throttles and revocations that
hold across two replicas on PostgreSQL and Redis."""
import base64
import html
import json
import re
import shutil
import subprocess
import time
import urllib.parse

import pyotp
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt as jose_jwt
from authlib.common.security import generate_token

ADMIN_EMAIL, ADMIN_PASSWORD = "root@raptorflow.test", "correct horse battery 9"
CLIENT_SECRET = "s3cret-of-the-web-client"
REDIRECT = "http://127.0.0.1:9/callback"  # never contacted: the test reads the redirect
CLIENTS = json.dumps([
    {"client_id": "web", "client_secret": CLIENT_SECRET, "name": "Raptorflow Web",
     "redirect_uris": [REDIRECT]},
    {"client_id": "cli", "name": "Raptorflow CLI", "redirect_uris": [REDIRECT],
     "scopes": ["openid", "email"]},
])
BASE = dict(AUTH_ADMIN_EMAIL=ADMIN_EMAIL, AUTH_ADMIN_PASSWORD=ADMIN_PASSWORD, AUTH_BCRYPT_COST="4",
            AUTH_OIDC_CLIENTS=CLIENTS)


@pytest.fixture
def auth(start_service, tmp_path):
    return start_service("auth", DATA_DIR=tmp_path / "auth", **BASE)


def login(svc, email, password, device=None):
    body = {"email": email, "password": password}
    if device:
        body["device"] = device
    return requests.post(svc.url + "/api/v1/auth/login", json=body)


def bearer(token):
    return {"Authorization": "Bearer " + token}


def admin_token(svc):
    r = login(svc, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def add_user(svc, email, password="a good password 1", roles=("user",)):
    r = requests.post(svc.url + "/api/v1/auth/users", headers=bearer(admin_token(svc)),
                      json={"email": email, "password": password, "roles": list(roles)})
    assert r.status_code == 201, r.text
    return r.json()


def enrol_totp(svc, token):
    """Enrols TOTP for the token's user with a code from Debian's oathtool; returns the secret
    and the recovery codes."""
    begun = requests.post(svc.url + "/api/v1/auth/mfa/totp", headers=bearer(token))
    assert begun.status_code == 201, begun.text
    secret = begun.json()["secret"]
    # The previous step's code (the service takes one step either side for clock drift), so that
    # the current step's code is still unused for what the test does next. Crossing a step
    # boundary between the two calls moves the window: then once more.
    for _ in range(2):
        code = subprocess.run(["oathtool", "--totp", "-b", "-N", "30 seconds ago", secret],
                              capture_output=True, text=True, check=True).stdout.strip()
        done = requests.post(svc.url + "/api/v1/auth/mfa/totp/confirm", headers=bearer(token),
                             json={"code": code})
        if done.status_code != 422:
            break
    assert done.status_code == 200, done.text
    return secret, begun.json(), done.json()["recovery_codes"]


# --- sessions ----------------------------------------------------------------------------------

def test_sessions_per_device_rotation_and_reuse_detection(auth):
    add_user(auth, "ana@raptorflow.test")
    phone = login(auth, "ana@raptorflow.test", "a good password 1", "Ana's phone").json()
    laptop = login(auth, "ana@raptorflow.test", "a good password 1", "Ana's laptop").json()
    listed = requests.get(auth.url + "/api/v1/auth/sessions", headers=bearer(phone["access_token"]))
    assert listed.status_code == 200
    sessions = listed.json()["sessions"]
    assert [s["device"] for s in sessions] == ["Ana's laptop", "Ana's phone"]
    assert [s["current"] for s in sessions] == [False, True]
    assert sessions[1]["amr"] == ["pwd"] and sessions[1]["address"] == "127.0.0.1"

    # Rotation: each refresh answers a new refresh token; the old one is spent.
    first = phone["refresh_token"]
    rotated = requests.post(auth.url + "/api/v1/auth/refresh", json={"refresh_token": first})
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()["refresh_token"]
    assert second != first and rotated.json()["session_id"] == phone["session_id"]
    # The spent one again: a stolen token replayed. The session ends: the live refresh token and
    # the session's access tokens stop working too.
    replay = requests.post(auth.url + "/api/v1/auth/refresh", json={"refresh_token": first})
    assert replay.status_code == 401 and "used already" in replay.json()["detail"]
    assert requests.post(auth.url + "/api/v1/auth/refresh",
                         json={"refresh_token": second}).status_code == 401
    for token in (phone["access_token"], rotated.json()["access_token"]):
        assert requests.get(auth.url + "/api/v1/auth/me", headers=bearer(token)).status_code == 401
    assert requests.get(auth.url + "/api/v1/auth/me",
                        headers=bearer(laptop["access_token"])).status_code == 200

    # A session ended from another device: its tokens stop at once.
    tablet = login(auth, "ana@raptorflow.test", "a good password 1", "tablet").json()
    ended = requests.delete(f"{auth.url}/api/v1/auth/sessions/{tablet['session_id']}",
                            headers=bearer(laptop["access_token"]))
    assert ended.status_code == 204
    assert requests.get(auth.url + "/api/v1/auth/me",
                        headers=bearer(tablet["access_token"])).status_code == 401
    assert requests.post(auth.url + "/api/v1/auth/refresh",
                         json={"refresh_token": tablet["refresh_token"]}).status_code == 401
    # Another user's session id is not found, not ended.
    add_user(auth, "bo@raptorflow.test")
    bo = login(auth, "bo@raptorflow.test", "a good password 1").json()
    assert requests.delete(f"{auth.url}/api/v1/auth/sessions/{bo['session_id']}",
                           headers=bearer(laptop["access_token"])).status_code == 404
    assert requests.get(auth.url + "/api/v1/auth/me", headers=bearer(bo["access_token"])).status_code == 200

    # Logout ends the caller's session.
    assert requests.post(auth.url + "/api/v1/auth/logout",
                         headers=bearer(laptop["access_token"])).status_code == 204
    assert requests.get(auth.url + "/api/v1/auth/me",
                        headers=bearer(laptop["access_token"])).status_code == 401


def test_profile_edit_and_admin_user_management(auth):
    user = add_user(auth, "cy@raptorflow.test")
    cy = login(auth, "cy@raptorflow.test", "a good password 1").json()
    edit = requests.patch(auth.url + "/api/v1/auth/me", headers=bearer(cy["access_token"]),
                          json={"name": "Cy Young", "locale": "en-GB", "zoneinfo": "Europe/London"})
    assert edit.status_code == 200, edit.text
    assert edit.json()["profile"] == {"name": "Cy Young", "locale": "en-GB", "zoneinfo": "Europe/London"}
    for bad in ({"picture": "javascript:alert(1)"}, {"locale": "<script>"}, {"name": ""},
                {"name": 7}, {"zoneinfo": "x" * 65}):
        r = requests.patch(auth.url + "/api/v1/auth/me", headers=bearer(cy["access_token"]), json=bad)
        assert r.status_code == 422, (bad, r.text)
    assert requests.get(auth.url + "/api/v1/auth/me",
                        headers=bearer(cy["access_token"])).json()["profile"]["name"] == "Cy Young"

    admin = bearer(admin_token(auth))
    listed = requests.get(auth.url + "/api/v1/auth/users?limit=10", headers=admin).json()["users"]
    assert [u["email"] for u in listed] == [ADMIN_EMAIL, "cy@raptorflow.test"]
    assert requests.get(auth.url + "/api/v1/auth/users", headers=bearer(cy["access_token"])).status_code == 403
    assert requests.post(auth.url + "/api/v1/auth/users", headers=admin,
                         json={"email": "cy@raptorflow.test", "password": "another pass 1"}).status_code == 409
    assert requests.post(auth.url + "/api/v1/auth/users", headers=admin,
                         json={"email": "dee@raptorflow.test", "password": "another pass 1",
                               "roles": ["emperor"]}).status_code == 422

    # Disabling ends the user's sessions at once and refuses their logins.
    off = requests.patch(f"{auth.url}/api/v1/auth/users/{user['id']}", headers=admin,
                         json={"disabled": True, "roles": ["guest"]})
    assert off.status_code == 200 and off.json()["disabled"] is True and off.json()["roles"] == ["guest"]
    assert requests.get(auth.url + "/api/v1/auth/me", headers=bearer(cy["access_token"])).status_code == 401
    assert login(auth, "cy@raptorflow.test", "a good password 1").status_code == 403
    # A wrong password for a disabled account says nothing of its state.
    assert login(auth, "cy@raptorflow.test", "wrong password 1").status_code == 401
    on = requests.patch(f"{auth.url}/api/v1/auth/users/{user['id']}", headers=admin, json={"disabled": False})
    assert on.status_code == 200
    again = login(auth, "cy@raptorflow.test", "a good password 1")
    assert again.status_code == 200
    claims = json.loads(base64.urlsafe_b64decode(again.json()["access_token"].split(".")[1] + "=="))
    assert claims["roles"] == ["guest"] and claims["sid"] == again.json()["session_id"]

    audit = requests.get(auth.url + "/api/v1/auth/audit?action=user.update", headers=admin)
    assert audit.status_code == 200
    entries = audit.json()["entries"]
    assert [e["subject"] for e in entries] == [user["id"], user["id"]]
    assert entries[1]["detail"] == {"roles": ["guest"], "disabled": True}
    failures = requests.get(auth.url + "/api/v1/auth/audit?action=login&outcome=failure", headers=admin).json()
    assert len(failures["entries"]) == 1 and "cy@" not in json.dumps(failures)  # never the email
    assert requests.get(auth.url + "/api/v1/auth/audit", headers=bearer(again.json()["access_token"])).status_code == 403


# --- MFA ---------------------------------------------------------------------------------------

def test_totp_enrolment_login_replay_and_recovery_codes(auth, tmp_path):
    add_user(auth, "eve@raptorflow.test")
    token = login(auth, "eve@raptorflow.test", "a good password 1").json()["access_token"]
    secret, begun, recovery = enrol_totp(auth, token)
    uri = begun["otpauth_uri"]
    parsed = pyotp.parse_uri(uri)
    assert parsed.secret == secret and parsed.issuer == "Raptorflow" and parsed.name == "eve@raptorflow.test"
    assert len(recovery) == 10 and len(set(recovery)) == 10
    assert requests.get(auth.url + "/api/v1/auth/mfa", headers=bearer(token)).json() == \
        {"totp": "enabled", "recovery_codes_left": 10}
    assert requests.post(auth.url + "/api/v1/auth/mfa/totp", headers=bearer(token)).status_code == 409

    # The password alone no longer logs in: a second step with a code does.
    first = login(auth, "eve@raptorflow.test", "a good password 1", "phone")
    assert first.status_code == 200 and first.json()["mfa_required"] is True
    assert "access_token" not in first.json()
    mfa_token = first.json()["mfa_token"]
    code = pyotp.TOTP(secret).now()
    done = requests.post(auth.url + "/api/v1/auth/login/mfa", json={"mfa_token": mfa_token, "code": code})
    assert done.status_code == 200, done.text
    claims = json.loads(base64.urlsafe_b64decode(done.json()["access_token"].split(".")[1] + "=="))
    assert claims["amr"] == ["pwd", "otp"]
    # The same code again (seen over a shoulder): refused, on this step and every replica.
    mfa_token = login(auth, "eve@raptorflow.test", "a good password 1").json()["mfa_token"]
    replay = requests.post(auth.url + "/api/v1/auth/login/mfa", json={"mfa_token": mfa_token, "code": code})
    assert replay.status_code == 401
    # An access token is not an MFA token, nor the other way round.
    assert requests.post(auth.url + "/api/v1/auth/login/mfa",
                         json={"mfa_token": done.json()["access_token"], "code": "123456"}).status_code == 401
    assert requests.get(auth.url + "/api/v1/auth/me", headers=bearer(mfa_token)).status_code == 401
    # A recovery code works once, however it is typed.
    rc = recovery[0]
    ok = requests.post(auth.url + "/api/v1/auth/login/mfa",
                       json={"mfa_token": mfa_token, "recovery_code": rc.upper().replace("-", " ")})
    assert ok.status_code == 200, ok.text
    assert requests.post(auth.url + "/api/v1/auth/login/mfa",
                         json={"mfa_token": mfa_token, "recovery_code": rc}).status_code == 401
    assert requests.get(auth.url + "/api/v1/auth/mfa", headers=bearer(token)).json()["recovery_codes_left"] == 9
    # Malformed (422, nothing checked) or not a code (401, counted against the account).
    for bad, status in (({"mfa_token": mfa_token}, 422), ({"mfa_token": mfa_token, "code": "12345a"}, 401),
                        ({"mfa_token": mfa_token, "code": "123456", "recovery_code": "abcde-fghij"}, 422),
                        ({"mfa_token": "x", "code": 123456}, 422)):
        r = requests.post(auth.url + "/api/v1/auth/login/mfa", json=bad)
        assert r.status_code == status, (bad, r.text)


@pytest.mark.skipif(not shutil.which("chromium") or not shutil.which("zbarimg"),
                    reason="chromium and zbar-tools are installed by ./dev.sh")
def test_the_qr_code_a_browser_draws_reads_back_as_the_otpauth_uri(auth, tmp_path):
    add_user(auth, "fay@raptorflow.test")
    token = login(auth, "fay@raptorflow.test", "a good password 1").json()["access_token"]
    begun = requests.post(auth.url + "/api/v1/auth/mfa/totp", headers=bearer(token)).json()
    svg = requests.get(auth.url + begun["qr_svg"], headers=bearer(token))
    assert svg.status_code == 200 and svg.headers["Content-Type"] == "image/svg+xml"
    assert svg.headers["Cache-Control"] == "no-store"
    page = tmp_path / "qr.svg"
    page.write_bytes(svg.content)
    shot = tmp_path / "qr.png"
    browser = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               f"--user-data-dir={tmp_path / 'profile'}", "--window-size=600,600",
               f"--screenshot={shot}", page.as_uri()]
    ran = subprocess.run(browser, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0 and shot.exists(), ran.stderr[-2000:]
    read = subprocess.run(["zbarimg", "--quiet", "--raw", str(shot)], capture_output=True, text=True)
    assert read.returncode == 0, read.stderr
    assert read.stdout.strip() == begun["otpauth_uri"]


def test_step_up_guards_sensitive_operations(auth):
    add_user(auth, "gus@raptorflow.test")
    token = login(auth, "gus@raptorflow.test", "a good password 1").json()["access_token"]
    secret, _, _ = enrol_totp(auth, token)
    # The token proves a password only; turning TOTP off needs the second factor.
    refused = requests.delete(auth.url + "/api/v1/auth/mfa/totp", headers=bearer(token))
    assert refused.status_code == 401
    challenge = refused.headers["WWW-Authenticate"]
    assert 'error="insufficient_user_authentication"' in challenge and "max_age=300" in challenge
    assert requests.post(auth.url + "/api/v1/auth/step-up", headers=bearer(token),
                         json={"password": "a good password 1"}).status_code == 422
    assert requests.post(auth.url + "/api/v1/auth/step-up", headers=bearer(token),
                         json={"code": "000000"}).status_code == 401
    code = pyotp.TOTP(secret).now()
    stepped = requests.post(auth.url + "/api/v1/auth/step-up", headers=bearer(token), json={"code": code})
    assert stepped.status_code == 200, stepped.text
    fresh = stepped.json()["access_token"]
    assert requests.post(auth.url + "/api/v1/auth/mfa/recovery-codes", headers=bearer(fresh)).status_code == 200
    assert requests.delete(auth.url + "/api/v1/auth/mfa/totp", headers=bearer(fresh)).status_code == 204
    assert login(auth, "gus@raptorflow.test", "a good password 1").json().get("mfa_required") is None
    # Without TOTP, step-up takes the password.
    assert requests.post(auth.url + "/api/v1/auth/step-up", headers=bearer(token),
                         json={"password": "a good password 1"}).status_code == 200


def test_failed_codes_lock_the_account_for_a_while(start_service, tmp_path):
    svc = start_service("auth", DATA_DIR=tmp_path / "auth", AUTH_MFA_FAILURES="3", **BASE)
    add_user(svc, "hal@raptorflow.test")
    token = login(svc, "hal@raptorflow.test", "a good password 1").json()["access_token"]
    secret, _, _ = enrol_totp(svc, token)
    mfa_token = login(svc, "hal@raptorflow.test", "a good password 1").json()["mfa_token"]
    statuses = [requests.post(svc.url + "/api/v1/auth/login/mfa",
                              json={"mfa_token": mfa_token, "code": "000000"}).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    # Locked: even the right code waits.
    r = requests.post(svc.url + "/api/v1/auth/login/mfa", json={"mfa_token": mfa_token,
                                                               "code": pyotp.TOTP(secret).now()})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0


# --- OIDC provider -----------------------------------------------------------------------------

def hidden_inputs(page):
    return {html.unescape(m.group(1)): html.unescape(m.group(2))
            for m in re.finditer(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', page)}


def sign_in(browser, svc, authorize_url, email, password, consent="allow", code=None):
    """What a person does in a browser: the login page, the code, the consent page. Returns the
    redirect's Location."""
    page = browser.get(authorize_url, allow_redirects=False)
    if page.status_code == 302:
        return page.headers["Location"]
    assert page.status_code == 200 and "Sign in" in page.text, page.text[:500]
    form = hidden_inputs(page.text)
    form.update(email=email, password=password)
    page = browser.post(svc.url + "/oauth2/authorize", data=form, allow_redirects=False)
    if "Two-step verification" in page.text:
        form = hidden_inputs(page.text)
        form["code"] = code()
        page = browser.post(svc.url + "/oauth2/authorize", data=form, allow_redirects=False)
    if page.status_code == 302:
        return page.headers["Location"]
    assert "Allow access?" in page.text, page.text[:500]
    form = hidden_inputs(page.text)
    form["decision"] = consent
    page = browser.post(svc.url + "/oauth2/authorize", data=form, allow_redirects=False)
    assert page.status_code == 302, page.text[:500]
    return page.headers["Location"]


def test_the_code_flow_with_authlib(auth):
    add_user(auth, "ivy@raptorflow.test")
    discovery = requests.get(auth.url + "/.well-known/openid-configuration").json()
    assert discovery["issuer"] == auth.url and discovery["code_challenge_methods_supported"] == ["S256"]
    client = OAuth2Session("web", CLIENT_SECRET, scope="openid email profile offline_access",
                           redirect_uri=REDIRECT, code_challenge_method="S256")
    verifier = generate_token(48)
    nonce = generate_token(20)
    url, state = client.create_authorization_url(discovery["authorization_endpoint"],
                                                 code_verifier=verifier, nonce=nonce)
    browser = requests.Session()
    location = sign_in(browser, auth, url, "ivy@raptorflow.test", "a good password 1")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    assert query["state"] == [state] and query["iss"] == [auth.url]
    token = client.fetch_token(discovery["token_endpoint"], authorization_response=location,
                               code_verifier=verifier)
    assert token["token_type"] == "Bearer" and "refresh_token" in token

    jwks = JsonWebKey.import_key_set(requests.get(discovery["jwks_uri"]).json())
    claims = jose_jwt.decode(token["id_token"], jwks,
                             claims_options={"iss": {"essential": True, "value": auth.url},
                                             "aud": {"essential": True, "value": "web"},
                                             "nonce": {"essential": True, "value": nonce}})
    claims.validate()
    assert claims["email"] == "ivy@raptorflow.test" and claims["amr"] == ["pwd"]
    assert claims.header["alg"] == "ES256"
    info = client.get(discovery["userinfo_endpoint"])
    assert info.status_code == 200 and info.json()["sub"] == claims["sub"]
    assert info.json()["email"] == "ivy@raptorflow.test"

    # The code works once; its second use ends the session it made.
    again = requests.post(discovery["token_endpoint"], auth=("web", CLIENT_SECRET),
                          data={"grant_type": "authorization_code",
                                "code": query["code"][0], "redirect_uri": REDIRECT,
                                "code_verifier": verifier})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert client.get(discovery["userinfo_endpoint"]).status_code == 401

    # A second sign-in: the browser is signed in and the consent remembered — straight back.
    client = OAuth2Session("web", CLIENT_SECRET, scope="openid email offline_access",
                           redirect_uri=REDIRECT, code_challenge_method="S256")
    verifier = generate_token(48)
    url, _ = client.create_authorization_url(discovery["authorization_endpoint"], code_verifier=verifier)
    direct = browser.get(url, allow_redirects=False)
    assert direct.status_code == 302 and direct.headers["Location"].startswith(REDIRECT + "?code=")
    token = client.fetch_token(discovery["token_endpoint"],
                               authorization_response=direct.headers["Location"], code_verifier=verifier)
    old_refresh = token["refresh_token"]
    renewed = client.refresh_token(discovery["token_endpoint"], refresh_token=old_refresh)
    assert renewed["refresh_token"] != old_refresh and "id_token" in renewed
    replay = requests.post(discovery["token_endpoint"], auth=("web", CLIENT_SECRET),
                           data={"grant_type": "refresh_token", "refresh_token": old_refresh})
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert requests.get(discovery["userinfo_endpoint"],
                        headers=bearer(renewed["access_token"])).status_code == 401
    # Both client sessions ended (the code reuse, the refresh replay); the browser's stays.
    ivy = login(auth, "ivy@raptorflow.test", "a good password 1").json()
    devices = [s["device"] for s in requests.get(auth.url + "/api/v1/auth/sessions",
                                                 headers=bearer(ivy["access_token"])).json()["sessions"]]
    assert "oidc: Raptorflow Web" not in devices
    assert sum(d.startswith("browser: ") for d in devices) == 1


def test_a_public_client_with_pkce_and_what_the_provider_refuses(auth):
    add_user(auth, "jo@raptorflow.test")
    endpoint = auth.url + "/oauth2/authorize"
    verifier = generate_token(48)
    challenge = base64.urlsafe_b64encode(__import__("hashlib").sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {"response_type": "code", "client_id": "cli", "redirect_uri": REDIRECT, "scope": "openid email",
              "state": "s1", "code_challenge": challenge, "code_challenge_method": "S256"}
    browser = requests.Session()
    location = sign_in(browser, auth, endpoint + "?" + urllib.parse.urlencode(params), "jo@raptorflow.test",
                       "a good password 1")
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
    token_url = auth.url + "/oauth2/token"
    wrong = requests.post(token_url, data={"grant_type": "authorization_code", "client_id": "cli", "code": code,
                                           "redirect_uri": REDIRECT, "code_verifier": generate_token(48)})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    # The wrong verifier spent the code (it works once, whoever tried it).
    right = requests.post(token_url, data={"grant_type": "authorization_code", "client_id": "cli",
                                           "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier})
    assert right.status_code == 400

    location = sign_in(browser, auth, endpoint + "?" + urllib.parse.urlencode(params), "jo@raptorflow.test",
                       "a good password 1")
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
    right = requests.post(token_url, data={"grant_type": "authorization_code", "client_id": "cli",
                                           "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier})
    assert right.status_code == 200, right.text
    assert "refresh_token" not in right.json()  # offline_access was not asked for
    assert right.headers["Cache-Control"] == "no-store"

    # Refused before any redirect: an unknown client, a redirect URI not registered.
    for bad in ({"client_id": "nobody"}, {"redirect_uri": "https://evil.example/cb"}):
        r = browser.get(endpoint + "?" + urllib.parse.urlencode({**params, **bad}), allow_redirects=False)
        assert r.status_code == 400 and "Location" not in r.headers and "<script" not in r.text
    # Refused back to the client: no PKCE, plain PKCE, a scope the client may not have, a
    # response type other than code.
    for bad, error in (({"code_challenge": ""}, "invalid_request"),
                       ({"code_challenge_method": "plain"}, "invalid_request"),
                       ({"scope": "openid profile"}, "invalid_scope"),
                       ({"response_type": "token"}, "unsupported_response_type")):
        r = browser.get(endpoint + "?" + urllib.parse.urlencode({**params, **bad}), allow_redirects=False)
        assert r.status_code == 302, (bad, r.text[:300])
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(r.headers["Location"]).query)
        assert q["error"] == [error] and q["state"] == ["s1"], bad
    # A form posted without the page's CSRF token is refused.
    forged = requests.post(endpoint, data={**params, "step": "login", "email": "jo@raptorflow.test",
                                           "password": "a good password 1"}, allow_redirects=False)
    assert forged.status_code == 400 and "Set-Cookie" not in forged.headers
    # The token endpoint: a client secret that is wrong, a body that is not a form.
    assert requests.post(token_url, auth=("web", "wrong secret of length"),
                         data={"grant_type": "refresh_token", "refresh_token": "x"}).status_code == 401
    assert requests.post(token_url, json={"grant_type": "authorization_code"}).json()["error"] == "invalid_request"
    assert requests.post(token_url, data="grant_type=a&grant_type=b",
                         headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 400
    assert requests.post(token_url, data={"grant_type": "password", "client_id": "cli"}).json()["error"] == \
        "unsupported_grant_type"


def test_a_user_with_totp_signs_in_to_a_client_with_the_code(auth):
    add_user(auth, "kit@raptorflow.test")
    token = login(auth, "kit@raptorflow.test", "a good password 1").json()["access_token"]
    secret, _, _ = enrol_totp(auth, token)
    client = OAuth2Session("web", CLIENT_SECRET, scope="openid", redirect_uri=REDIRECT,
                           code_challenge_method="S256")
    verifier = generate_token(48)
    url, _ = client.create_authorization_url(auth.url + "/oauth2/authorize", code_verifier=verifier)
    location = sign_in(requests.Session(), auth, url, "kit@raptorflow.test", "a good password 1",
                       code=pyotp.TOTP(secret).now)
    token = client.fetch_token(auth.url + "/oauth2/token", authorization_response=location,
                               code_verifier=verifier)
    claims = json.loads(base64.urlsafe_b64decode(token["id_token"].split(".")[1] + "=="))
    assert claims["amr"] == ["pwd", "otp"]


# --- replicas ----------------------------------------------------------------------------------

def test_two_replicas_share_throttles_sessions_and_revocations(start_service, tmp_path, postgres_server,
                                                               redis_server):
    shared = dict(DATABASE_URL=postgres_server.create_database("auth_replicas"), REDIS_URL=redis_server.url,
                  AUTH_ACCOUNT_FAILURES="4", AUTH_KEK="ab" * 32, **BASE)
    a = start_service("auth", DATA_DIR=tmp_path / "a", **shared)
    b = start_service("auth", DATA_DIR=tmp_path / "b", **shared)
    add_user(a, "lee@raptorflow.test")
    # Four failures spread over the two replicas lock the account on both.
    statuses = [login(svc, "lee@raptorflow.test", "wrong password 1").status_code for svc in (a, b, a, b)]
    assert statuses == [401] * 4
    assert login(b, "lee@raptorflow.test", "a good password 1").status_code == 429
    assert login(a, "lee@raptorflow.test", "a good password 1").status_code == 429
    redis_server.cli("DEL", *[k for k in redis_server.cli("KEYS", "auth:failures:*").split()])

    # A session made on one replica, refreshed on the other, ended on the first: the other
    # refuses its tokens at once.
    made = login(a, "lee@raptorflow.test", "a good password 1").json()
    refreshed = requests.post(b.url + "/api/v1/auth/refresh", json={"refresh_token": made["refresh_token"]})
    assert refreshed.status_code == 200
    access = refreshed.json()["access_token"]
    assert requests.get(b.url + "/api/v1/auth/me", headers=bearer(access)).status_code == 200
    assert requests.post(a.url + "/api/v1/auth/logout", headers=bearer(made["access_token"])).status_code == 204
    deadline = time.monotonic() + 2
    while requests.get(b.url + "/api/v1/auth/me", headers=bearer(access)).status_code != 401:
        assert time.monotonic() < deadline, "the other replica still takes the ended session's token"
        time.sleep(0.02)
    assert requests.post(b.url + "/api/v1/auth/refresh",
                         json={"refresh_token": refreshed.json()["refresh_token"]}).status_code == 401
    # TOTP enrolled on one replica (sealed with the shared key) is checked by the other.
    token = login(a, "lee@raptorflow.test", "a good password 1").json()["access_token"]
    secret, _, _ = enrol_totp(a, token)
    mfa = login(b, "lee@raptorflow.test", "a good password 1").json()["mfa_token"]
    done = requests.post(b.url + "/api/v1/auth/login/mfa", json={"mfa_token": mfa, "code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200, done.text


def test_hostile_input_gets_clear_errors(auth):
    url = auth.url + "/api/v1/auth/login"
    cases = [
        (b"{", "application/json", 400),
        (b'{"email": 1, "password": "x"}', "application/json", 422),
        (b'{"email": "a@b.c"}', "application/json", 422),
        (json.dumps({"email": "a@b.c", "password": "x" * 2000}).encode(), "application/json", 422),
        (b"email=a&password=b", "application/x-www-form-urlencoded", 415),
    ]
    for body, ctype, status in cases:
        r = requests.post(url, data=body, headers={"Content-Type": ctype})
        assert r.status_code == status, (body[:40], r.status_code, r.text)
    for token, status in (("x", 401), ("a.b.c", 401), ("e" * 9000, 422)):  # 9000: over the 8 KiB bound
        r = requests.post(auth.url + "/api/v1/auth/refresh", json={"refresh_token": token})
        assert r.status_code == status, r.text
    r = requests.get(auth.url + "/oauth2/authorize?client_id=web&client_id=web")
    assert r.status_code == 400
    r = requests.get(auth.url + "/oauth2/authorize?%zz=1")
    assert r.status_code == 400
    r = requests.get(auth.url + "/oauth2/userinfo", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    # Nothing hostile made it into a page: the Host is not echoed as an issuer either.
    r = requests.get(auth.url + "/.well-known/openid-configuration", headers={"Host": "evil\"<x>"})
    assert r.status_code == 200 and r.json()["issuer"] == "http://localhost" and "<x>" not in r.text


# --- social login ------------------------------------------------------------------------------

def social_pair(start_service, tmp_path):
    """Two instances: `partner` as the external OIDC provider, `here` signing users in with it.
    Returns (here, partner, here_url, partner_url, callback)."""
    from conftest import free_port
    here_port, partner_port = free_port(), free_port()
    here_url, partner_url = f"http://127.0.0.1:{here_port}", f"http://127.0.0.1:{partner_port}"
    callback = here_url + "/api/v1/auth/social/partner/callback"
    partner = start_service("auth", PORT=partner_port, DATA_DIR=tmp_path / "partner",
                            **{**BASE, "AUTH_OIDC_ISSUER": partner_url,
                               "AUTH_OIDC_CLIENTS": json.dumps([{"client_id": "raptorflow",
                                                                 "client_secret": "partner-secret-for-rf",
                                                                 "redirect_uris": [callback]}])})
    providers = [{"name": "partner", "issuer": partner_url, "client_id": "raptorflow",
                  "client_secret": "partner-secret-for-rf"}]
    here = start_service("auth", PORT=here_port, DATA_DIR=tmp_path / "here", AUTH_OIDC_ISSUER=here_url,
                         AUTH_SOCIAL_PROVIDERS=json.dumps(providers), **BASE)
    return here, partner, here_url, partner_url, callback


def test_social_login_against_a_second_instance_as_the_external_provider(start_service, tmp_path):
    here, partner, here_url, partner_url, callback = social_pair(start_service, tmp_path)
    add_user(partner, "zed@partner.test")
    browser = requests.Session()

    def social_sign_in():
        start = browser.get(here_url + "/api/v1/auth/social/partner/start?device=Zed's laptop",
                            allow_redirects=False)
        assert start.status_code == 302 and start.headers["Location"].startswith(partner_url + "/oauth2/authorize?")
        back = sign_in(browser, partner, start.headers["Location"], "zed@partner.test", "a good password 1")
        assert back.startswith(callback + "?code=")
        return browser.get(back)

    done = social_sign_in()
    assert done.status_code == 200, done.text
    tokens = done.json()
    me = requests.get(here_url + "/api/v1/auth/me", headers=bearer(tokens["access_token"])).json()
    assert me["email"] == "zed@partner.test" and me["roles"] == ["user"]
    claims = json.loads(base64.urlsafe_b64decode(tokens["access_token"].split(".")[1] + "=="))
    assert claims["amr"] == ["fed"]
    sessions = requests.get(here_url + "/api/v1/auth/sessions", headers=bearer(tokens["access_token"])).json()
    assert sessions["sessions"][0]["device"] == "Zed's laptop"
    # The second time: the same account (linked by the partner's subject), no password here.
    again = social_sign_in()
    assert again.status_code == 200
    assert requests.get(here_url + "/api/v1/auth/me",
                        headers=bearer(again.json()["access_token"])).json()["id"] == me["id"]
    assert login(here, "zed@partner.test", "a good password 1").status_code == 401

    # A callback replayed, forged, or for a state never issued.
    replay = browser.get(done.url)
    assert replay.status_code == 400 and "used state" in replay.json()["detail"]
    assert browser.get(callback + "?code=x&state=nope").status_code == 400
    assert browser.get(here_url + "/api/v1/auth/social/elsewhere/start").status_code == 404
    # The partner refusing (the user denied consent) is a clear 401, not a 500.
    start = browser.get(here_url + "/api/v1/auth/social/partner/start", allow_redirects=False)
    state = urllib.parse.parse_qs(urllib.parse.urlsplit(start.headers["Location"]).query)["state"][0]
    denied = browser.get(f"{callback}?error=access_denied&state={state}")
    assert denied.status_code == 401 and "access_denied" in denied.json()["detail"]


def test_an_unverified_email_does_not_take_over_a_local_account(start_service, tmp_path):
    here, partner, here_url, partner_url, callback = social_pair(start_service, tmp_path)
    # The victim's account here; the attacker registers the same address at the partner, which
    # does not verify emails (it says email_verified: false).
    victim = add_user(here, "victim@raptorflow.test")
    add_user(partner, "victim@raptorflow.test", password="attacker password 1")
    browser = requests.Session()
    start = browser.get(here_url + "/api/v1/auth/social/partner/start", allow_redirects=False)
    back = sign_in(browser, partner, start.headers["Location"], "victim@raptorflow.test", "attacker password 1")
    refused = browser.get(back)
    assert refused.status_code == 409, refused.text
    admin = bearer(admin_token(here))
    users = requests.get(here_url + "/api/v1/auth/users", headers=admin).json()["users"]
    assert [u["id"] for u in users if u["email"] == "victim@raptorflow.test"] == [victim["id"]]


# --- what an attacker's read found -------------------------------------------------------------

def test_a_stale_login_cannot_grant_access_or_enrol_an_authenticator(start_service, tmp_path):
    svc = start_service("auth", DATA_DIR=tmp_path / "auth", AUTH_STEP_UP_MAX_AGE="1", **BASE)
    admin = admin_token(svc)
    add_user(svc, "mo@raptorflow.test")
    mo = login(svc, "mo@raptorflow.test", "a good password 1").json()["access_token"]
    time.sleep(2.2)  # both logins are older than AUTH_STEP_UP_MAX_AGE now
    made = requests.post(svc.url + "/api/v1/auth/users", headers=bearer(admin),
                         json={"email": "x@raptorflow.test", "password": "a good password 1", "roles": ["admin"]})
    assert made.status_code == 401 and "insufficient_user_authentication" in made.headers["WWW-Authenticate"]
    users = requests.get(svc.url + "/api/v1/auth/users", headers=bearer(admin)).json()["users"]
    assert "x@raptorflow.test" not in [u["email"] for u in users]
    assert requests.post(svc.url + "/api/v1/auth/mfa/totp", headers=bearer(mo)).status_code == 401
    assert requests.get(svc.url + "/api/v1/auth/mfa", headers=bearer(mo)).json()["totp"] == "off"
    # Proving the password again makes both possible.
    fresh = requests.post(svc.url + "/api/v1/auth/step-up", headers=bearer(mo),
                          json={"password": "a good password 1"}).json()["access_token"]
    assert requests.post(svc.url + "/api/v1/auth/mfa/totp", headers=bearer(fresh)).status_code == 201
    # A password bcrypt would cut or stop early at is refused, not half-hashed.
    fresh_admin = requests.post(svc.url + "/api/v1/auth/step-up", headers=bearer(admin),
                                json={"password": ADMIN_PASSWORD}).json()["access_token"]
    for bad in ("nul\u0000byte password", "é" * 40):
        r = requests.post(svc.url + "/api/v1/auth/users", headers=bearer(fresh_admin),
                          json={"email": "y@raptorflow.test", "password": bad})
        assert r.status_code == 422, r.text


def test_a_clients_token_and_a_session_id_are_not_the_users_keys(auth):
    # The admin signs in to a public client: its token carries the scope, not the admin's roles.
    endpoint = auth.url + "/oauth2/authorize"
    verifier = generate_token(48)
    challenge = base64.urlsafe_b64encode(__import__("hashlib").sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {"response_type": "code", "client_id": "cli", "redirect_uri": REDIRECT, "scope": "openid email",
              "code_challenge": challenge, "code_challenge_method": "S256"}
    location = sign_in(requests.Session(), auth, endpoint + "?" + urllib.parse.urlencode(params), ADMIN_EMAIL,
                       ADMIN_PASSWORD)
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
    token = requests.post(auth.url + "/oauth2/token",
                          data={"grant_type": "authorization_code", "client_id": "cli", "code": code,
                                "redirect_uri": REDIRECT, "code_verifier": verifier}).json()["access_token"]
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert "roles" not in claims and "permissions" not in claims and set(claims["scope"].split()) == {"openid", "email"}
    for method, path in (("GET", "/api/v1/auth/users"), ("GET", "/api/v1/auth/me"),
                         ("GET", "/api/v1/auth/sessions"), ("POST", "/api/v1/auth/mfa/totp")):
        assert requests.request(method, auth.url + path, headers=bearer(token)).status_code == 403, path
    assert requests.get(auth.url + "/oauth2/userinfo", headers=bearer(token)).status_code == 200

    # A session id (in every token, in the session list) does not sign a browser in.
    api = login(auth, ADMIN_EMAIL, ADMIN_PASSWORD).json()
    browser = requests.Session()
    for value in (api["session_id"], api["session_id"] + ".guess"):
        browser.cookies.set("rf_auth", value, path="/oauth2")
        page = browser.get(endpoint + "?" + urllib.parse.urlencode(params), allow_redirects=False)
        assert page.status_code == 200 and "Sign in" in page.text


def test_the_sign_in_form_is_rate_limited_per_address(start_service, tmp_path):
    svc = start_service("auth", DATA_DIR=tmp_path / "auth", AUTH_LOGIN_LIMIT="3", **BASE)
    params = {"response_type": "code", "client_id": "cli", "redirect_uri": REDIRECT, "scope": "openid",
              "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"}
    browser = requests.Session()
    page = browser.get(svc.url + "/oauth2/authorize?" + urllib.parse.urlencode(params))
    form = hidden_inputs(page.text)
    statuses = [browser.post(svc.url + "/oauth2/authorize", data={**form, "email": "a@b.c", "password": "wrong"},
                             allow_redirects=False).status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
