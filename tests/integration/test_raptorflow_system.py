"""Raptorflow as `./dev.sh run raptorflow` starts it: every service in one process (build/bin/
raptorflow), the gateway in front with services/gateway/config/raptorflow-local.json, and the
monolith's stand-in (tools/raptorflow_monolith.py) behind the catch-all — driven the way the
README's first session is: a login with MFA, a flag evaluated, an agent run streamed, its
notification received, all through the gateway."""
import json
import os
import pathlib
import subprocess
import sys
import time
import urllib.parse

import pyotp
import pytest
import requests

from conftest import free_port

ROOT = pathlib.Path(__file__).parents[2]
ADMIN = ("admin@raptorflow.local", "correct horse battery 9")


@pytest.fixture
def system(start_service, tmp_path):
    monolith_port = free_port()
    monolith = subprocess.Popen([sys.executable, str(ROOT / "tools" / "raptorflow_monolith.py"), str(monolith_port)])
    kek = tmp_path / "kek"
    kek.write_text(os.urandom(32).hex() + "\n")
    gateway_port = free_port()
    services = start_service("raptorflow", DATA_DIR=tmp_path / "data", AUTH_ADMIN_EMAIL=ADMIN[0],
                             AUTH_ADMIN_PASSWORD=ADMIN[1], AUTH_BCRYPT_COST="4", CONFIG_KEK_FILE=kek,
                             AUTH_OIDC_ISSUER=f"http://127.0.0.1:{gateway_port}", TRUSTED_PROXIES="127.0.0.1",
                             NOTIFY_LINK_SECRET="l" * 32, AUTH_OIDC_CLIENTS=json.dumps([
                                 {"client_id": "web", "name": "Raptorflow Web",
                                  "redirect_uris": ["http://localhost:3000/callback"]}]))
    document = json.loads((ROOT / "services" / "gateway" / "config" / "raptorflow-local.json").read_text())
    document["upstreams"]["raptorflow"]["targets"] = [services.url]  # 8300 in the file
    document["upstreams"]["monolith"]["targets"] = [f"http://127.0.0.1:{monolith_port}"]
    routes = tmp_path / "raptorflow-local.json"
    routes.write_text(json.dumps(document))
    gateway = start_service("gateway", GATEWAY_ROUTES=routes, PORT=gateway_port)
    deadline = time.monotonic() + 10
    while requests.get(gateway.url + "/api/v1/legacy").status_code == 503:  # health checks
        assert time.monotonic() < deadline
        time.sleep(0.1)
    yield gateway
    monolith.terminate()
    monolith.wait(timeout=10)


def bearer(token):
    return {"Authorization": "Bearer " + token}


