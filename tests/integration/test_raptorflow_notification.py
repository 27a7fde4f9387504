"""Raptorflow's Notification Service (services/raptorflow/notification) with real parts: email to
an aiosmtpd server that requires STARTTLS and AUTH, SMS/push/webhook to HTTP stand-ins on
loopback, devices on real WebSockets, bus events from RabbitMQ and the Task Manager, a shared
PostgreSQL for two replicas, one of them killed mid-stream."""
import asyncio
import base64
import email
import email.policy
import json
import os
import pathlib
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pika
import pytest
import requests
import websockets
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from conftest import free_port, make_token

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "support"))
from rabbitmq_broker import Broker  # noqa: E402
from waiting import until  # noqa: E402

SENDER = {"Authorization": "Bearer " + make_token(sub="billing", roles=("service",),
                                                 permissions=("notifications:send",))}
ADMIN = {"Authorization": "Bearer " + make_token(sub="ops", roles=("admin",), permissions=("notifications:*",))}
SMTP_USER, SMTP_PASSWORD = "notifier", "smtp-pass-" + "x" * 12


def user(name):
    return {"Authorization": "Bearer " + make_token(sub=name)}


# --- stand-ins ------------------------------------------------------------------------------

class MailServer:
    """aiosmtpd with STARTTLS required before AUTH, and AUTH required before MAIL."""

    def __init__(self, directory):
        cert, key = directory / "smtp.crt", directory / "smtp.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", str(key),
                        "-out", str(cert), "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
        self.ca_file = str(cert)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        self.messages = []
        self.sessions = []
        server = self

        class Handler:
            async def handle_DATA(self, smtp, session, envelope):
                server.sessions.append({"tls": session.ssl is not None, "auth": session.authenticated})
                server.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content,
                                                                                    policy=email.policy.default)))
                return "250 OK"

        def authenticator(smtp, session, envelope, mechanism, auth_data):
            ok = auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
            return AuthResult(success=ok)

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, tls_context=context,
                                     require_starttls=True, auth_required=True, auth_require_tls=True,
                                     authenticator=authenticator)
        self.controller.start()
        self.url = f"smtp://127.0.0.1:{self.port}"

    def to(self, address):
        return [m for rcpt, m in self.messages if address in rcpt]

    def stop(self):
        self.controller.stop()


class StandIn:
    """An HTTP provider on loopback: records each POST, answers from `statuses` (then 200)."""

    def __init__(self):
        self.calls = []
        self.statuses = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                stand_in.calls.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body),
                                       "raw": body})
                status = stand_in.statuses.pop(0) if stand_in.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def bodies(self, **match):
        return [c["body"] for c in self.calls if all(c["body"].get(k) == v for k, v in match.items())]

    def stop(self):
        self.server.shutdown()


