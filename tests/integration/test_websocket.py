"""WebSocket routes of the SDK, through the chat example (examples/chat): authentication at the
upgrade, rooms through a hub, the slow-consumer policy, limits, hostile frames, keep-alive and
shutdown. Real clients: the `websockets` library where a client behaves, raw frames where it must
not (tests/support/ws_frames.py)."""
import asyncio
import json
import pathlib
import signal
import socket
import sys
import time

import pytest
import requests
import websockets

from conftest import make_token

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "support"))
import ws_frames as wf  # noqa: E402

ALICE = make_token(sub="alice")
BOB = make_token(sub="bob")


def ws_url(svc, path):
    return svc.url.replace("http://", "ws://") + path


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def metric(svc, name, **labels):
    """The value of one series of /metrics, None when absent."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in requests.get(svc.metrics_url).text.splitlines():
        if line.startswith(name + ("{" + want + "}" if want else " ")):
            return float(line.rsplit(" ", 1)[1])
    return None


def wait_metric(svc, name, value, timeout=5, **labels):
    """Waits until one series of /metrics reads `value`; fails naming what it read last."""
    deadline = time.monotonic() + timeout
    while (got := metric(svc, name, **labels)) != value and time.monotonic() < deadline:
        time.sleep(0.05)
    assert got == value, f"{name}{labels} is {got}, not {value}"


@pytest.fixture
def chat(start_service):
    return start_service("chat", WEBSOCKET_SEND_QUEUE="64KiB", WEBSOCKET_MAX_MESSAGE="64KiB",
                         WEBSOCKET_CLOSE_TIMEOUT="10s")


def test_the_upgrade_is_authenticated_like_any_request(chat):
    # No token, a bad one: refused before the switch, with the usual problem+json.
    sock, status, head, rest = wf.handshake(chat.port, "/ws/lobby")
    assert status == 401 and "application/problem+json" in head
    sock.close()
    sock, status, _, _ = wf.handshake(chat.port, "/ws/lobby", ["Authorization: Bearer not-a-token"])
    assert status == 401
    sock.close()
    expired = make_token(sub="alice", ttl=-3600)
    sock, status, _, _ = wf.handshake(chat.port, "/ws/lobby", [f"Sec-WebSocket-Protocol: chat, bearer.{expired}"])
    assert status == 401
    sock.close()
    # A token in the query string is not one: proxies log query strings.
    sock, status, _, _ = wf.handshake(chat.port, f"/ws/lobby?access_token={ALICE}")
    assert status == 401
    sock.close()

    async def both_ways():
        # A browser's way: the token offered as a subprotocol, never echoed back.
        async with websockets.connect(ws_url(chat, "/ws/lobby"), subprotocols=["chat", "bearer." + ALICE]) as a:
            assert a.subprotocol == "chat"
            assert json.loads(await a.recv()) == {"from": "server", "text": "alice joined"}
            assert a.response_headers["X-Request-ID"]
        # A server's way: the Authorization header.
        async with websockets.connect(ws_url(chat, "/ws/lobby"), subprotocols=["chat"],
                                      extra_headers={"Authorization": "Bearer " + BOB}) as b:
            assert json.loads(await b.recv()) == {"from": "server", "text": "bob joined"}

    run(both_ways())
    chat.wait_log("request", status=101, user_id="alice", path="/ws/lobby")
    chat.wait_log("request", status=101, user_id="bob", path="/ws/lobby")


def test_what_is_not_an_upgrade_is_refused_clearly(chat):
    auth = {"Authorization": "Bearer " + ALICE}
    plain = requests.get(chat.url + "/ws/lobby", headers=auth)
    assert plain.status_code == 426 and plain.headers["Upgrade"] == "websocket"
    raw = socket.create_connection(("127.0.0.1", chat.port))
    raw.sendall(b"GET /ws/lobby HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n"
                b"Authorization: Bearer " + ALICE.encode() + b"\r\n\r\n")
    answer = raw.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 426") and "Sec-WebSocket-Version: 13" in answer
    raw.close()
    raw = socket.create_connection(("127.0.0.1", chat.port))
    raw.sendall(b"GET /ws/lobby HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n"
                b"Authorization: Bearer " + ALICE.encode() + b"\r\n\r\n")
    assert raw.recv(4096).startswith(b"HTTP/1.1 400")
    raw.close()
    # A bad room is a 422 from the route's middleware, before any switch.
    sock, status, _, _ = wf.handshake(chat.port, "/ws/no%20spaces", ["Authorization: Bearer " + ALICE])
    assert status == 422
    sock.close()


def test_a_room_hears_everyone_in_it_and_http_can_speak_to_it(chat):
    async def join(room, token, expect):
        peer = await websockets.connect(ws_url(chat, "/ws/" + room), subprotocols=["chat", "bearer." + token])
        assert json.loads(await peer.recv())["text"] == expect  # joined: in the hub from now on
        return peer

    async def talk():
        a = await join("lobby", ALICE, "alice joined")
        b = await join("lobby", BOB, "bob joined")
        elsewhere = await join("other", BOB, "bob joined")
        try:
            assert json.loads(await a.recv())["text"] == "bob joined"
            await a.send("hi bob")
            assert json.loads(await b.recv()) == {"from": "alice", "text": "hi bob"}
            assert json.loads(await a.recv()) == {"from": "alice", "text": "hi bob"}
            count = requests.get(chat.url + "/api/v1/rooms/lobby", headers={"Authorization": "Bearer " + BOB})
            assert count.json() == {"room": "lobby", "connections": 2, "listeners": 0}
            said = requests.post(chat.url + "/api/v1/rooms/lobby/announcements", json={"text": "closing at 6"},
                                 headers={"Authorization": "Bearer " + make_token(sub="ops")})
            assert said.status_code == 202 and said.json()["connections"] == 2
            assert json.loads(await a.recv()) == {"from": "ops", "text": "closing at 6"}
            assert json.loads(await b.recv()) == {"from": "ops", "text": "closing at 6"}
            # Nothing leaked into the other room.
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(elsewhere.recv(), 0.3)
            assert metric(chat, "websocket_connections", handler="/ws/{room}") == 3
            # joined x4 (a: 2, b: 1, elsewhere: 1), "hi bob" x2, the announcement x2
            assert metric(chat, "websocket_messages_total", handler="/ws/{room}", direction="out") == 8
            assert metric(chat, "websocket_messages_total", handler="/ws/{room}", direction="in") == 1
        finally:
            for peer in (a, b, elsewhere):
                await peer.close()

    run(talk())
    wait_metric(chat, "websocket_connections", 0, handler="/ws/{room}")


def test_a_slow_consumer_is_closed_with_1013_while_others_keep_receiving(chat):
    # The slow one reads nothing with a small receive window, so the server's send queue (64 KiB
    # here) fills once the socket buffers between them are full.
    slow, status, _, rest = wf.handshake(chat.port, "/ws/lobby", ["Authorization: Bearer " + BOB,
                                                                  "Sec-WebSocket-Protocol: chat"], rcvbuf=4096)
    assert status == 101
    slow_reader = wf.FrameReader(slow, rest)
    assert json.loads(slow_reader.next()[2])["text"] == "bob joined"  # in the room from now on
    text = "x" * 16000
    rounds = 600  # 9.6 MB in all: more than loopback's socket buffers hold

    async def fast():
        async with websockets.connect(ws_url(chat, "/ws/lobby"), subprotocols=["chat", "bearer." + ALICE],
                                      max_size=2 ** 20, max_queue=None) as a:
            assert json.loads(await a.recv())["text"] == "alice joined"
            got = 0
            for _ in range(rounds):
                await a.send(text)
                message = json.loads(await a.recv())
                assert message == {"from": "alice", "text": text}
                got += 1
            return got

    assert run(fast()) == rounds  # the fast one got every message, in time
    assert metric(chat, "websocket_slow_consumers_total", handler="/ws/{room}") == 1
    # The slow one, reading at last, gets what was already on its way and then 1013.
    code, reason, skipped = slow_reader.until_close()
    assert code == 1013 and reason == "slow consumer"
    assert 0 < skipped < rounds
    slow.close()
    chat.wait_log("websocket slow consumer closed", user_id="bob")


def test_a_message_over_the_limit_is_closed_with_1009(chat):
    async def oversized():
        async with websockets.connect(ws_url(chat, "/ws/lobby"), subprotocols=["chat", "bearer." + ALICE]) as a:
            await a.recv()
            await a.send("y" * (64 * 1024 + 1))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await a.recv()
            return closed.value.rcvd.code

    assert run(oversized()) == 1009


def hostile(chat, data):
    """Sends `data` after the handshake; the server's close code."""
    sock, status, _, rest = wf.handshake(chat.port, "/ws/lobby", ["Authorization: Bearer " + ALICE])
    assert status == 101
    reader = wf.FrameReader(sock, rest)
    assert json.loads(reader.next()[2])["text"] == "alice joined"
    sock.sendall(data)
    try:
        code, _, _ = reader.until_close()
    finally:
        sock.close()
    return code


