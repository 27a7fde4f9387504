"""Hostile and malformed input over raw sockets: each gets its status and the server keeps serving."""
import asyncio
import json
import socket
import threading
import time

import pytest
import requests

from conftest import AUTH_LINE, authed, raw_request, status_of
from waiting import until  # tests/support

GOOD = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def still_serving(svc):
    assert status_of(raw_request(svc.port, GOOD)) == 200
    assert authed.get(svc.url + "/api/v1/tasks").status_code == 200


@pytest.mark.parametrize("request_bytes", [
    b"GARBAGE\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
    b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
    b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS ClientHello
    b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
    b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
])
def test_malformed_requests_get_400(task_manager, request_bytes):
    response = raw_request(task_manager.port, request_bytes)
    assert status_of(response) == 400, response[:200]
    assert b"application/problem+json" in response
    still_serving(task_manager)


def test_oversized_header_block_gets_431(task_manager):
    big = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"
    assert status_of(raw_request(task_manager.port, big)) == 431
    many = b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(2000)) + b"\r\n"
    assert status_of(raw_request(task_manager.port, many)) == 431
    long_url = b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert status_of(raw_request(task_manager.port, long_url)) == 431
    still_serving(task_manager)


def test_body_over_max_body_gets_413_and_stores_nothing(start_service):
    svc = start_service("task-manager", MAX_BODY="64k")
    url = svc.url + "/api/v1/tasks"
    body = '{"title": "' + "x" * 100_000 + '"}'
    r = authed.post(url, data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.headers["Content-Type"] == "application/problem+json"
    declared = b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999\r\n\r\n{"
    assert status_of(raw_request(svc.port, declared)) == 413
    chunk = b"%x\r\n" % 70000 + b"x" * 70000 + b"\r\n0\r\n\r\n"
    chunked = b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk
    assert status_of(raw_request(svc.port, chunked)) == 413
    assert authed.get(url).json()["total"] == 0
    assert authed.post(url, json={"title": "small"}).status_code == 201
    still_serving(svc)


def test_deeply_nested_json_is_rejected_not_crashing(task_manager):
    body = "[" * 200_000 + "]" * 200_000
    r = authed.post(task_manager.url + "/api/v1/tasks", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "deeper than 512 levels" in r.json()["detail"], r.text
    # 512 levels are still JSON the service reads (and refuses for what it is, not how deep).
    body = '{"title": "x", "extra": ' + "[" * 510 + "]" * 510 + "}"
    r = authed.post(task_manager.url + "/api/v1/tasks", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    # Brackets inside strings are text, not depth.
    body = '{"title": "' + "[" * 5000 + '"}'
    r = authed.post(task_manager.url + "/api/v1/tasks", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "title", r.text
    r = authed.post(task_manager.url + "/api/v1/tasks", data="{" * 100_000, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    still_serving(task_manager)


def test_expect_100_continue(task_manager):
    body = b'{"title": "continued"}'
    with socket.create_connection(("127.0.0.1", task_manager.port), timeout=5) as s:
        s.sendall(b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + AUTH_LINE +
                  b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        assert s.recv(1024).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        s.sendall(body + b"")
        assert status_of(s.recv(65536)) == 201


def test_pipelined_requests_are_answered_in_order(task_manager):
    two = (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Request-ID: first\r\n\r\n"
           b"GET /api/v1/nope HTTP/1.1\r\nHost: x\r\nX-Request-ID: second\r\nConnection: close\r\n\r\n")
    response = raw_request(task_manager.port, two)
    assert response.count(b"HTTP/1.1 ") == 2
    assert response.index(b"X-Request-ID: first") < response.index(b"HTTP/1.1 404")
    assert response.index(b"HTTP/1.1 404") < response.index(b"X-Request-ID: second")


def test_http10_closes_unless_keep_alive_is_asked(task_manager):
    response = raw_request(task_manager.port, b"GET /health HTTP/1.0\r\n\r\n")
    assert status_of(response) == 200 and b"Connection: close" in response
    with socket.create_connection(("127.0.0.1", task_manager.port), timeout=5) as s:
        s.sendall(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        first = s.recv(65536)
        assert b"Connection: keep-alive" in first
        s.sendall(b"GET /health HTTP/1.0\r\n\r\n")
        assert status_of(s.recv(65536)) == 200


def test_slow_loris_is_cut_off_while_others_are_served(start_service):
    svc = start_service("task-manager", HEADER_TIMEOUT="1s")
    loris = []
    for _ in range(50):
        s = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        loris.append(s)
    began = time.monotonic()
    closed = set()
    while time.monotonic() - began < 4 and len(closed) < len(loris):
        for i, s in enumerate(loris):
            if i in closed:
                continue
            try:
                s.sendall(b"X-Drip: 1\r\n")  # one more header line, never the end
                s.setblocking(False)
                if s.recv(1024) == b"":
                    closed.add(i)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                closed.add(i)
            finally:
                s.setblocking(True)
        # Meanwhile a normal client is served promptly.
        t = time.monotonic()
        assert requests.get(svc.url + "/health", timeout=2).status_code == 200
        assert time.monotonic() - t < 1
        time.sleep(0.2)
    elapsed = time.monotonic() - began
    assert len(closed) == len(loris), f"only {len(closed)} of {len(loris)} slow clients were cut off"
    assert elapsed < 3.5
    for s in loris:
        s.close()
    still_serving(svc)


def test_idle_keep_alive_connections_are_closed(start_service):
    svc = start_service("task-manager", IDLE_TIMEOUT="500ms")
    with socket.create_connection(("127.0.0.1", svc.port), timeout=5) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(s.recv(65536)) == 200
        idle_since = time.monotonic()
        # recv waits for the server's close (the socket's 5 s timeout fails the test without one).
        assert s.recv(1024) == b""  # the server closed the idle connection
        assert time.monotonic() - idle_since >= 0.4, "closed before IDLE_TIMEOUT"


def hold_until_refused(svc, status, attempts):
    """Opens connections, each served once and then held idle, until one is answered `status`.
    Returns the held sockets and the refusal (None when none came)."""
    held = []
    for _ in range(attempts):
        s = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = s.recv(4096)
        if status_of(answer) == status:
            s.close()
            return held, answer
        assert status_of(answer) == 200
        held.append(s)
    return held, None


def test_connection_cap_answers_503(start_service):
    """Connections are held open (each served once, then idle) until the server turns one away.
    Its readiness probes' connections may still be closing, so the cap shows as 'at most 20'."""
    svc = start_service("task-manager", MAX_CONNECTIONS="20")
    held, refused = hold_until_refused(svc, 503, 40)
    try:
        assert refused is not None, "40 connections and none refused"
        assert 15 <= len(held) <= 20, len(held)
        assert b"Retry-After: 1" in refused and b"too many connections" in refused
        assert_whole(refused)
    finally:
        for s in held:
            s.close()
    # The server sees the closes asynchronously: serving resumes once it has counted them.
    until(lambda: status_of(raw_request(svc.port, GOOD)) == 200, what="a connection slot to free up")
    still_serving(svc)


def assert_whole(answer):
    """The body is exactly as long as Content-Length says (a short one leaves clients waiting)."""
    head, _, body = answer.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    assert len(body) == length and json.loads(body)["detail"], answer


def test_connections_from_one_address_are_capped(start_service):
    """One address cannot take every connection: past MAX_CONNECTIONS_PER_IP it gets 429 and a
    close, and a connection closed makes room again. Readiness probes' connections may still be
    closing as the test starts, so the cap shows as 'at most 10'."""
    svc = start_service("task-manager", MAX_CONNECTIONS_PER_IP="10")
    held, refused = hold_until_refused(svc, 429, 20)
    try:
        assert refused is not None, "20 connections from one address and none refused"
        assert 7 <= len(held) <= 10, len(held)
        assert b"Retry-After: 1" in refused and b"too many connections from your address" in refused
        assert_whole(refused)
        held.pop().close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the server sees the close on its next read
            s = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = s.recv(4096)
            s.close()
            if status_of(answer) == 200:
                break
            time.sleep(0.05)
        assert status_of(answer) == 200, "a closed connection makes room again"
    finally:
        for s in held:
            s.close()


@pytest.mark.parametrize("trusted", ["", "127.0.0.1"])
def test_each_request_keeps_its_ids_whoever_the_client_is(start_service, trusted):
    """Setting the client's address once corrupted the coroutine's frame (a GCC 12 bug with a
    conditional's temporary): the access log's trace id was freed memory. Both paths, with and
    without trusted proxies, must log exactly the ids the request came with."""
    svc = start_service("task-manager", TRUSTED_PROXIES=trusted)
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    for i in range(20):
        r = requests.get(svc.url + "/api/v1/tasks", timeout=5, headers={
            "X-Request-ID": f"ids-{i}", "X-Forwarded-For": "203.0.113.9",
            "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
        assert r.status_code == 401 and r.json()["request_id"] == f"ids-{i}"
    deadline = time.monotonic() + 5
    while len(svc.logs("request")) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = svc.logs("request")
    # Sorted: a line is written after its answer, so two I/O loops may log neighbours out of order.
    assert sorted((l["request_id"], l["trace_id"]) for l in lines) == \
        sorted((f"ids-{i}", trace_id) for i in range(20))


def test_a_trusted_proxy_is_not_capped_per_address(start_service):
    svc = start_service("task-manager", MAX_CONNECTIONS_PER_IP="3", TRUSTED_PROXIES="127.0.0.1")
    held = []
    try:
        for _ in range(10):
            s = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert status_of(s.recv(4096)) == 200
            held.append(s)
    finally:
        for s in held:
            s.close()


def test_load_shedding_answers_503_but_not_liveness(start_service):
    svc = start_service("svckit-testd", MAX_INFLIGHT="2")
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        requests.get(svc.url + "/test/slow", params={"ms": 1500}, timeout=10).status_code)) for _ in range(2)]
    for t in threads:
        t.start()
    until(lambda: len(svc.logs("slow request started")) == 2, what="both slow requests in flight")
    shed = requests.get(svc.url + "/test/slow", params={"ms": 1})
    assert shed.status_code == 503
    assert shed.headers["Retry-After"] == "1"
    assert shed.json()["detail"] == "the server is overloaded"
    assert requests.get(svc.url + "/health").status_code == 200  # liveness is never shed
    for t in threads:
        t.join()
    assert results == [200, 200]
    assert requests.get(svc.url + "/test/slow", params={"ms": 1}).status_code == 200


def test_a_thousand_concurrent_connections(task_manager):
    async def one(i):
        reader, writer = await asyncio.open_connection("127.0.0.1", task_manager.port)
        try:
            writer.write(b"GET /api/v1/tasks/stats HTTP/1.1\r\nHost: x\r\n" + AUTH_LINE + b"X-Request-ID: c%d\r\n\r\n" % i)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            return status_of(head), (b"X-Request-ID: c%d\r\n" % i) in head
        finally:
            writer.close()

    async def all_of_them():
        # Open all 1000 before any is answered to hold them concurrently.
        return await asyncio.gather(*(one(i) for i in range(1000)))

    results = asyncio.run(asyncio.wait_for(all_of_them(), timeout=60))
    assert all(status == 200 for status, _ in results)
    assert all(echoed for _, echoed in results)
    still_serving(task_manager)


def test_abrupt_disconnects_do_not_hurt(task_manager):
    for payload in (b"GET /health HTTP/1.1\r\n", b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"ti"):
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", task_manager.port))
            s.sendall(payload)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close
            s.close()
    still_serving(task_manager)


def test_large_response_to_a_slow_reader_arrives_whole(task_manager):
    """A response bigger than the socket buffers goes out in parts, as the reader makes room."""
    for i in range(60):
        r = authed.post(task_manager.url + "/api/v1/tasks",
                        json={"title": f"big {i}", "description": f"{i:04d}" * 2500})
        assert r.status_code == 201
    expected = authed.get(task_manager.url + "/api/v1/tasks?limit=100").content
    assert len(expected) > 600_000
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", task_manager.port))
        s.sendall(b"GET /api/v1/tasks?limit=100 HTTP/1.1\r\nHost: x\r\n" + AUTH_LINE + b"Connection: close\r\n\r\n")
        time.sleep(0.5)  # let the server fill what the small buffers hold, then read slowly
        received = b""
        while chunk := s.recv(8192):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert status_of(received) == 200
    assert body == expected


@pytest.mark.parametrize("request_bytes", [
    # The fast path reads this head itself ...
    b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
    # ... and leaves a chunked body to Beast, whose message looks at the first Connection only.
    b"POST /test/echo HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nConnection: close\r\n"
    b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    # HTTP/1.0 asking for both: close wins, on the fast path and on Beast's (Proxy-Connection
    # sends it there), whose parser lets keep-alive win.
    b"GET /health HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
    b"GET /health HTTP/1.0\r\nConnection: keep-alive, close\r\nProxy-Connection: keep-alive\r\n\r\n",
])
def test_close_in_any_connection_field_closes(start_service, request_bytes):
    """Found by fuzz_http_request_head: Connection fields combine, so `close` in the second one
    closes the connection whichever parser read the head."""
    svc = start_service("svckit-testd")
    with socket.create_connection(("127.0.0.1", svc.port), timeout=5) as s:
        s.sendall(request_bytes)
        answer = b""
        while chunk := s.recv(65536):  # until the server closes (a socket timeout fails the test)
            answer += chunk
    assert status_of(answer) == 200 and b"Connection: close" in answer, answer
