"""Raptorflow's Configuration service (services/raptorflow/configuration): flagd flag sets changed
through a validated, versioned, audited API; OFREP evaluated by requests and by the OpenFeature
JavaScript SDK with its OFREP provider (from npm, run by node); server-sent events; two replicas
on PostgreSQL with RabbitMQ, and a service following them with svckit::FeatureFlags."""
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import pika
import pytest
import requests

from conftest import make_token

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "support"))
from rabbitmq_broker import Broker  # noqa: E402
from waiting import until  # noqa: E402

ROOT = pathlib.Path(__file__).parents[2]
ADMIN = {"Authorization": "Bearer " + make_token(sub="ops", roles=("admin",))}
READER = {"Authorization": "Bearer " + make_token(sub="svc", permissions=("flags:read",))}
USER = {"Authorization": "Bearer " + make_token(sub="ann")}

BOOL = {"on": True, "off": False}


def flag(variants=None, default="off", targeting=None, state="ENABLED", **extra):
    definition = {"state": state, "variants": variants or BOOL, "defaultVariant": default, **extra}
    if targeting is not None:
        definition["targeting"] = targeting
    return definition


SET = {
    "flags": {
        "new-checkout": flag(targeting={"if": [{"ends_with": [{"var": "email"}, "@acme.com"]}, "on", "off"]}),
        "theme": flag({"light": "light", "dark": "dark"}, "light",
                      {"fractional": [["dark", 50], ["light", 50]]}),
        "max-items": flag({"few": 10, "many": 100}, "few",
                          {"if": [{"sem_ver": [{"var": "app"}, ">=", "2.0.0"]}, "many", None]}),
        "limits": flag({"basic": {"rpm": 60}, "pro": {"rpm": 600}}, "basic", metadata={"owner": "billing"}),
        "banner": flag(state="DISABLED"),
    },
    "metadata": {"flagSetId": "raptorflow"},
}


@pytest.fixture
def config(start_service, tmp_path):
    return start_service("configuration", DATA_DIR=tmp_path / "c", CONFIG_POLL_INTERVAL="200ms")


def put_set(svc, document, message="", headers=ADMIN, **kwargs):
    return requests.put(svc.url + "/api/v1/flags", json={"document": document, "message": message},
                        headers={**headers, **kwargs.pop("extra", {})}, timeout=5, **kwargs)