def test_hostile_frames_are_closed_with_the_right_code_and_the_server_keeps_serving(chat):
    assert hostile(chat, wf.frame(wf.OP_TEXT, b"hello", mask=False)) == 1002  # clients must mask
    assert hostile(chat, wf.frame(wf.OP_TEXT, b"\xff\xfe not utf-8")) == 1007
    # A sequence cut short by an empty final frame: Beast lets it through; svckit does not.
    assert hostile(chat, wf.frame(wf.OP_TEXT, b"ab\xcf", fin=False) + wf.frame(wf.OP_CONT, b"")) == 1007
    assert hostile(chat, wf.frame(wf.OP_PING, b"x", fin=False)) == 1002  # a fragmented control frame
    assert hostile(chat, wf.frame(wf.OP_PING, b"x" * 126)) == 1002  # control frames fit in 125 bytes
    assert hostile(chat, wf.frame(wf.OP_TEXT, b"x", rsv=1)) == 1002  # no extension was agreed
    assert hostile(chat, wf.frame(0x3, b"x")) == 1002  # a reserved opcode
    assert hostile(chat, wf.frame(wf.OP_CONT, b"x")) == 1002  # a continuation of nothing
    assert hostile(chat, wf.frame(wf.OP_CLOSE, wf.close_payload(1005))) == 1002  # a code never sent
    assert hostile(chat, wf.frame(wf.OP_BINARY, b"\x00")) == 1008  # the chat's own rule
    # Still serving, and nobody is left counted as connected.
    async def fine():
        async with websockets.connect(ws_url(chat, "/ws/lobby"), subprotocols=["chat", "bearer." + BOB]) as b:
            assert json.loads(await b.recv())["text"] == "bob joined"
    run(fine())
    wait_metric(chat, "websocket_connections", 0, handler="/ws/{room}")


