"""WebSocket through the gateway: edge auth and route rules at the upgrade, the upstream's answer
decides, bytes relayed both ways, either side's close ends both; thousands held at once."""
import asyncio
import base64
import json
import os

import pytest
import requests
import websockets

from conftest import make_token
from test_gateway import routes_file
from test_websocket import metric, wait_metric

ALICE = make_token(sub="alice")


@pytest.fixture
def chat_behind_gateway(start_service, tmp_path):
    # The gateway is the chat's trusted proxy: its thousands of connections are its clients'.
    chat = start_service("chat", TRUSTED_PROXIES="127.0.0.1")
    upstreams = {"chat": {"targets": [chat.url], "health_check": {"path": "/ready", "interval_seconds": 0.2}},
                 "nowhere": {"targets": ["http://127.0.0.1:9"]}}
    routes = [
        {"name": "chat", "paths": ["/ws"], "upstream": "chat", "auth": "authenticated", "methods": ["GET"]},
        {"name": "open", "paths": ["/open"], "upstream": "chat", "auth": "public", "rewrite_prefix": "/ws"},
        {"name": "down", "paths": ["/down"], "upstream": "nowhere", "auth": "public"},
    ]
    gateway = start_service("gateway", GATEWAY_ROUTES=routes_file(tmp_path, upstreams, routes),
                            MAX_CONNECTIONS_PER_IP="0", MAX_CONNECTIONS="20000")
    return gateway, chat


def ws(svc, path):
    return svc.url.replace("http://", "ws://") + path


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


def test_a_websocket_goes_through_with_the_callers_identity(chat_behind_gateway):
    gateway, chat = chat_behind_gateway

    async def talk():
        async with websockets.connect(ws(gateway, "/ws/lobby"), subprotocols=["chat", "bearer." + ALICE],
                                      extra_headers={"X-Request-ID": "ws-through-gw"}) as a:
            assert a.subprotocol == "chat"
            assert json.loads(await a.recv()) == {"from": "server", "text": "alice joined"}
            await a.send("through the gateway")
            assert json.loads(await a.recv()) == {"from": "alice", "text": "through the gateway"}
            big = "z" * 200_000  # more than one relay chunk each way
            await a.send(big)
            assert json.loads(await a.recv())["text"] == big
            assert metric(chat, "websocket_connections", handler="/ws/{room}") == 1

    run(talk())
    # One request id from the client to the upstream, and the upstream saw the caller.
    chat.wait_log("request", status=101, request_id="ws-through-gw", user_id="alice")
    gateway.wait_log("request", status=101, request_id="ws-through-gw", user_id="alice")
    # The client's close ended the upstream's side too.
    wait_metric(chat, "websocket_connections", 0, handler="/ws/{room}")


def test_the_edge_and_the_upstream_each_refuse_with_their_own_answer(chat_behind_gateway):
    gateway, chat = chat_behind_gateway

    async def refused(path, **kwargs):
        with pytest.raises(websockets.InvalidStatusCode) as e:
            async with websockets.connect(ws(gateway, path), **kwargs):
                pass
        return e.value.status_code

    # No token: the gateway's edge auth refuses, the upstream never hears of it.
    assert run(refused("/ws/lobby", subprotocols=["chat"])) == 401
    assert not [l for l in chat.logs("request") if l.get("path") == "/ws/lobby"]
    # A public route: the upstream refuses, and its answer is passed on.
    assert run(refused("/open/lobby", subprotocols=["chat"])) == 401
    chat.wait_log("request", status=401, path="/ws/lobby")
    # Route rules hold for upgrades too: a method the route does not take.
    key = base64.b64encode(os.urandom(16)).decode()
    r = requests.post(gateway.url + "/ws/lobby", headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                                          "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13",
                                                          "Authorization": "Bearer " + ALICE})
    assert r.status_code == 405
    # An upstream found unhealthy: 503, as for any request.
    gateway.wait_log("target unhealthy", upstream="nowhere")
    assert run(refused("/down/x", subprotocols=["chat"])) == 503


def test_the_upstream_closing_ends_the_clients_connection(chat_behind_gateway):
    gateway, chat = chat_behind_gateway

    async def closed_by_upstream():
        async with websockets.connect(ws(gateway, "/ws/lobby"), subprotocols=["chat", "bearer." + ALICE]) as a:
            await a.recv()
            await a.send(b"binary is refused by the chat")  # the chat closes with 1008
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await a.recv()
            return closed.value.rcvd.code

    assert run(closed_by_upstream()) == 1008


async def hold(url, path, count, token):
    """`count` WebSocket handshakes by hand (a library client per connection would weigh more than
    the servers), each waiting for its first message; returns the open streams."""
    host, port = url.split("//")[1].split(":")
    opened = []
    semaphore = asyncio.Semaphore(200)

    async def one(i):
        async with semaphore:
            reader, writer = await asyncio.open_connection(host, int(port))
            key = base64.b64encode(os.urandom(16)).decode()
            writer.write((f"GET {path}/r{i} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                          f"Authorization: Bearer {token}\r\n\r\n").encode())
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101"), head[:200]
            first = await reader.readexactly(2)  # a text frame's header: "joined"
            body = await reader.readexactly(first[1] & 0x7F)
            assert b"joined" in body
            opened.append((reader, writer))

    await asyncio.gather(*(one(i) for i in range(count)))
    return opened


def test_five_thousand_websockets_are_held_through_the_gateway(chat_behind_gateway):
    gateway, chat = chat_behind_gateway

    async def many():
        opened = await hold(gateway.url, "/ws", 5000, ALICE)
        assert metric(chat, "websocket_connections", handler="/ws/{room}") == 5000
        # Each is live: the last one still talks.
        reader, writer = opened[-1]
        payload = b"still here"
        mask = os.urandom(4)
        writer.write(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        header = await reader.readexactly(2)
        assert json.loads(await reader.readexactly(header[1] & 0x7F)) == {"from": "alice", "text": "still here"}
        for _, w in opened:
            w.close()

    run(many())
    wait_metric(chat, "websocket_connections", 0, timeout=30, handler="/ws/{room}")


def test_only_websocket_is_relayed(chat_behind_gateway):
    gateway, chat = chat_behind_gateway
    # h2c (or anything else) is proxied as a plain request: the upstream sees no upgrade.
    r = requests.get(gateway.url + "/ws/lobby", headers={"Upgrade": "h2c", "Connection": "Upgrade, HTTP2-Settings",
                                                          "HTTP2-Settings": "AAMAAABkAARAAAAA",
                                                          "Authorization": "Bearer " + ALICE})
    assert r.status_code == 426
    chat.wait_log("request", path="/ws/lobby", status=426)  # the chat saw a plain GET