def current(svc):
    r = requests.get(svc.url + "/api/v1/flags", headers=READER, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


def ofrep(svc, key, context=None, headers=USER):
    body = {} if context is None else {"context": context}
    return requests.post(f"{svc.url}/ofrep/v1/evaluate/flags/{key}", json=body, headers=headers, timeout=5)


# --- changes: validated, versioned, audited, rolled back ------------------------------------

def test_changes_are_versioned_audited_and_rolled_back(config):
    assert current(config) == {"environment": "dev", "version": 0, "document": {"flags": {}}, "updated_at": None,
                               "updated_by": None}
    r = put_set(config, SET, "first set")
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1 and r.json()["author"] == "ops" and r.json()["message"] == "first set"
    assert sorted(c["flag"] for c in r.json()["changes"]) == ["banner", "limits", "max-items", "metadata",
                                                              "new-checkout", "theme"]
    got = requests.get(config.url + "/api/v1/flags", headers=READER, timeout=5)
    assert got.headers["ETag"] == '"v1"' and got.json()["document"] == SET and got.json()["updated_by"] == "ops"
    assert requests.get(config.url + "/api/v1/flags", headers={**READER, "If-None-Match": '"v1"'},
                        timeout=5).status_code == 304

    # One flag changed, one removed: each its own version, the audit trail says what and who.
    dark = flag({"light": "light", "dark": "dark"}, "dark")
    r = requests.put(config.url + "/api/v1/flags/theme", json={"definition": dark, "message": "all dark"},
                     headers=ADMIN, timeout=5)
    assert r.status_code == 200, r.text
    assert r.json()["changes"] == [{"flag": "theme", "change": "changed", "before": SET["flags"]["theme"],
                                    "after": dark}]
    r = requests.delete(config.url + "/api/v1/flags/banner?message=gone", headers=ADMIN, timeout=5)
    assert r.status_code == 200 and r.json()["version"] == 3
    assert [c["change"] for c in r.json()["changes"]] == ["removed"]
    assert requests.delete(config.url + "/api/v1/flags/banner", headers=ADMIN, timeout=5).status_code == 404
    trail = requests.get(config.url + "/api/v1/flags/versions?limit=2", headers=READER, timeout=5).json()
    assert [(v["version"], v["message"]) for v in trail["versions"]] == [(3, "gone"), (2, "all dark")]
    assert trail["next_before"] == 2
    older = requests.get(config.url + "/api/v1/flags/versions?before=2", headers=READER, timeout=5).json()
    assert [v["version"] for v in older["versions"]] == [1] and older["next_before"] is None
    assert ofrep(config, "theme", {"targetingKey": "x"}).json()["value"] == "dark"

    # Rollback: version 1's set in force again, as version 4, which says where it came from.
    r = requests.post(config.url + "/api/v1/flags/versions/1/rollback", json={}, headers=ADMIN, timeout=5)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 4 and r.json()["restored_from"] == 1
    assert current(config)["document"] == SET
    v2 = requests.get(config.url + "/api/v1/flags/versions/2", headers=READER, timeout=5).json()
    assert v2["document"]["flags"]["theme"] == dark and v2["author"] == "ops"
    assert requests.post(config.url + "/api/v1/flags/versions/99/rollback", headers=ADMIN,
                         timeout=5).status_code == 404


def test_a_lost_update_and_bad_input_change_nothing(config):
    assert put_set(config, SET).status_code == 200
    # If-Match: a writer that read version 1 cannot overwrite version 2 blindly.
    assert put_set(config, SET, extra={"If-Match": '"v1"'}).status_code == 200
    r = put_set(config, {"flags": {}}, extra={"If-Match": '"v1"'})
    assert r.status_code == 412 and '"v2"' in r.json()["detail"]
    assert put_set(config, SET, extra={"If-Match": "yesterday"}).status_code == 400

    # Every problem of a bad set is listed, and nothing is stored.
    bad = json.loads(json.dumps(SET))
    bad["flags"]["new-checkout"]["defaultVariant"] = "maybe"
    bad["flags"]["theme"]["targeting"] = {"regex": ["a", "b"]}
    bad["flags"]["limits"]["variants"]["odd"] = "text"
    r = put_set(config, bad)
    assert r.status_code == 422
    messages = " | ".join(e["message"] for e in r.json()["errors"])
    assert '"maybe" is not one of its variants' in messages
    assert 'unknown operator "regex"' in messages
    assert "flags.limits.variants.odd: is string" in messages
    loop = {"flags": {"f": flag(targeting={"$ref": "a"})}, "$evaluators": {"a": {"$ref": "b"}, "b": {"$ref": "a"}}}
    assert "refers to itself" in put_set(config, loop).json()["detail"]
    r = requests.put(config.url + "/api/v1/flags/x", json={"definition": {"state": "ENABLED"}}, headers=ADMIN,
                     timeout=5)
    assert r.status_code == 422 and "flags.x.variants" in r.json()["detail"]
    # Not JSON, or nested past the limit: 400; JSON of the wrong shape: 422.
    for hostile, status in (("not json", 400), ("[" * 100000, 400), (json.dumps({"document": "text"}), 422),
                            (json.dumps({"document": [1]}), 422),
                            (json.dumps({"document": SET, "message": "m" * 2000}), 422)):
        r = requests.put(config.url + "/api/v1/flags", data=hostile, timeout=5,
                         headers={**ADMIN, "Content-Type": "application/json"})
        assert r.status_code == status, (hostile[:30], r.status_code)
    deep = True
    for _ in range(100):
        deep = {"!": deep}
    assert put_set(config, {"flags": {"f": flag(targeting=deep)}}).status_code == 422
    assert requests.put(config.url + "/api/v1/flags/bad key", json={"definition": flag()}, headers=ADMIN,
                        timeout=5).status_code == 422
    # Who may: no token 401, a reader 403 on writes, a user 403 on the document.
    assert requests.get(config.url + "/api/v1/flags", timeout=5).status_code == 401
    assert put_set(config, SET, headers=READER).status_code == 403
    assert requests.get(config.url + "/api/v1/flags", headers=USER, timeout=5).status_code == 403
    assert requests.post(config.url + "/ofrep/v1/evaluate/flags/theme", timeout=5).status_code == 401
    assert current(config)["version"] == 2
    assert [v["version"] for v in requests.get(config.url + "/api/v1/flags/versions", headers=READER,
                                                timeout=5).json()["versions"]] == [2, 1]


# --- OFREP ------------------------------------------------------------------------------------

def test_ofrep_single_and_bulk(config):
    assert put_set(config, SET).status_code == 200
    r = ofrep(config, "new-checkout", {"email": "ann@acme.com"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"key": "new-checkout", "value": True, "variant": "on", "reason": "TARGETING_MATCH",
                        "metadata": {"flagSetId": "raptorflow"}}
    assert ofrep(config, "new-checkout", {"email": "x@else.com"}).json()["variant"] == "off"
    assert ofrep(config, "limits").json() == {"key": "limits", "value": {"rpm": 60}, "variant": "basic",
                                              "reason": "STATIC",
                                              "metadata": {"flagSetId": "raptorflow", "owner": "billing"}}
    assert ofrep(config, "max-items", {"app": "2.1.0"}).json()["value"] == 100
    assert ofrep(config, "max-items", {"app": "1.9.0"}).json()["reason"] == "DEFAULT"
    # flagd's rule: a custom operator given a non-version answers the default, not the else.
    assert ofrep(config, "max-items", {"app": "garbage"}).json()["reason"] == "DEFAULT"
    # DISABLED: 200 without a value, the caller's default applies.
    assert ofrep(config, "banner").json() == {"key": "banner", "reason": "DISABLED",
                                              "metadata": {"flagSetId": "raptorflow"}}
    # The same subject is always in the same bucket; subjects split about evenly.
    themes = [ofrep(config, "theme", {"targetingKey": f"user-{i}"}).json()["value"] for i in range(200)]
    assert 60 < themes.count("dark") < 140
    assert ofrep(config, "theme", {"targetingKey": "user-7"}).json()["value"] == themes[7]
    # Errors in OFREP's shape: 404 for an unknown flag, 400 for a context that is not one.
    r = ofrep(config, "nope")
    assert r.status_code == 404 and r.json() == {"key": "nope", "errorCode": "FLAG_NOT_FOUND",
                                                 "errorDetails": 'flag "nope" is not in the set'}
    for body in ('{"context": [1]}', "{bad", '"text"', "[" * 100000):
        r = requests.post(config.url + "/ofrep/v1/evaluate/flags/theme", data=body, timeout=5,
                          headers={**USER, "Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["errorCode"] == "INVALID_CONTEXT", body[:20]

    bulk = requests.post(config.url + "/ofrep/v1/evaluate/flags", json={"context": {"targetingKey": "user-7"}},
                         headers=USER, timeout=5)
    assert bulk.status_code == 200
    by_key = {f["key"]: f for f in bulk.json()["flags"]}
    assert sorted(by_key) == ["banner", "limits", "max-items", "new-checkout", "theme"]
    assert by_key["theme"]["value"] == themes[7] and by_key["banner"]["reason"] == "DISABLED"
    etag = bulk.headers["ETag"]
    again = requests.post(config.url + "/ofrep/v1/evaluate/flags", json={"context": {"targetingKey": "user-7"}},
                          headers={**USER, "If-None-Match": etag}, timeout=5)
    assert again.status_code == 304 and again.content == b""
    # Another context, or another version of the set, is another answer.
    other = requests.post(config.url + "/ofrep/v1/evaluate/flags", json={"context": {"email": "a@acme.com"}},
                          headers={**USER, "If-None-Match": etag}, timeout=5)
    assert other.status_code == 200 and other.headers["ETag"] != etag


def openfeature(svc, cases, token=USER["Authorization"].split()[1]):
    """The OpenFeature JavaScript server SDK with its OFREP provider, evaluating `cases`."""
    out = subprocess.run(["node", str(ROOT / "tests/integration/openfeature/evaluate.cjs"), svc.url, token],
                         input=json.dumps(cases), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_the_openfeature_sdk_evaluates_through_ofrep(config):  # node and tools/npm: ./dev.sh installs them
    assert put_set(config, SET).status_code == 200
    details = openfeature(config, [
        {"type": "boolean", "key": "new-checkout", "default": False, "context": {"email": "ann@acme.com"}},
        {"type": "boolean", "key": "new-checkout", "default": True, "context": {"email": "x@else.com"}},
        {"type": "string", "key": "theme", "default": "none", "context": {"targetingKey": "user-7"}},
        {"type": "number", "key": "max-items", "default": 1, "context": {"app": "v2.0.0"}},
        {"type": "object", "key": "limits", "default": {}},
        {"type": "string", "key": "nope", "default": "fallback"},
        {"type": "string", "key": "new-checkout", "default": "text"},
    ])
    theme = ofrep(config, "theme", {"targetingKey": "user-7"}).json()["value"]
    assert [(d["value"], d["variant"], d["reason"], d["errorCode"]) for d in details] == [
        (True, "on", "TARGETING_MATCH", None),
        (False, "off", "TARGETING_MATCH", None),
        (theme, theme, "TARGETING_MATCH", None),
        (100, "many", "TARGETING_MATCH", None),
        ({"rpm": 60}, "basic", "STATIC", None),
        ("fallback", None, "ERROR", "FLAG_NOT_FOUND"),
        ("text", None, "ERROR", "TYPE_MISMATCH"),  # the SDK checks the type, as OFREP leaves to it
    ]
    assert details[4]["metadata"] == {"flagSetId": "raptorflow", "owner": "billing"}
    # A rejected token: the SDK answers the code's default.
    assert openfeature(config, [{"type": "boolean", "key": "new-checkout", "default": True}],
                       token="not-a-token")[0]["value"] is True


# --- pushed changes ---------------------------------------------------------------------------

class EventReader:
    """Reads a text/event-stream in a thread: each event as a dict of its fields."""

    def __init__(self, url, headers):
        self.events, self.response = [], requests.get(url, headers=headers, stream=True, timeout=10)
        assert self.response.status_code == 200 and self.response.headers["Content-Type"].startswith(
            "text/event-stream")
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        event = {}
        try:
            for line in self.response.iter_lines(chunk_size=1, decode_unicode=True):
                if line == "":
                    if event:
                        self.events.append(event)
                    event = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    event[name] = value.lstrip(" ")
        except Exception:  # noqa: BLE001 - the stream was closed
            pass

    def close(self):
        self.response.close()


def test_server_sent_events_push_each_version_and_resume(config):
    stream = EventReader(config.url + "/api/v1/flags/changes", USER)
    until(lambda: stream.events, what="where the client stands")
    assert stream.events[0]["event"] == "flags" and stream.events[0]["id"] == "0"
    put_set(config, SET)
    requests.put(config.url + "/api/v1/flags/theme", json={"definition": flag({"light": "light"}, "light")},
                 headers=ADMIN, timeout=5)
    until(lambda: len(stream.events) == 3, what="two versions pushed")
    assert [e["id"] for e in stream.events] == ["0", "1", "2"]
    assert json.loads(stream.events[2]["data"]) == {"version": 2, "environment": "dev",
                                                    "changes": [{"flag": "theme", "change": "changed"}]}
    stream.close()
    # Resuming where it stood hears nothing it had; resuming behind hears where things stand.
    same = EventReader(config.url + "/api/v1/flags/changes", {**USER, "Last-Event-ID": "2"})
    behind = EventReader(config.url + "/api/v1/flags/changes", {**USER, "Last-Event-ID": "1"})
    until(lambda: behind.events, what="the version in force")
    assert behind.events[0]["id"] == "2"
    requests.delete(config.url + "/api/v1/flags/limits", headers=ADMIN, timeout=5)
    until(lambda: same.events, what="the next version")
    assert [e["id"] for e in same.events] == ["3"]
    same.close()
    behind.close()


# --- replicas, the bus, and a service following the flags -------------------------------------

@pytest.fixture(scope="module")
def broker():
    base = tempfile.mkdtemp(prefix="svckit-rabbitmq-")  # pytest's tmp dirs are closed to the rabbitmq user
    os.chmod(base, 0o755)
    b = Broker(base, 5691).start()
    yield b
    b.stop()
    shutil.rmtree(base, ignore_errors=True)


def checkout(svc, **query):
    return requests.get(svc.url + "/api/v1/checkout", params=query, timeout=5).json()


def test_replicas_and_a_following_service_hear_every_change(start_service, broker, postgres_server, tmp_path):
    db = postgres_server.create_database(f"config_{os.getpid()}_{uuid.uuid4().hex[:8]}")
    common = {"DATABASE_URL": db, "BUS_URL": broker.url,
              "CONFIG_POLL_INTERVAL": "1h"}  # only the bus tells a replica of the other's change
    first = start_service("configuration", DATA_DIR=tmp_path / "a",
                          CONFIG_FLAGS_FILE=ROOT / "examples/flags/flags.json", **common)
    second = start_service("configuration", DATA_DIR=tmp_path / "b",
                           CONFIG_FLAGS_FILE=ROOT / "examples/flags/flags.json", **common)
    assert current(first)["version"] == current(second)["version"] == 1  # the file stored once

    # Someone listening on the bus, as the Notification Service does.
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    channel = connection.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(queue, "svckit.events", "config.flag.changed")

    token = make_token(sub="checkout", permissions=("flags:read",))
    app = start_service("flags", DATA_DIR=tmp_path / "f", FLAGS_URL=first.url, FLAGS_TOKEN=token,
                        BUS_URL=broker.url, FLAGS_POLL_INTERVAL="1h")
    assert checkout(app, user="ann", plan="gold") == {"flow": "one-page", "reason": "TARGETING_MATCH",
                                                      "banner": False, "flags_version": 1}
    # A change on the second replica reaches the first (its OFREP) and the service, over the bus.
    banner_on = flag(state="ENABLED", default="on")
    r = requests.put(second.url + "/api/v1/flags/holiday-banner", json={"definition": banner_on}, headers=ADMIN,
                     timeout=5)
    assert r.status_code == 200 and r.json()["version"] == 2
    until(lambda: ofrep(first, "holiday-banner").json().get("value") is True, what="the first replica")
    until(lambda: checkout(app)["banner"] is True, what="the following service")
    assert checkout(app)["flags_version"] == 2
    method, properties, body = None, None, None
    deadline = time.monotonic() + 10
    while method is None and time.monotonic() < deadline:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
    event = json.loads(body)
    assert event["version"] == 2 and event["flag"] == "holiday-banner" and event["by"] == "ops"
    assert event["changes"] == [{"flag": "holiday-banner", "change": "changed"}]
    connection.close()

    # The service away: the following one keeps the last set; one started now answers the code's
    # defaults, and catches up once the service is back.
    first.stop()
    second.stop()
    assert checkout(app)["banner"] is True
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cold = start_service("flags", DATA_DIR=tmp_path / "g", FLAGS_URL=f"http://127.0.0.1:{port}",
                         FLAGS_TOKEN=token, FLAGS_POLL_INTERVAL="300ms")
    assert checkout(cold, user="ann", plan="gold") == {"flow": "classic", "reason": "ERROR", "banner": False,
                                                       "flags_version": 0}
    start_service("configuration", DATA_DIR=tmp_path / "c", PORT=port, **common)
    until(lambda: checkout(cold)["flags_version"] == 2, what="the cold service catching up")
    assert checkout(cold, user="ann", plan="gold")["flow"] == "one-page" and checkout(cold)["banner"] is True


# --- secrets ----------------------------------------------------------------------------------

KEK_A, KEK_B = "a1" * 32, "b2" * 32
WRITER = {"Authorization": "Bearer " + make_token(sub="ops", permissions=("secrets:write",))}
BILLING = {"Authorization": "Bearer " + make_token(sub="billing")}  # the service the secrets are for
SECRET = "sk_live_" + "Zq9" * 10


def secrets_service(start_service, tmp_path, *keys, **env):
    kek = tmp_path / f"kek-{len(list(tmp_path.glob('kek-*')))}"
    kek.write_text("# current first\n" + "\n".join(keys) + "\n")
    return start_service("configuration", DATA_DIR=tmp_path / "s", CONFIG_KEK_FILE=kek, **env)


def test_secrets_are_sealed_readable_by_their_service_and_never_logged(start_service, tmp_path):
    svc = secrets_service(start_service, tmp_path, KEK_A)
    url = svc.url + "/api/v1/config/secrets/billing/stripe-key"
    r = requests.put(url, json={"value": SECRET}, headers=WRITER, timeout=5)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1 and SECRET not in r.text
    # The service it belongs to reads it; the writer, another service, a user do not.
    got = requests.get(url, headers=BILLING, timeout=5)
    assert got.status_code == 200 and got.json()["value"] == SECRET and got.json()["version"] == 1
    other = {"Authorization": "Bearer " + make_token(sub="analytics")}
    granted = {"Authorization": "Bearer " + make_token(sub="ops2", permissions=("secrets:read:billing",))}
    for headers, status in ((WRITER, 403), (other, 403), (USER, 403), ({}, 401), (granted, 200)):
        assert requests.get(url, headers=headers, timeout=5).status_code == status
    assert requests.get(svc.url + "/api/v1/config/secrets/billing/nope", headers=BILLING,
                        timeout=5).status_code == 404
    listing = requests.get(svc.url + "/api/v1/config/secrets/billing", headers=WRITER, timeout=5).json()
    assert [s["name"] for s in listing["secrets"]] == ["stripe-key"] and SECRET not in json.dumps(listing)
    assert requests.put(url, json={"value": SECRET + "2"}, headers=WRITER, timeout=5).json()["version"] == 2
    # Bad input: clear errors, nothing stored.
    for path, body, status in (("/billing/stripe-key", {"value": ""}, 422), ("/billing/stripe-key", {"value": 7}, 422),
                               ("/billing/stripe-key", {"value": "x" * 70000}, 422),
                               ("/Billing/stripe-key", {"value": "v"}, 422), ("/billing/bad%20name", {"value": "v"}, 422)):
        assert requests.put(svc.url + "/api/v1/config/secrets" + path, json=body, headers=WRITER,
                            timeout=5).status_code == status, path
    assert requests.put(url, json={"value": "v"}, headers=BILLING, timeout=5).status_code == 403
    events = requests.get(svc.url + "/api/v1/config/secret-events/billing", headers=WRITER, timeout=5).json()
    assert [(e["action"], e["by"]) for e in events["events"]][:3] == [("set", "ops"), ("read", "ops2"),
                                                                      ("read", "billing")]
    svc.stop()
    # At rest: neither the value nor any part of it in the database file; never in the logs.
    data = b"".join(p.read_bytes() for p in (tmp_path / "s").rglob("*") if p.is_file())
    assert SECRET.encode() not in data and SECRET[8:20].encode() not in data
    assert SECRET not in svc.stderr and not any(SECRET in json.dumps(line) for line in svc.lines)


def test_a_tampered_or_moved_secret_does_not_open(start_service, tmp_path):
    import sqlite3
    svc = secrets_service(start_service, tmp_path, KEK_A)
    for name, value in (("a", "first-secret-value"), ("b", "second-secret-value")):
        requests.put(f"{svc.url}/api/v1/config/secrets/billing/{name}", json={"value": value}, headers=WRITER,
                     timeout=5)
    svc.stop()
    [db] = [p for p in (tmp_path / "s").rglob("*.db")]
    with sqlite3.connect(db) as c:
        # b's sealed bytes under a's name.
        row = c.execute("SELECT kek_id, wrapped_key, ciphertext FROM secrets WHERE name = 'b'").fetchone()
        c.execute("UPDATE secrets SET kek_id = ?, wrapped_key = ?, ciphertext = ? WHERE name = 'a'", row)
    svc = secrets_service(start_service, tmp_path, KEK_A)
    r = requests.get(svc.url + "/api/v1/config/secrets/billing/a", headers=BILLING, timeout=5)
    assert r.status_code == 500 and "second-secret-value" not in r.text
    # One byte flipped in a ciphertext, then in a sealed data key: neither opens.
    requests.put(f"{svc.url}/api/v1/config/secrets/billing/c", json={"value": "third-secret-value"},
                 headers=WRITER, timeout=5)
    requests.put(f"{svc.url}/api/v1/config/secrets/billing/d", json={"value": "fourth-secret-value"},
                 headers=WRITER, timeout=5)
    svc.stop()
    with sqlite3.connect(db) as c:
        for name, column in (("c", "ciphertext"), ("d", "wrapped_key")):
            sealed = c.execute(f"SELECT {column} FROM secrets WHERE name = ?", (name,)).fetchone()[0]
            flipped = sealed[:30] + ("0" if sealed[30] != "0" else "1") + sealed[31:]
            c.execute(f"UPDATE secrets SET {column} = ? WHERE name = ?", (flipped, name))
    svc = secrets_service(start_service, tmp_path, KEK_A)
    for name in ("c", "d"):
        r = requests.get(f"{svc.url}/api/v1/config/secrets/billing/{name}", headers=BILLING, timeout=5)
        assert r.status_code == 500 and "secret-value" not in r.text, name
    assert requests.get(svc.url + "/api/v1/config/secrets/billing/b", headers=BILLING, timeout=5).json()[
        "value"] == "second-secret-value"


def test_rotating_the_key_encryption_key_reseals_data_keys(start_service, tmp_path):
    admin = {"Authorization": "Bearer " + make_token(sub="ops", roles=("admin",))}
    first = secrets_service(start_service, tmp_path, KEK_A)
    for i in range(5):
        requests.put(f"{first.url}/api/v1/config/secrets/billing/k{i}", json={"value": f"value-{i}"}, headers=WRITER,
                     timeout=5)
    key_a = requests.get(first.url + "/api/v1/config/secrets/billing", headers=WRITER, timeout=5).json()[
        "secrets"][0]["key_id"]
    first.stop()
    # B current, A still loaded: everything reads; rotation re-seals the five data keys with B.
    both = secrets_service(start_service, tmp_path, KEK_B, KEK_A)
    assert requests.get(both.url + "/api/v1/config/secrets/billing/k3", headers=BILLING, timeout=5).json()[
        "value"] == "value-3"
    r = requests.post(both.url + "/api/v1/config/secret-keys/rotate", headers=admin, timeout=5)
    assert r.status_code == 200 and r.json()["resealed"] == 5 and r.json()["unreadable"] == 0
    assert r.json()["key_id"] != key_a
    assert requests.post(both.url + "/api/v1/config/secret-keys/rotate", headers=admin, timeout=5).json()[
        "resealed"] == 0
    assert requests.post(both.url + "/api/v1/config/secret-keys/rotate", headers=WRITER,
                         timeout=5).status_code == 403
    both.stop()
    # A retired: every secret still opens with B alone; A alone opens none, and says why.
    only_b = secrets_service(start_service, tmp_path, KEK_B)
    assert [requests.get(f"{only_b.url}/api/v1/config/secrets/billing/k{i}", headers=BILLING, timeout=5).json()[
        "value"] for i in range(5)] == [f"value-{i}" for i in range(5)]
    only_b.stop()
    only_a = secrets_service(start_service, tmp_path, KEK_A)
    assert requests.get(only_a.url + "/api/v1/config/secrets/billing/k0", headers=BILLING,
                        timeout=5).status_code == 500
    until(lambda: any("is not loaded" in json.dumps(line) for line in only_a.lines), what="why, in the log")
    # No key at all: the secrets API says so (503); a malformed key stops start-up naming it.
    only_a.stop()
    none = start_service("configuration", DATA_DIR=tmp_path / "s")
    r = requests.get(none.url + "/api/v1/config/secrets/billing/k0", headers=BILLING, timeout=5)
    assert r.status_code == 503 and "CONFIG_KEK_FILE" in r.json()["detail"]
    bad = tmp_path / "bad-kek"
    bad.write_text("not-hex\n")
    with pytest.raises(RuntimeError, match="CONFIG_KEK_FILE"):
        start_service("configuration", DATA_DIR=tmp_path / "s2", CONFIG_KEK_FILE=bad)


def test_one_flag_edits_at_once_all_stay(start_service, tmp_path, postgres_server):
    # Two replicas on one database, edits sent to both at once: each edit is made on the newest
    # stored version, so none undoes another (the replicas' held sets may lag; the store does not).
    db = postgres_server.create_database(f"config_{os.getpid()}_{uuid.uuid4().hex[:8]}")
    common = {"DATABASE_URL": db, "CONFIG_POLL_INTERVAL": "1h"}
    replicas = [start_service("configuration", DATA_DIR=tmp_path / f"r{i}", **common) for i in range(2)]
    keys = [f"f{i}" for i in range(12)]

    def put(i):
        r = requests.put(f"{replicas[i % 2].url}/api/v1/flags/{keys[i]}", json={"definition": flag()},
                         headers=ADMIN, timeout=10)
        assert r.status_code == 200, r.text

    threads = [threading.Thread(target=put, args=(i,)) for i in range(len(keys))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    newest = requests.get(replicas[0].url + "/api/v1/flags/versions?limit=1", headers=READER, timeout=5).json()
    assert newest["versions"][0]["version"] == 12
    version = requests.get(replicas[0].url + "/api/v1/flags/versions/12", headers=READER, timeout=5).json()
    assert sorted(version["document"]["flags"]) == sorted(keys)
    # If-Match: "*" asks nothing, a weak tag is read as its version.
    assert put_set(replicas[1], SET, extra={"If-Match": "*"}).status_code == 200
    assert put_set(replicas[1], SET, extra={"If-Match": 'W/"v13"'}).status_code == 200
    assert put_set(replicas[1], SET, extra={"If-Match": 'W/"v13"'}).status_code == 412


def test_a_service_follows_a_flagd_file(start_service, tmp_path):
    flags_file = tmp_path / "flags.json"
    flags_file.write_text((ROOT / "examples/flags/flags.json").read_text())
    app = start_service("flags", DATA_DIR=tmp_path / "f", FLAGS_FILE=flags_file, FLAGS_POLL_INTERVAL="200ms")
    assert checkout(app, user="ann", plan="gold") == {"flow": "one-page", "reason": "TARGETING_MATCH",
                                                      "banner": False, "flags_version": 1}
    # Edited in place (an older modification time too counts as a change): read again.
    document = json.loads(flags_file.read_text())
    document["flags"]["holiday-banner"]["state"] = "ENABLED"
    document["flags"]["holiday-banner"]["defaultVariant"] = "on"
    before = flags_file.stat().st_mtime
    flags_file.write_text(json.dumps(document))
    os.utime(flags_file, (before - 3600, before - 3600))
    until(lambda: checkout(app)["banner"] is True, what="the file's change")
    assert checkout(app)["flags_version"] == 2
    # A broken file later: the set held stays (and the log says why); broken at start: exit 2.
    flags_file.write_text("{not json")
    until(lambda: app.logs() and any("is not JSON" in json.dumps(line) for line in app.lines), what="the log")
    assert checkout(app)["banner"] is True
    with pytest.raises(RuntimeError, match="FLAGS_FILE"):
        start_service("flags", DATA_DIR=tmp_path / "g", FLAGS_FILE=flags_file)


# --- settings per service, checked by its JSON Schema ------------------------------------------

CONFIG_WRITER = {"Authorization": "Bearer " + make_token(sub="ops", permissions=("config:write",))}
CONFIG_READER = {"Authorization": "Bearer " + make_token(sub="auditor", permissions=("config:read",))}
AGENT = {"Authorization": "Bearer " + make_token(sub="agent")}
AGENT_SCHEMA = {
    "type": "object",
    "required": ["max_steps", "model"],
    "additionalProperties": False,
    "properties": {
        "max_steps": {"type": "integer", "minimum": 1, "maximum": 100},
        "model": {"enum": ["local", "openai", "ollama"]},
        "endpoints": {"type": "array", "items": {"type": "string", "pattern": "^https?://"}},
        "timeouts": {"$ref": "#/definitions/timeouts"},
    },
    "definitions": {"timeouts": {"type": "object", "additionalProperties": {"type": "number", "exclusiveMinimum": 0}}},
}


def test_settings_are_checked_by_the_services_schema_and_versioned(start_service, tmp_path, broker):
    svc = start_service("configuration", DATA_DIR=tmp_path / "c", BUS_URL=broker.url, CONFIG_ENVIRONMENT="staging")
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    channel = connection.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(queue, "svckit.events", "config.settings.changed")
    base = svc.url + "/api/v1/config"
    good = {"max_steps": 20, "model": "local", "endpoints": ["https://tools"], "timeouts": {"run": 30}}
    # No schema yet: nothing can be stored.
    r = requests.put(base + "/settings/agent", json={"settings": good}, headers=CONFIG_WRITER, timeout=5)
    assert r.status_code == 422 and "no schema for agent" in r.json()["detail"]
    # Not a schema: refused, naming where.
    r = requests.put(base + "/schemas/agent", json={"schema": {"type": "text"}}, headers=CONFIG_WRITER, timeout=5)
    assert r.status_code == 422 and "/type" in r.json()["detail"]
    r = requests.put(base + "/schemas/agent", json={"schema": {"$ref": "http://elsewhere/s.json"}},
                     headers=CONFIG_WRITER, timeout=5)
    assert r.status_code == 422 and "unsupported or unresolvable reference" in r.json()["detail"]
    assert requests.put(base + "/schemas/agent", json={"schema": AGENT_SCHEMA}, headers=CONFIG_WRITER,
                        timeout=5).status_code == 200
    # Settings the schema refuses: every problem at its place, nothing stored.
    bad = {"max_steps": 0, "model": "gpt", "endpoints": ["ftp://x"], "timeouts": {"run": -1}, "extra": True}
    r = requests.put(base + "/settings/agent", json={"settings": bad}, headers=CONFIG_WRITER, timeout=5)
    assert r.status_code == 422
    places = sorted(e["field"] for e in r.json()["errors"])
    assert places == ["settings/endpoints/0", "settings/extra", "settings/max_steps", "settings/model",
                      "settings/timeouts/run"]
    assert requests.get(base + "/settings/agent", headers=AGENT, timeout=5).status_code == 404
    r = requests.put(base + "/settings/agent", json={"settings": good, "message": "first"}, headers=CONFIG_WRITER,
                     timeout=5)
    assert r.status_code == 200 and r.json()["version"] == 1 and r.json()["environment"] == "staging"
    # The service reads its own; config:read reads any; others do not.
    got = requests.get(base + "/settings/agent", headers=AGENT, timeout=5)
    assert got.status_code == 200 and got.json()["settings"] == good and got.headers["ETag"] == '"v1"'
    assert requests.get(base + "/settings/agent", headers={**AGENT, "If-None-Match": '"v1"'},
                        timeout=5).status_code == 304
    assert requests.get(base + "/settings/agent", headers=CONFIG_READER, timeout=5).status_code == 200
    assert requests.get(base + "/settings/agent", headers=USER, timeout=5).status_code == 403
    assert requests.get(base + "/schemas/agent", headers=AGENT, timeout=5).json()["schema"] == AGENT_SCHEMA
    assert requests.put(base + "/settings/agent", json={"settings": good}, headers=AGENT, timeout=5).status_code == 403
    # A lost update refused; a schema the settings in force fail refused (nothing changes).
    r = requests.put(base + "/settings/agent", json={"settings": {**good, "max_steps": 30}},
                     headers={**CONFIG_WRITER, "If-Match": '"v1"'}, timeout=5)
    assert r.status_code == 200 and r.json()["version"] == 2
    assert requests.put(base + "/settings/agent", json={"settings": good}, headers={**CONFIG_WRITER, "If-Match": '"v1"'},
                        timeout=5).status_code == 412
    stricter = json.loads(json.dumps(AGENT_SCHEMA))
    stricter["properties"]["max_steps"]["maximum"] = 10
    r = requests.put(base + "/schemas/agent", json={"schema": stricter}, headers=CONFIG_WRITER, timeout=5)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "settings/max_steps"
    assert requests.get(base + "/schemas/agent", headers=AGENT, timeout=5).json()["version"] == 1
    history = requests.get(base + "/settings/agent/versions", headers=CONFIG_READER, timeout=5).json()
    assert [(v["version"], v["settings"]["max_steps"]) for v in history["versions"]] == [(2, 30), (1, 20)]
    # Each version went out on the bus.
    seen = []
    deadline = time.monotonic() + 10
    while len(seen) < 2 and time.monotonic() < deadline:
        method, _, body = channel.basic_get(queue, auto_ack=True)
        if method:
            seen.append(json.loads(body))
    assert [(e["service"], e["version"], e["environment"], e["by"]) for e in seen] == [
        ("agent", 1, "staging", "ops"), ("agent", 2, "staging", "ops")]
    connection.close()
