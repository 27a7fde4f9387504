"""Server-sent events of the SDK (RouteGroup::events), through the chat example's
/api/v1/rooms/{room}/events: authenticated like any request, what is said in a room arrives as
events with ids, a listener that reconnects with Last-Event-ID gets what it missed, a slow one is
disconnected while others keep listening, and a draining server ends the stream."""
import json
import signal
import socket
import threading
import time

import pytest
import requests

from conftest import make_token
from test_websocket import metric

AUTH = {"Authorization": "Bearer " + make_token(sub="listener")}
OPS = {"Authorization": "Bearer " + make_token(sub="ops")}


class Listener:
    """An event-stream client on a plain socket (requests' iter_lines waits for whole chunks):
    the answer's status and headers, then events as they arrive."""

    def __init__(self, svc, path, headers=None, rcvbuf=None):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", svc.port))
        lines = [f"GET {path} HTTP/1.1", "Host: x", *(f"{k}: {v}" for k, v in (headers or {}).items())]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line, *fields = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split(" ")[1])
        self.headers = {k.lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}

    def next(self):
        """The next event (a dict of id, event, data); None at the end of the stream."""
        while True:
            end = self.buffer.find(b"\n\n")
            if end >= 0:
                block, self.buffer = self.buffer[:end].decode(), self.buffer[end + 2:]
                event = {}
                for line in block.split("\n"):
                    if line.startswith(":"):
                        continue
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    event[field] = event[field] + "\n" + value if field in event else value
                if event:
                    return event
                continue
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk

    def close(self):
        self.sock.close()


def say(svc, room, text):
    r = requests.post(f"{svc.url}/api/v1/rooms/{room}/announcements", json={"text": text}, headers=OPS)
    assert r.status_code == 202
    return r.json()["connections"]


def wait_listeners(svc, room, count):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if requests.get(f"{svc.url}/api/v1/rooms/{room}", headers=AUTH).json()["listeners"] == count:
            return
        time.sleep(0.02)
    raise AssertionError(f"{room} never had {count} listeners")


@pytest.fixture
def chat(start_service):
    return start_service("chat")


def test_a_listener_gets_the_rooms_events_and_resumes_where_it_left(chat):
    assert Listener(chat, "/api/v1/rooms/lobby/events").status == 401
    listener = Listener(chat, "/api/v1/rooms/lobby/events", AUTH)
    assert listener.status == 200
    assert listener.headers["content-type"] == "text/event-stream"
    assert listener.headers["cache-control"] == "no-cache"
    assert "content-length" not in listener.headers
    wait_listeners(chat, "lobby", 1)
    assert say(chat, "lobby", "first") == 1
    assert say(chat, "lobby", "two\nlines") == 1
    first, second = listener.next(), listener.next()
    assert first["event"] == "message" and json.loads(first["data"]) == {"from": "ops", "text": "first"}
    assert json.loads(second["data"]) == {"from": "ops", "text": "two\nlines"}
    assert int(second["id"]) > int(first["id"])
    assert metric(chat, "event_stream_connections", handler="/api/v1/rooms/{room}/events") == 1
    listener.close()
    # Gone: said while nobody listens, then picked up from the last id seen.
    wait_listeners(chat, "lobby", 0)
    say(chat, "lobby", "missed one")
    say(chat, "lobby", "missed two")
    again = Listener(chat, "/api/v1/rooms/lobby/events", {**AUTH, "Last-Event-ID": second["id"]})
    assert [json.loads(again.next()["data"])["text"] for _ in range(2)] == ["missed one", "missed two"]
    wait_listeners(chat, "lobby", 1)
    say(chat, "lobby", "live again")
    assert json.loads(again.next()["data"])["text"] == "live again"
    again.close()
    assert metric(chat, "event_stream_events_total", handler="/api/v1/rooms/{room}/events") == 5


def test_a_slow_listener_is_disconnected_while_others_keep_listening(chat):
    slow = Listener(chat, "/api/v1/rooms/busy/events", AUTH, rcvbuf=4096)  # and it reads nothing
    fast = Listener(chat, "/api/v1/rooms/busy/events", AUTH)
    wait_listeners(chat, "busy", 2)
    got = []

    def read_all():
        while len(got) < 400 and (event := fast.next()):
            got.append(event)

    reader = threading.Thread(target=read_all)
    reader.start()
    text = "x" * 30000  # 12 MB in all: more than the socket buffers and the 1 MiB queue hold
    for _ in range(400):
        say(chat, "busy", text)
    reader.join(timeout=30)
    assert len(got) == 400
    assert metric(chat, "event_stream_slow_consumers_total", handler="/api/v1/rooms/{room}/events") == 1
    chat.wait_log("event stream slow consumer disconnected", user_id="listener")
    # The slow one gets what was on its way, then the end of the stream.
    received = 0
    while slow.next():
        received += 1
    assert 0 < received < 400
    slow.close()
    fast.close()


def test_a_draining_server_ends_its_streams(start_service):
    chat = start_service("chat", SHUTDOWN_DELAY="0")
    listener = Listener(chat, "/api/v1/rooms/lobby/events", AUTH)
    wait_listeners(chat, "lobby", 1)
    say(chat, "lobby", "before")
    assert json.loads(listener.next()["data"])["text"] == "before"
    chat.signal(signal.SIGTERM)
    assert listener.next() is None  # the stream ends, cleanly
    listener.close()
    assert chat.proc.wait(timeout=10) == 0


def test_head_of_a_stream_is_its_head_alone(chat):
    s = socket.create_connection(("127.0.0.1", chat.port))
    s.sendall(f"HEAD /api/v1/rooms/lobby/events HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH['Authorization']}\r\n\r\n"
              .encode())
    s.settimeout(5)
    answer = b""
    while chunk := s.recv(4096):  # the server closes after the head
        answer += chunk
    s.close()
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"\r\n\r\n")
    assert b"text/event-stream" in answer
    assert requests.get(chat.url + "/api/v1/rooms/lobby", headers=AUTH).json()["listeners"] == 0