def test_a_first_session_through_the_gateway(system):
    gw = system.url
    # Log in, turn on a second factor (the code from Debian's oathtool), log in with it.
    first = requests.post(gw + "/api/v1/auth/login", json={"email": ADMIN[0], "password": ADMIN[1]})
    assert first.status_code == 200, first.text
    token = first.json()["access_token"]
    begun = requests.post(gw + "/api/v1/auth/mfa/totp", headers=bearer(token))
    assert begun.status_code == 201, begun.text
    secret = begun.json()["secret"]
    code = subprocess.run(["oathtool", "--totp", "-b", "-N", "30 seconds ago", secret], capture_output=True,
                          text=True, check=True).stdout.strip()
    confirmed = requests.post(gw + "/api/v1/auth/mfa/totp/confirm", headers=bearer(token), json={"code": code})
    assert confirmed.status_code == 200, confirmed.text
    step = requests.post(gw + "/api/v1/auth/login", json={"email": ADMIN[0], "password": ADMIN[1]}).json()
    assert step["mfa_required"] is True
    done = requests.post(gw + "/api/v1/auth/login/mfa", json={"mfa_token": step["mfa_token"],
                                                              "code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200, done.text
    token = done.json()["access_token"]
    # The edge refuses what has no token; the OIDC document is public.
    assert requests.get(gw + "/api/v1/agents").status_code == 401
    discovery = requests.get(gw + "/.well-known/openid-configuration").json()
    assert discovery["issuer"] == gw and discovery["token_endpoint"] == gw + "/oauth2/token"

    # A flag, then its evaluation over OFREP.
    flags = {"flags": {"new-planner": {"state": "ENABLED", "variants": {"on": True, "off": False},
                                       "defaultVariant": "off",
                                       "targeting": {"if": [{"ends_with": [{"var": "email"}, "@raptorflow.local"]},
                                                            "on", "off"]}}}}
    put = requests.put(gw + "/api/v1/flags", headers=bearer(token), json={"document": flags, "message": "first"})
    assert put.status_code == 200, put.text
    evaluated = requests.post(gw + "/ofrep/v1/evaluate/flags/new-planner", headers=bearer(token),
                              json={"context": {"targetingKey": "admin", "email": ADMIN[0]}})
    assert evaluated.status_code == 200 and evaluated.json()["value"] is True, evaluated.text

    # An agent run, streamed as it goes.
    agent = requests.post(gw + "/api/v1/agents", headers=bearer(token),
                          json={"name": "calculator", "instructions": "Add things up.", "skills": ["arithmetic"]})
    assert agent.status_code == 201, agent.text
    run = requests.post(f"{gw}/api/v1/agents/{agent.json()['id']}/runs", headers=bearer(token),
                        json={"input": '/tool arithmetic {"expression": "19 + 23"}'})
    assert run.status_code == 202, run.text
    events = []
    with requests.get(f"{gw}/api/v1/runs/{run.json()['id']}/events", headers=bearer(token), stream=True,
                      timeout=30) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        for line in stream.iter_lines(decode_unicode=True):
            if line.startswith("event:"):
                events.append(line.split(":", 1)[1].strip())
            if events and events[-1] == "end":
                break
    assert events == ["tool_call", "tool_result", "answer", "end"], events

    # Its notification, in the user's history (agent.run.completed, delivered over the bus).
    deadline = time.monotonic() + 10
    while True:
        listed = requests.get(gw + "/api/v1/notifications", headers=bearer(token)).json()
        kinds = [n["type"] for n in listed.get("notifications", [])]
        if "agent.run.completed" in kinds:
            break
        assert time.monotonic() < deadline, listed
        time.sleep(0.1)

    # A file up and down, and an event in Analytics, through the gateway too.
    assert requests.put(gw + "/api/v1/files/notes", headers=bearer(token)).status_code == 201
    up = requests.put(gw + "/api/v1/files/notes/plan.txt", headers=bearer(token), data=b"the plan")
    assert up.status_code == 201, up.text
    down = requests.get(gw + "/api/v1/files/notes/plan.txt", headers=bearer(token))
    assert down.status_code == 200 and down.content == b"the plan"
    assert requests.post(gw + "/api/v1/analytics/events", headers=bearer(token),
                         json={"event_type": "page.view"}).status_code == 201
    usage = requests.get(gw + "/api/v1/analytics/usage", headers=bearer(token)).json()["usage"]
    assert {u["metric"] for u in usage} >= {"page.view", "agent.run.completed"}, usage

    # What no service has taken over goes to the monolith.
    legacy = requests.get(gw + "/api/v1/reports/old")
    assert legacy.status_code == 404 and legacy.json()["service"].startswith("raptorflow-monolith")
    # CORS for the web front end.
    pre = requests.options(gw + "/api/v1/agents", headers={"Origin": "http://localhost:3000",
                                                           "Access-Control-Request-Method": "POST"})
    assert pre.headers.get("Access-Control-Allow-Origin") == "http://localhost:3000"


def test_the_oidc_code_flow_through_the_gateway(system):
    """The web front end (a public client) signs a user in through the gateway with authlib."""
    from authlib.common.security import generate_token
    from authlib.integrations.requests_client import OAuth2Session
    from authlib.jose import JsonWebKey, jwt as jose_jwt
    from test_raptorflow_auth import sign_in

    gw = system.url
    discovery = requests.get(gw + "/.well-known/openid-configuration").json()
    client = OAuth2Session("web", scope="openid email profile", redirect_uri="http://localhost:3000/callback",
                           code_challenge_method="S256", token_endpoint_auth_method="none")
    verifier = generate_token(48)
    url, state = client.create_authorization_url(discovery["authorization_endpoint"], code_verifier=verifier,
                                                 nonce="n-1")
    location = sign_in(requests.Session(), system, url, ADMIN[0], ADMIN[1])
    token = client.fetch_token(discovery["token_endpoint"], authorization_response=location,
                               code_verifier=verifier)
    jwks = JsonWebKey.import_key_set(requests.get(discovery["jwks_uri"]).json())
    claims = jose_jwt.decode(token["id_token"], jwks,
                             claims_options={"iss": {"essential": True, "value": gw},
                                             "aud": {"essential": True, "value": "web"}})
    claims.validate()
    assert claims["email"] == ADMIN[0] and claims["nonce"] == "n-1"
    # The client's access token passes the edge and the other services (no roles: what a user
    # consented to), and is refused by the account API.
    assert client.get(discovery["userinfo_endpoint"]).json()["email"] == ADMIN[0]
    assert requests.get(gw + "/api/v1/agents", headers=bearer(token["access_token"])).status_code == 200
    assert requests.get(gw + "/api/v1/auth/users", headers=bearer(token["access_token"])).status_code == 403


def test_the_services_as_separate_processes_over_postgresql_redis_and_rabbitmq(
        start_service, tmp_path, postgres_server, redis_server):
    """What `./dev.sh run raptorflow` starts with DATABASE_URL, REDIS_URL and BUS_URL: each service
    its own process, raptorflow.json in front: a login, a flag, an agent run and its notification
    crossing processes over RabbitMQ."""
    import shutil
    import tempfile
    sys.path.insert(0, str(ROOT / "tests" / "support"))
    from rabbitmq_broker import Broker
    base = tempfile.mkdtemp(prefix="svckit-rabbitmq-")
    os.chmod(base, 0o755)
    broker = Broker(base, 5697).start()
    try:
        kek = tmp_path / "kek"
        kek.write_text(os.urandom(32).hex() + "\n")
        gateway_port = free_port()
        shared = dict(DATABASE_URL=postgres_server.create_database("raptorflow_separate"),
                      REDIS_URL=redis_server.url, BUS_URL=broker.url, AUTH_ADMIN_EMAIL=ADMIN[0],
                      AUTH_ADMIN_PASSWORD=ADMIN[1], AUTH_BCRYPT_COST="4", CONFIG_KEK_FILE=kek,
                      AUTH_OIDC_ISSUER=f"http://127.0.0.1:{gateway_port}", NOTIFY_LINK_SECRET="l" * 32,
                      TRUSTED_PROXIES="127.0.0.1")
        document = json.loads((ROOT / "services" / "gateway" / "config" / "raptorflow.json").read_text())
        # The file's strangler rollout sends 20% of users' agent calls to the monolith, whose
        # stand-in has no agents: this test is about the services, so all of them go there.
        for route in document["routes"]:
            for rollout in ("split", "shadow", "rollback"):
                route.pop(rollout, None)
        upstream_of = {"auth": "auth", "agent": "agents", "analytics": "analytics", "configuration": "config",
                       "notification": "notifications", "files": "files"}
        for binary, upstream in upstream_of.items():
            svc = start_service(binary, DATA_DIR=tmp_path / binary, **shared)
            document["upstreams"][upstream]["targets"] = [svc.url]
        monolith_port = free_port()
        monolith = subprocess.Popen([sys.executable, str(ROOT / "tools" / "raptorflow_monolith.py"),
                                     str(monolith_port)])
        document["upstreams"]["monolith"]["targets"] = [f"http://127.0.0.1:{monolith_port}"]
        routes = tmp_path / "raptorflow.json"
        routes.write_text(json.dumps(document))
        gw = start_service("gateway", GATEWAY_ROUTES=routes, PORT=gateway_port).url
        try:
            login = requests.post(gw + "/api/v1/auth/login", json={"email": ADMIN[0], "password": ADMIN[1]})
            assert login.status_code == 200, login.text
            token = login.json()["access_token"]
            flags = {"flags": {"f": {"state": "ENABLED", "variants": {"on": True, "off": False},
                                     "defaultVariant": "on"}}}
            assert requests.put(gw + "/api/v1/flags", headers=bearer(token),
                                json={"document": flags, "message": "m"}).status_code == 200
            assert requests.post(gw + "/ofrep/v1/evaluate/flags/f", headers=bearer(token),
                                 json={"context": {"targetingKey": "a"}}).json()["value"] is True
            agent = requests.post(gw + "/api/v1/agents", headers=bearer(token),
                                  json={"name": "calc", "instructions": "", "skills": ["arithmetic"]})
            assert agent.status_code == 201, agent.text
            agent = agent.json()
            run = requests.post(f"{gw}/api/v1/agents/{agent['id']}/runs", headers=bearer(token),
                                json={"input": '/tool arithmetic {"expression": "2 + 2"}'}).json()
            deadline = time.monotonic() + 20
            while True:  # agent.run.completed: agent → RabbitMQ → notification
                kinds = [n["type"] for n in requests.get(gw + "/api/v1/notifications",
                                                         headers=bearer(token)).json()["notifications"]]
                if "agent.run.completed" in kinds:
                    break
                assert time.monotonic() < deadline, kinds
                time.sleep(0.2)
            # Analytics heard it too, in its own process.
            usage = requests.get(gw + "/api/v1/analytics/usage", headers=bearer(token)).json()["usage"]
            assert any(u["metric"] == "agent.run.completed" for u in usage), usage
            done = requests.get(f"{gw}/api/v1/runs/{run['id']}", headers=bearer(token)).json()
            assert done["status"] == "succeeded" and "4" in done["output"]
        finally:
            monolith.terminate()
            monolith.wait(timeout=10)
    finally:
        broker.stop()
        shutil.rmtree(base, ignore_errors=True)