def test_a_silent_peer_is_pinged_then_closed_and_a_live_one_kept(start_service):
    chat = start_service("chat", WEBSOCKET_IDLE_TIMEOUT="1s")
    sock, status, _, rest = wf.handshake(chat.port, "/ws/lobby", ["Authorization: Bearer " + ALICE])
    assert status == 101
    reader = wf.FrameReader(sock, rest)
    reader.next()  # "alice joined"
    started = time.monotonic()
    _, opcode, _ = reader.next()
    assert opcode == wf.OP_PING and 0.3 < time.monotonic() - started < 1.5
    with pytest.raises((EOFError, ConnectionResetError)):
        while True:  # not answered: cut at the idle timeout
            reader.next()
    assert time.monotonic() - started < 3
    sock.close()

    async def alive():  # `websockets` answers pings: the connection outlives the timeout
        async with websockets.connect(ws_url(chat, "/ws/lobby"), subprotocols=["chat", "bearer." + BOB],
                                      ping_interval=None) as b:
            await b.recv()
            await asyncio.sleep(2.5)
            await b.send("still here")
            assert json.loads(await b.recv()) == {"from": "bob", "text": "still here"}

    run(alive())


def test_shutdown_says_going_away_and_exits_cleanly(start_service):
    chat = start_service("chat")

    async def connected_through_shutdown():
        async with websockets.connect(ws_url(chat, "/ws/lobby"), subprotocols=["chat", "bearer." + ALICE]) as a, \
                websockets.connect(ws_url(chat, "/ws/lobby"), subprotocols=["chat", "bearer." + BOB]) as b:
            await a.recv(), await a.recv(), await b.recv()
            chat.signal(signal.SIGTERM)
            codes = []
            for peer in (a, b):
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    while True:
                        await peer.recv()
                codes.append((closed.value.rcvd.code, closed.value.rcvd.reason))
            return codes

    assert run(connected_through_shutdown()) == [(1001, "server shutting down")] * 2
    assert chat.proc.wait(timeout=10) == 0


def test_pages_of_other_origins_are_refused_when_origins_are_named(start_service):
    chat = start_service("chat", WEBSOCKET_ALLOWED_ORIGINS="https://app.example, https://admin.example")
    auth = "Authorization: Bearer " + ALICE
    sock, status, _, _ = wf.handshake(chat.port, "/ws/lobby", [auth, "Origin: https://evil.example"])
    assert status == 403
    sock.close()
    for headers in ([auth, "Origin: https://admin.example"], [auth]):  # listed, or not a browser
        sock, status, _, _ = wf.handshake(chat.port, "/ws/lobby", headers)
        assert status == 101
        sock.close()


def test_ten_thousand_websockets_are_held_at_once(start_service):
    from test_gateway_websocket import hold
    chat = start_service("chat", MAX_CONNECTIONS="12000", MAX_CONNECTIONS_PER_IP="0")

    async def many():
        opened = await hold(chat.url, "/ws", 10000, ALICE)  # a room each: "joined" goes to one
        assert metric(chat, "websocket_connections", handler="/ws/{room}") == 10000
        reader, writer = opened[0]  # the first is still live after all the others came
        mask = b"\x01\x02\x03\x04"
        writer.write(bytes([0x81, 0x82]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(b"hi")))
        header = await reader.readexactly(2)
        assert json.loads(await reader.readexactly(header[1] & 0x7F)) == {"from": "alice", "text": "hi"}
        for _, w in opened:
            w.close()

    run(many())
    wait_metric(chat, "websocket_connections", 0, timeout=60, handler="/ws/{room}")