@pytest.fixture
def mail(tmp_path):
    server = MailServer(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def providers():
    stand_ins = {name: StandIn() for name in ("sms", "push", "webhook")}
    yield stand_ins
    for s in stand_ins.values():
        s.stop()


def settings(mail, providers, **extra):
    return {"NOTIFY_SMTP_URL": mail.url, "NOTIFY_SMTP_USER": SMTP_USER, "NOTIFY_SMTP_PASSWORD": SMTP_PASSWORD,
            "NOTIFY_SMTP_CA_FILE": mail.ca_file, "NOTIFY_EMAIL_FROM": "noreply@raptorflow.test",
            "NOTIFY_SMS_URL": providers["sms"].url + "/v1/messages", "NOTIFY_SMS_TOKEN": "sms-token",
            "NOTIFY_PUSH_URL": providers["push"].url + "/v1/push", "NOTIFY_PUSH_TOKEN": "push-token",
            "NOTIFY_WEBHOOK_URL": providers["webhook"].url + "/hooks/notify", "NOTIFY_WEBHOOK_SECRET": "hook-secret",
            "NOTIFY_LINK_SECRET": "link-secret-" + "l" * 20, "NOTIFY_RETRY_BACKOFF": "100ms",
            # Addresses are taken as given here; test_addresses_are_used_only_once_proved proves them.
            "NOTIFY_VERIFY_ADDRESSES": "false",
            "NOTIFY_MAX_ATTEMPTS": "3", "NOTIFY_POLL": "50ms", **extra}


@pytest.fixture
def notifier(start_service, mail, providers):
    svc = start_service("notification", **settings(mail, providers, NOTIFY_PUBLIC_URL="http://127.0.0.1:1"))
    svc.mail, svc.providers = mail, providers
    return svc


def api(svc, path=""):
    return svc.url + "/api/v1/notifications" + path


def send(svc, recipients, type_, data=None, headers=SENDER, **fields):
    r = requests.post(api(svc), json={"recipients": recipients, "type": type_, "data": data or {}, **fields},
                      headers=headers, timeout=10)
    assert r.status_code == 202, r.text
    return r.json()["created"]


def set_preferences(svc, name, **prefs):
    r = requests.put(api(svc, "/preferences"), json=prefs, headers=user(name), timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


def history(svc, name, **query):
    r = requests.get(api(svc), params=query, headers=user(name), timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


def webhooks_for(svc, name):
    return svc.providers["webhook"].bodies(user_id=name)


def ws_url(svc, query=""):
    return svc.url.replace("http://", "ws://") + "/api/v1/notifications/ws" + query


async def next_notification(ws):
    """The next notification a device is sent, past the "caught_up" after its history."""
    while True:
        message = json.loads(await ws.recv())
        if message["type"] == "notification":
            return message


def run(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


# --- email, templates, unsubscribe ----------------------------------------------------------

def test_email_arrives_rendered_over_starttls_with_auth_and_unsubscribes(notifier):
    set_preferences(notifier, "alice", email="alice@example.com", locale="de")
    title = "Fix <the> roof & walls"
    assert send(notifier, ["alice"], "task.assigned",
                {"title": title, "priority": "high", "due_date": "2026-12-24T17:00:00Z"}, category="task") == 1
    [message] = until(lambda: notifier.mail.to("alice@example.com"), what="the email")
    assert notifier.mail.sessions[0] == {"tls": True, "auth": True}
    assert message["Subject"] == "Neue Aufgabe für Sie: " + title
    assert message["From"] == "noreply@raptorflow.test"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert 'Die Aufgabe "Fix <the> roof & walls" (Priorität high)' in text  # plain text: as written
    assert "<strong>Fix &lt;the&gt; roof &amp; walls</strong>" in html  # HTML: escaped
    assert "Fällig: 2026-12-24T17:00:00Z" in text
    link = message["List-Unsubscribe"].strip("<>")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" and link in text
    # The link, pointed at this service: a GET shows a button and changes nothing.
    path = link.split("://", 1)[1].split("/", 1)[1]
    page = requests.get(f"{notifier.url}/{path}", timeout=5)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"] and "<form" in page.text
    assert set_preferences(notifier, "alice", email="alice@example.com", locale="de")["channels"] == {}
    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert requests.post(f"{notifier.url}/{tampered}", timeout=5).status_code == 400
    r = requests.post(f"{notifier.url}/{path}", data="List-Unsubscribe=One-Click", timeout=5,
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and "no more emails" in r.text
    prefs = requests.get(api(notifier, "/preferences"), headers=user("alice"), timeout=5).json()
    assert prefs["channels"] == {"task": {"email": False}}
    # Unsubscribed from task emails: the next task notice goes everywhere else, not by email.
    send(notifier, ["alice"], "task.assigned", {"title": "second", "priority": "low"}, category="task")
    send(notifier, ["alice"], "billing.due", {"summary": "An invoice is due"})
    until(lambda: len(webhooks_for(notifier, "alice")) == 3, what="three webhooks")
    until(lambda: len(notifier.mail.to("alice@example.com")) == 2, what="the billing email")
    assert [m["Subject"] for m in notifier.mail.to("alice@example.com")] == [
        "Neue Aufgabe für Sie: " + title, "An invoice is due"]


def test_addresses_are_used_only_once_proved(start_service, mail, providers):
    svc = start_service("notification", **settings(mail, providers, NOTIFY_VERIFY_ADDRESSES="true",
                                                 NOTIFY_PUBLIC_URL="https://raptorflow.test"))
    svc.providers = providers
    prefs = set_preferences(svc, "vic", email="vic@example.com", phone="+15550001111", channels={"*": {"sms": True}})
    assert prefs["email_verified"] is False and prefs["phone_verified"] is False
    [proof] = until(lambda: mail.to("vic@example.com"), what="the verification email")
    assert proof["Subject"] == "Confirm your email address"
    [sms_proof] = until(lambda: providers["sms"].calls, what="the verification SMS")

    def link_in(text):
        url = next(word for word in text.split() if word.startswith("https://raptorflow.test/"))
        return svc.url + "/" + url.split("/", 3)[3]

    email_link = link_in(proof.get_body(("plain",)).get_content())
    sms_link = link_in(sms_proof["body"]["text"])
    # Unproved: nothing goes to the address (the webhook, the operator's, hears it).
    send(svc, ["vic"], "billing.due", {"summary": "before"})
    until(lambda: len(webhooks_for(svc, "vic")) == 1, what="the webhook")
    time.sleep(0.3)
    assert len(mail.to("vic@example.com")) == 1 and len(providers["sms"].calls) == 1
    # A GET shows a button and proves nothing; the POST proves the email address.
    page = requests.get(email_link, timeout=5)
    assert page.status_code == 200 and "<form" in page.text
    assert requests.get(api(svc, "/preferences"), headers=user("vic"), timeout=5).json()["email_verified"] is False
    assert requests.post(email_link, timeout=5).status_code == 200
    send(svc, ["vic"], "billing.due", {"summary": "after the email"})
    until(lambda: len(mail.to("vic@example.com")) == 2, what="the first real email")
    time.sleep(0.3)
    assert len(providers["sms"].calls) == 1  # the phone is still unproved
    assert requests.post(sms_link, timeout=5).status_code == 200
    send(svc, ["vic"], "billing.due", {"summary": "after the phone"})
    until(lambda: [c["body"]["text"] for c in providers["sms"].calls][1:] == ["after the phone"], what="the SMS")
    # A changed address is unproved again: the old link no longer proves anything.
    again = set_preferences(svc, "vic", email="victor@example.com", phone="+15550001111", channels={"*": {"sms": True}})
    assert again["email_verified"] is False and again["phone_verified"] is True
    until(lambda: mail.to("victor@example.com"), what="the new verification email")
    assert requests.post(email_link, timeout=5).status_code == 409
    tampered = email_link[:-3] + ("AAA" if not email_link.endswith("AAA") else "BBB")
    assert requests.post(tampered, timeout=5).status_code == 400
    # Links are rationed (a minute apart, five a day): asking again at once is refused; a proved
    # address needs none.
    r = requests.post(api(svc, "/preferences/verify"), json={"channel": "email"}, headers=user("vic"), timeout=5)
    assert r.status_code == 429 and r.headers["Retry-After"] == "60"
    assert len(mail.to("victor@example.com")) == 1
    r = requests.post(api(svc, "/preferences/verify"), json={"channel": "phone"}, headers=user("vic"), timeout=5)
    assert r.status_code == 200 and r.json()["verified"] is True
    assert requests.post(api(svc, "/preferences/verify"), json={"channel": "fax"}, headers=user("vic"),
                         timeout=5).status_code == 422
    # An admin's word proves an address; so it does for the admin's own, through those routes.
    r = requests.put(api(svc, "/users/wes/preferences"), json={"email": "wes@example.com"}, headers=ADMIN, timeout=5)
    assert r.status_code == 200 and r.json()["email_verified"] is True
    r = requests.put(api(svc, "/users/ops/preferences"), json={"email": "ops@example.com"}, headers=ADMIN, timeout=5)
    assert r.status_code == 200 and r.json()["email_verified"] is True


def test_templates_are_managed_validated_and_escaped(notifier):
    set_preferences(notifier, "tom", email="tom@example.com")
    t = {"title": "Invoice {{number}}: {{amount}}", "body": "Pay {{amount}} by {{due}}.",
         "html": "<p>Pay <b>{{amount}}</b> by {{due}}.</p>"}
    r = requests.put(api(notifier, "/templates/billing.due/en"), json=t, headers=ADMIN, timeout=5)
    assert r.status_code == 200 and r.json()["source"] == "stored"
    got = requests.get(api(notifier, "/templates/billing.due/en"), headers=ADMIN, timeout=5).json()
    assert got["template"] == t
    send(notifier, ["tom"], "billing.due", {"number": "42", "amount": "<script>5€</script>", "due": "Friday"})
    [message] = until(lambda: notifier.mail.to("tom@example.com"), what="the email")
    assert message["Subject"] == "Invoice 42: <script>5€</script>"
    assert "<b>&lt;script&gt;5€&lt;/script&gt;</b>" in message.get_body(("html",)).get_content()
    # A broken template and a hostile name are refused; the stored template stays as it was.
    bad = requests.put(api(notifier, "/templates/billing.due/en"), json={"title": "{{#open}}", "body": ""},
                       headers=ADMIN, timeout=5)
    assert bad.status_code == 422 and "title" in bad.text
    assert requests.put(api(notifier, "/templates/Billing/en"), json=t, headers=ADMIN, timeout=5).status_code == 422
    for hostile in ["{{>summary}}", "{{=<% %>=}}<%>summary%>"]:  # a partial would render event text
        r = requests.put(api(notifier, "/templates/billing.due/en"), json={"title": "x", "body": hostile},
                         headers=ADMIN, timeout=5)
        assert r.status_code == 422 and "partials" in r.text
    assert requests.put(api(notifier, "/templates/billing.due/english"), json=t, headers=ADMIN,
                        timeout=5).status_code == 422
    assert requests.put(api(notifier, "/templates/billing.due/en"), json=t, headers=user("tom"),
                        timeout=5).status_code == 403
    assert requests.get(api(notifier, "/templates/billing.due/en"), headers=ADMIN, timeout=5).json()["template"] == t
    assert requests.delete(api(notifier, "/templates/billing.due/en"), headers=ADMIN, timeout=5).status_code == 204
    assert requests.get(api(notifier, "/templates/billing.due/en"), headers=ADMIN,
                        timeout=5).json()["source"] == "builtin"
    assert requests.delete(api(notifier, "/templates/billing.due/en"), headers=ADMIN, timeout=5).status_code == 404


# --- preferences, quiet hours, providers ----------------------------------------------------

def test_preferences_and_quiet_hours_are_honoured(notifier):
    now = datetime.now(timezone.utc) + timedelta(hours=2)  # the user's clock at +02:00
    quiet = {"start": (now - timedelta(hours=1)).strftime("%H:%M"), "end": (now + timedelta(hours=1)).strftime("%H:%M")}
    set_preferences(notifier, "bob", phone="+4915112345678", push_token="device-token-1", utc_offset="+02:00",
                    quiet_hours=quiet, channels={"*": {"sms": True}, "task": {"push": False}})
    send(notifier, ["bob"], "task.assigned", {"title": "quiet one"}, category="task")
    send(notifier, ["bob"], "billing.due", {"summary": "pay now"}, priority="urgent")
    send(notifier, ["bob"], "billing.due", {"summary": "pay later"})
    until(lambda: len(webhooks_for(notifier, "bob")) == 3, what="three webhooks")
    # Only the urgent one buzzes the phone now: the others wait for the end of the quiet hours.
    until(lambda: notifier.providers["sms"].calls, what="the urgent SMS")
    until(lambda: notifier.providers["push"].calls, what="the urgent push")
    time.sleep(0.5)
    [sms] = notifier.providers["sms"].calls
    assert sms["body"] == {"to": "+4915112345678", "text": "pay now"} and sms["path"] == "/v1/messages"
    assert sms["headers"]["Authorization"] == "Bearer sms-token"
    [push] = notifier.providers["push"].calls
    assert push["body"]["token"] == "device-token-1" and push["body"]["body"] == "pay now"
    assert push["headers"]["Authorization"] == "Bearer push-token"
    hook = notifier.providers["webhook"].calls[0]
    assert hook["headers"]["Idempotency-Key"].endswith(":webhook")
    t, v1 = (part.split("=", 1)[1] for part in hook["headers"]["Svckit-Signature"].split(","))
    import hmac, hashlib
    assert v1 == hmac.new(b"hook-secret", t.encode() + b"." + hook["raw"], hashlib.sha256).hexdigest()
    # Out of quiet hours, the task notice still never goes by push (off for "task"), SMS does.
    set_preferences(notifier, "bob", phone="+4915112345678", push_token="device-token-1",
                    channels={"*": {"sms": True}, "task": {"push": False}})
    send(notifier, ["bob"], "task.assigned", {"title": "loud one"}, category="task")
    until(lambda: len(webhooks_for(notifier, "bob")) == 4, what="the fourth webhook")
    until(lambda: len(notifier.providers["sms"].calls) == 2, what="the second SMS")
    time.sleep(0.3)
    assert len(notifier.providers["push"].calls) == 1


def test_bad_input_is_refused_and_changes_nothing(notifier):
    before = set_preferences(notifier, "carl", email="carl@example.com")
    for body, field in [({"email": "carl@example.com\r\nBcc: all@example.com"}, "email"),
                        ({"email": "Carl <carl@example.com>"}, "email"),
                        ({"phone": "12345"}, "phone"), ({"locale": "../../etc"}, "locale"),
                        ({"utc_offset": "+25:00"}, "utc_offset"),
                        ({"quiet_hours": {"start": "24:00", "end": "07:00"}}, "quiet_hours"),
                        ({"channels": {"task": {"pigeon": True}}}, "pigeon"),
                        ({"channels": {"<b>": {"email": False}}}, "channels"),
                        ({"channels": {"task": {"email": "no"}}}, "channels")]:
        r = requests.put(api(notifier, "/preferences"), json=body, headers=user("carl"), timeout=5)
        assert r.status_code == 422 and field in r.text, (body, r.status_code, r.text)
        assert r.headers["Content-Type"] == "application/problem+json"
    r = requests.put(api(notifier, "/preferences"), data=b"{not json", headers={**user("carl"),
                     "Content-Type": "application/json"}, timeout=5)
    assert r.status_code == 400
    assert requests.get(api(notifier, "/preferences"), headers=user("carl"), timeout=5).json() == before
    # Sending needs notifications:send; what is sent must be well-formed.
    assert requests.post(api(notifier), json={"recipients": ["x"], "type": "a.b"}, headers=user("carl"),
                         timeout=5).status_code == 403
    for body in [{"recipients": [], "type": "a.b"}, {"recipients": ["x"], "type": "A B"},
                 {"recipients": ["x"], "type": "a.b", "data": [1, 2]}, {"recipients": [""], "type": "a.b"},
                 {"recipients": ["x"], "type": "a.b", "priority": "whenever"}]:
        assert requests.post(api(notifier), json=body, headers=SENDER, timeout=5).status_code == 422, body
    assert requests.get(api(notifier), headers={}, timeout=5).status_code == 401
    assert requests.get(api(notifier, "/dead-letters"), headers=user("carl"), timeout=5).status_code == 403
    assert requests.get(api(notifier, "/dead-letters?channel=pigeon"), headers=ADMIN, timeout=5).status_code == 422
    assert requests.get(api(notifier, "?limit=0"), headers=user("carl"), timeout=5).status_code == 422
    assert requests.get(api(notifier, "/nope"), headers=user("carl"), timeout=5).status_code == 404
    assert requests.get(api(notifier, "/unsubscribe?token=garbage"), timeout=5).status_code == 400
    assert history(notifier, "x")["notifications"] == []


# --- history, devices, exactly once ---------------------------------------------------------

def test_history_read_unread_and_what_a_device_missed(notifier):
    ids = []
    for i in range(3):
        send(notifier, ["carol"], "billing.due", {"summary": f"missed {i}"})
    ids = [n["id"] for n in reversed(history(notifier, "carol")["notifications"])]
    assert len(ids) == 3

    async def device():
        async with websockets.connect(ws_url(notifier), subprotocols=["notify", "bearer." + make_token(sub="carol")]) as ws:
            missed = [json.loads(await ws.recv()) for _ in range(3)]
            assert [m["notification"]["id"] for m in missed] == ids  # oldest first
            assert [m["notification"]["body"] for m in missed] == ["missed 0", "missed 1", "missed 2"]
            assert json.loads(await ws.recv()) == {"type": "caught_up", "more": False}
            await asyncio.to_thread(send, notifier, ["carol"], "billing.due", {"summary": "live"})
            live = json.loads(await ws.recv())
            assert live["notification"]["body"] == "live"
            await ws.send(json.dumps({"read": ids[0]}))
            return live

    live = run(device())
    until(lambda: history(notifier, "carol")["unread"] == 3, what="one read over the socket")
    unread = history(notifier, "carol", unread="true")["notifications"]
    assert [n["id"] for n in unread] == [live["notification"]["id"], ids[2], ids[1]]
    page = history(notifier, "carol", limit=2)
    assert len(page["notifications"]) == 2 and page["next_before"] == page["notifications"][1]["cursor"]
    rest = history(notifier, "carol", limit=2, before=page["next_before"])["notifications"]
    assert [n["id"] for n in rest] == [ids[1], ids[0]]
    r = requests.post(api(notifier, f"/{ids[1]}/read"), headers=user("carol"), timeout=5)
    assert r.status_code == 200 and r.json()["read"] is True
    assert requests.post(api(notifier, f"/{ids[1]}/read"), headers=user("dave"), timeout=5).status_code == 404
    assert requests.get(api(notifier, f"/{ids[1]}"), headers=user("dave"), timeout=5).status_code == 404
    assert requests.post(api(notifier, "/read-all"), headers=user("carol"), timeout=5).json() == {"marked": 2}
    assert requests.get(api(notifier, "/unread-count"), headers=user("carol"), timeout=5).json() == {"unread": 0}

    async def reconnect():
        # Nothing unread: nothing replayed; with a cursor, what came after it.
        async with websockets.connect(ws_url(notifier), extra_headers=user("carol")) as ws:
            assert json.loads(await ws.recv()) == {"type": "caught_up", "more": False}
            await asyncio.to_thread(send, notifier, ["carol"], "billing.due", {"summary": "after all read"})
            assert json.loads(await ws.recv())["notification"]["body"] == "after all read"
        async with websockets.connect(ws_url(notifier, f"?after={live['notification']['cursor']}"), extra_headers=user("carol")) as ws:
            assert json.loads(await ws.recv())["notification"]["body"] == "after all read"

    run(reconnect())


def test_a_device_with_a_large_backlog_gets_what_fits_and_is_told_there_is_more(notifier):
    for i in range(12):  # 12 × ~60 KB: more than half the 1 MiB send queue
        send(notifier, ["kay"], "billing.due", {"summary": f"big {i}", "blob": "x" * 60000})

    async def device():
        async with websockets.connect(ws_url(notifier), extra_headers=user("kay"), max_size=2 ** 22) as ws:
            got = []
            while (m := json.loads(await ws.recv()))["type"] == "notification":
                got.append(m["notification"]["body"])
            return got, m

    got, last = run(device())
    assert last == {"type": "caught_up", "more": True}
    assert 0 < len(got) < 12 and got == [f"big {i}" for i in range(len(got))]  # oldest first, none lost


def test_an_sms_is_cut_at_1600_characters_not_bytes(notifier):
    set_preferences(notifier, "uma", phone="+15557654321", channels={"*": {"sms": True}})
    send(notifier, ["uma"], "billing.due", {"summary": "ü" * 2000})
    [sms] = until(lambda: notifier.providers["sms"].calls, what="the SMS")
    assert sms["body"]["text"] == "ü" * 1600


def test_a_device_without_a_token_is_refused_at_the_upgrade(notifier):
    async def attempt():
        with pytest.raises(websockets.InvalidStatusCode) as e:
            async with websockets.connect(ws_url(notifier)):
                pass
        assert e.value.status_code == 401
        async with websockets.connect(ws_url(notifier, "?after=yesterday"), extra_headers=user("x")) as ws:
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd.code == 1008

    run(attempt())


def test_one_event_notifies_each_user_once(notifier):
    assert send(notifier, ["dora", "eve"], "billing.due", {"summary": "once"}, event_id="invoice-7") == 2
    assert send(notifier, ["dora", "eve", "fay"], "billing.due", {"summary": "once"}, event_id="invoice-7") == 1
    send(notifier, ["dora"], "billing.due", {"summary": "marker"})
    until(lambda: len(webhooks_for(notifier, "dora")) == 2, what="two webhooks for dora")
    time.sleep(0.3)
    assert [h["body"] for h in webhooks_for(notifier, "dora")] == ["once", "marker"]
    assert len(history(notifier, "dora")["notifications"]) == 2
    assert len(history(notifier, "fay")["notifications"]) == 1


def test_alerts_of_one_kind_inside_a_window_become_one_digest(start_service, mail, providers):
    svc = start_service("notification", **settings(mail, providers, NOTIFY_DIGEST_WINDOW="6s",
                                                 NOTIFY_DIGEST_TYPES="agent.alert"))
    svc.providers = providers
    set_preferences(svc, "gus", email="gus@example.com")
    until(lambda: time.time() % 6 < 1, timeout=7, what="the start of a window")
    for i in range(5):
        send(svc, ["gus"], "agent.alert", {"summary": f"agent {i} is stuck"}, event_id=f"alert-{i}")
    send(svc, ["gus"], "agent.alert", {"summary": "agent 0 is stuck"}, event_id="alert-0")  # again: once
    [digest] = history(svc, "gus")["notifications"]
    assert digest["type"] == "agent.alert" and digest["data"]["count"] == 5 and "gathering_until" in digest
    assert providers["webhook"].calls == []  # held until the window closes

    async def device():
        async with websockets.connect(ws_url(svc), extra_headers=user("gus")) as ws:
            first = await next_notification(ws)  # unread: the digest as it stands
            closed = await next_notification(ws)  # and once more when its window closes
            return first, closed

    first, closed = run(device(), timeout=20)
    assert first["notification"]["id"] == closed["notification"]["id"] == digest["id"]
    [hook] = until(lambda: webhooks_for(svc, "gus"), what="the digest's webhook")
    assert hook["title"] == "5 × agent.alert" and hook["data"]["count"] == 5
    [message] = until(lambda: mail.to("gus@example.com"), what="the digest email")
    text = message.get_body(("plain",)).get_content()
    assert all(f"- agent {i} is stuck" in text for i in range(5))


def test_retries_then_dead_letters_per_channel_and_replay(notifier):
    hooks, sms = notifier.providers["webhook"], notifier.providers["sms"]
    set_preferences(notifier, "hal", phone="+15551234567", channels={"*": {"sms": True}})
    hooks.statuses = [503, 503, 503]  # three attempts, all failing: dead
    sms.statuses = [429, 200]  # one retry, then sent
    send(notifier, ["hal"], "billing.due", {"summary": "flaky"})
    until(lambda: len(sms.calls) == 2, what="the SMS retried")
    dead = until(lambda: requests.get(api(notifier, "/dead-letters?channel=webhook"), headers=ADMIN,
                                      timeout=5).json()["dead_letters"], what="a dead webhook")
    assert len(hooks.calls) == 3 and len({c["headers"]["Idempotency-Key"] for c in hooks.calls}) == 1
    [letter] = dead
    assert letter["attempts"] == 3 and "503" in letter["last_error"] and letter["user_id"] == "hal"
    assert requests.get(api(notifier, "/dead-letters?channel=sms"), headers=ADMIN, timeout=5).json() == {
        "dead_letters": []}
    # A refusal (4xx) is final at once; a replay sends it again.
    hooks.statuses = [400]
    send(notifier, ["hal"], "billing.due", {"summary": "refused"})
    until(lambda: len(requests.get(api(notifier, "/dead-letters"), headers=ADMIN, timeout=5).json()["dead_letters"]) == 2,
          what="the refused webhook dead")
    assert len(hooks.calls) == 4
    r = requests.post(api(notifier, f"/dead-letters/{letter['notification_id']}/webhook/retry"), headers=ADMIN, timeout=5)
    assert r.status_code == 202
    until(lambda: len(hooks.calls) == 5, what="the replayed webhook")
    assert hooks.calls[-1]["body"]["body"] == "flaky"
    assert requests.post(api(notifier, f"/dead-letters/{letter['notification_id']}/webhook/retry"), headers=ADMIN,
                         timeout=5).status_code == 404


def test_ten_thousand_devices_are_held_at_once(start_service):
    svc = start_service("notification", MAX_CONNECTIONS="12000", MAX_CONNECTIONS_PER_IP="0", THREADS="2")
    tokens = [make_token(sub=f"u{i}") for i in range(10000)]
    host, port = "127.0.0.1", int(svc.url.rsplit(":", 1)[1])

    async def many():
        opened = []
        semaphore = asyncio.Semaphore(200)

        async def one(i):
            async with semaphore:
                reader, writer = await asyncio.open_connection(host, port)
                key = base64.b64encode(os.urandom(16)).decode()
                writer.write((f"GET /api/v1/notifications/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                              f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                              f"Authorization: Bearer {tokens[i]}\r\n\r\n").encode())
                head = await reader.readuntil(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 101"), head[:200]
                header = await reader.readexactly(2)  # nothing missed: only "caught_up"
                assert json.loads(await reader.readexactly(header[1] & 0x7F)) == {"type": "caught_up", "more": False}
                opened.append((i, reader, writer))

        await asyncio.gather(*(one(i) for i in range(10000)))
        metrics = await asyncio.to_thread(requests.get, svc.metrics_url, timeout=10)
        assert 'websocket_connections{handler="/api/v1/notifications/ws"} 10000' in metrics.text
        # The first and the last to connect are both live.
        await asyncio.to_thread(send, svc, ["u0", "u9999"], "billing.due", {"summary": "to the ends"})
        by_user = {i: reader for i, reader, _ in opened}
        for i in (0, 9999):
            header = await by_user[i].readexactly(2)
            size = header[1] & 0x7F
            if size == 126:
                size = int.from_bytes(await by_user[i].readexactly(2), "big")
            message = json.loads(await by_user[i].readexactly(size))
            assert message["notification"]["body"] == "to the ends"
        for _, _, w in opened:
            w.close()

    run(many(), timeout=240)


# --- the bus, the Task Manager, replicas ----------------------------------------------------

@pytest.fixture(scope="module")
def broker():
    base = tempfile.mkdtemp(prefix="svckit-rabbitmq-")  # pytest's tmp dirs are closed to the rabbitmq user
    os.chmod(base, 0o755)
    b = Broker(base, 5690).start()
    yield b
    b.stop()
    shutil.rmtree(base, ignore_errors=True)


def publish(broker, events):
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    channel = connection.channel()
    channel.confirm_delivery()
    for type_, data, event_id in events:
        channel.basic_publish("svckit.events", type_, json.dumps(data), pika.BasicProperties(
            content_type="application/json", delivery_mode=2, headers={
                "cloudEvents:specversion": "1.0", "cloudEvents:id": event_id, "cloudEvents:source": "pytest",
                "cloudEvents:type": type_}))
    connection.close()


def delete_queue(broker, group):
    """Tests share one broker: each starts without what an earlier one left in its group."""
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    channel = connection.channel()
    channel.queue_delete(group)
    channel.queue_delete(group + ".dlq")
    connection.close()


def test_bus_events_and_the_task_managers_notices_and_reminders(start_service, broker, tmp_path, mail, providers):
    delete_queue(broker, "notification")
    svc = start_service("notification", BUS_URL=broker.url, DATA_DIR=tmp_path / "n",
                        NOTIFY_DEFAULT_RECIPIENTS="ops", NOTIFY_DIGEST_TYPES="none",
                        **settings(mail, providers))
    svc.providers = providers
    tasks = start_service("task-manager", BUS_URL=broker.url, DATA_DIR=tmp_path / "t")
    manager = {"Authorization": "Bearer " + make_token(sub="manager", permissions=("tasks:read", "tasks:write"))}
    ivy = {"Authorization": "Bearer " + make_token(sub="ivy", permissions=("tasks:read", "tasks:write"))}
    due = (datetime.now(timezone.utc) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = requests.post(tasks.url + "/api/v1/tasks", json={"title": "Ship <v2>", "assignee": "ivy", "due_date": due,
                                                         "priority": "high"}, headers=manager, timeout=5)
    assert r.status_code == 201, r.text
    task = r.json()["id"]
    types = lambda name: sorted(n["type"] for n in history(svc, name)["notifications"])  # noqa: E731
    # Assigned to ivy by the manager, due within NOTIFY_REMINDER_BEFORE (24h): a notice and a reminder.
    until(lambda: types("ivy") == ["task.assigned", "task.reminder"], what="ivy's notice and reminder")
    reminder = next(n for n in history(svc, "ivy")["notifications"] if n["type"] == "task.reminder")
    assert reminder["title"] == "Due soon: Ship <v2>" and reminder["data"]["due_date"] == due
    requests.put(f"{tasks.url}/api/v1/tasks/{task}", json={"status": "in_progress"}, headers=manager, timeout=5)
    until(lambda: types("ivy") == ["task.assigned", "task.reminder", "task.updated"], what="the change notice")
    # Her own completion tells her nothing; reassigning tells the new assignee.
    requests.post(f"{tasks.url}/api/v1/tasks/{task}/complete", headers=ivy, timeout=5)
    requests.put(f"{tasks.url}/api/v1/tasks/{task}", json={"assignee": "jon"}, headers=manager, timeout=5)
    until(lambda: types("jon") == ["task.assigned"], what="jon's notice")
    assert types("ivy") == ["task.assigned", "task.reminder", "task.updated"]
    # Other subscribed events: recipients named in the data, else NOTIFY_DEFAULT_RECIPIENTS.
    publish(broker, [("agent.run.failed", {"recipients": ["kim", "lee"], "summary": "the agent failed"}, "e-1"),
                     ("config.flag.changed", {"flag": "new-checkout", "by": "ops"}, "e-2"),
                     ("config.flag.changed", {"flag": "new-checkout", "by": "ops"}, "e-2"),  # a redelivery
                     ("billing.due", {"user_id": "kim"}, "e-3")])  # not subscribed
    until(lambda: history(svc, "ops")["notifications"] and history(svc, "lee")["notifications"], what="bus notices")
    [flag] = history(svc, "ops")["notifications"]
    assert flag["title"] == "Feature flag changed: new-checkout" and flag["category"] == "config"
    assert [n["body"] for n in history(svc, "kim")["notifications"]] == ["the agent failed"]


def test_a_replica_killed_mid_stream_loses_no_notification(start_service, broker, postgres_server, tmp_path,
                                                           mail, providers):
    delete_queue(broker, "notification")
    db = postgres_server.create_database(f"notify_{os.getpid()}_{uuid.uuid4().hex[:8]}")
    common = dict(BUS_URL=broker.url, DATABASE_URL=db, NOTIFY_SEND_LEASE="2s", NOTIFY_DIGEST_TYPES="none",
                  **settings(mail, providers))
    a = start_service("notification", DATA_DIR=tmp_path / "a", **common)
    b = start_service("notification", DATA_DIR=tmp_path / "b", **common)
    b.providers = providers
    total = 300

    async def device():
        received = []
        async with websockets.connect(ws_url(b), extra_headers=user("max")) as ws:
            def stream():
                publish(broker, [("agent.step.done", {"recipients": ["max"], "summary": f"step {i}"}, f"step-{i}")
                                 for i in range(total // 3)])
                a.proc.send_signal(signal.SIGKILL)  # mid-stream: what it held, it held
                publish(broker, [("agent.step.done", {"recipients": ["max"], "summary": f"step {i}"}, f"step-{i}")
                                 for i in range(total // 3, total)])
            await asyncio.to_thread(stream)
            try:
                while len(received) < total:
                    received.append((await asyncio.wait_for(next_notification(ws), 30))["notification"]["body"])
            except asyncio.TimeoutError:
                pass
        return received

    received = run(device(), timeout=120)
    # The device got every one, once.
    assert sorted(received) == sorted(f"step {i}" for i in range(total))
    bodies = []
    before = None
    while True:
        page = history(b, "max", limit=100, **({"before": before} if before else {}))
        bodies += [n["body"] for n in page["notifications"]]
        if not page["next_before"]:
            break
        before = page["next_before"]
    assert sorted(bodies) == sorted(f"step {i}" for i in range(total))
    # The webhook is at least once: what the killed replica had sent but not recorded goes again,
    # with the same Idempotency-Key, so the receiver keeps one of each.
    keys = until(lambda: {c["headers"]["Idempotency-Key"]: c["body"]["body"] for c in providers["webhook"].calls}
                 if len({c["headers"]["Idempotency-Key"] for c in providers["webhook"].calls}) == total else None,
                 timeout=30, what="every webhook")
    assert sorted(keys.values()) == sorted(f"step {i}" for i in range(total))
    # Each replica's live group is a queue of its own that the broker drops a minute after its
    # replica is gone (x-expires), rather than filling it for ever.
    code, queues = broker.ctl("list_queues", "name", "arguments")
    live = [line for line in queues.splitlines() if line.startswith("notification-live-")]
    assert code == 0 and len(live) >= 2 and all("x-expires" in line and "60000" in line for line in live), queues
