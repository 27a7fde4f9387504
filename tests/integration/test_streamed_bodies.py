"""Streamed request bodies and file answers of the SDK, through the drop example (examples/drop):
a 2 GiB upload and download with the server's memory flat, uploads that fail leave nothing,
limits answered before the body is sent, and the HTTP semantics of ranges and validators."""
import hashlib
import os
import pathlib
import socket
import time

import pytest
import requests

GIB = 1 << 30


def peak_rss_kib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def pattern(size, block=1 << 20):
    """`size` bytes that are not all alike, as chunks (a chunked upload), and their SHA-256."""
    digest = hashlib.sha256()
    seed = os.urandom(block)
    chunks = []

    def generate():
        sent = 0
        i = 0
        while sent < size:
            chunk = seed[: min(block, size - sent)]
            chunk = i.to_bytes(8, "big") + chunk[8:] if len(chunk) >= 8 else chunk
            digest.update(chunk)
            sent += len(chunk)
            i += 1
            yield chunk

    return generate, digest


@pytest.fixture
def drop(start_service, tmp_path):
    svc = start_service("drop")
    svc.blobs = tmp_path / "data" / "drop"
    return svc


def test_two_gibibytes_up_and_down_with_memory_flat(drop):
    before = peak_rss_kib(drop.proc.pid)
    generate, digest = pattern(2 * GIB)
    r = requests.put(drop.url + "/api/v1/drop/big.bin", data=generate(), timeout=300)
    assert r.status_code == 201, r.text
    sha = digest.hexdigest()
    assert r.json() == {"name": "big.bin", "sha256": sha, "size": 2 * GIB}
    assert (drop.blobs / sha).stat().st_size == 2 * GIB
    # Ranges from the start, the middle and the end, then the whole file streamed back.
    with open(drop.blobs / sha, "rb") as f:
        for first, last in ((0, 1023), (GIB - 10, GIB + 10), (2 * GIB - 100, 2 * GIB - 1)):
            part = requests.get(drop.url + "/api/v1/drop/big.bin", headers={"Range": f"bytes={first}-{last}"})
            assert part.status_code == 206
            assert part.headers["Content-Range"] == f"bytes {first}-{last}/{2 * GIB}"
            f.seek(first)
            assert part.content == f.read(last - first + 1)
    back = hashlib.sha256()
    with requests.get(drop.url + "/api/v1/drop/big.bin", stream=True, timeout=300) as whole:
        assert whole.headers["Content-Length"] == str(2 * GIB)
        for chunk in whole.iter_content(1 << 20):
            back.update(chunk)
    assert back.hexdigest() == sha
    grown_mib = (peak_rss_kib(drop.proc.pid) - before) / 1024
    assert grown_mib < 64, f"the server's peak RSS grew by {grown_mib:.0f} MiB moving 4 GiB"


def leftovers(drop):
    incoming = drop.blobs / "incoming"
    return sorted(p.name for p in incoming.iterdir()) if incoming.exists() else []


def test_an_interrupted_upload_leaves_nothing_behind(drop):
    for attempt, framing in enumerate((b"Content-Length: 10485760\r\n", b"Transfer-Encoding: chunked\r\n")):
        s = socket.create_connection(("127.0.0.1", drop.port))
        s.sendall(b"PUT /api/v1/drop/cut.bin HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n")
        part = os.urandom(1 << 20)
        s.sendall(part if b"Length" in framing else b"%x\r\n" % len(part) + part + b"\r\n")
        time.sleep(0.3)
        s.close()  # halfway
        deadline = time.monotonic() + 10
        while len([l for l in drop.logs("request") if l.get("path") == "/api/v1/drop/cut.bin"]) <= attempt:
            assert time.monotonic() < deadline, "the cut upload was never answered"
            time.sleep(0.01)
        assert drop.logs("request")[-1]["status"] == 400
    assert leftovers(drop) == []
    assert [p.name for p in drop.blobs.iterdir() if p.name != "incoming"] == []
    assert requests.get(drop.url + "/api/v1/drop/cut.bin").status_code == 404


def test_a_body_over_the_routes_limit_is_refused_before_it_is_sent(start_service, tmp_path):
    drop = start_service("drop", DROP_MAX_BYTES="1MiB")
    # Declared too large, asking to continue: 413 at once, and the body is never sent.
    s = socket.create_connection(("127.0.0.1", drop.port))
    s.sendall(b"PUT /api/v1/drop/x HTTP/1.1\r\nHost: x\r\nContent-Length: 2097152\r\nExpect: 100-continue\r\n\r\n")
    s.settimeout(5)
    answer = s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413") and b"Connection: close" in answer
    s.close()
    # Chunked, growing past the limit as it arrives: 413, nothing kept.
    generate, _ = pattern(3 << 20, block=64 << 10)
    r = requests.put(drop.url + "/api/v1/drop/x", data=generate())
    assert r.status_code == 413 and r.headers["Content-Type"] == "application/problem+json"
    incoming = tmp_path / "data" / "drop" / "incoming"
    assert not incoming.exists() or list(incoming.iterdir()) == []
    # Under the limit, in memory or streamed alike.
    assert requests.put(drop.url + "/api/v1/drop/small", data=b"hello").status_code == 201
    generate, digest = pattern(900 << 10, block=64 << 10)
    r = requests.put(drop.url + "/api/v1/drop/chunked", data=generate())
    assert r.status_code == 201 and r.json()["sha256"] == digest.hexdigest()


def test_ranges_validators_and_names_as_rfc_9110_says(drop):
    body = bytes(range(256)) * 40  # 10,240 bytes
    url = drop.url + "/api/v1/drop/r%C3%A9sum%C3%A9%20final.pdf"
    created = requests.put(url, data=body, headers={"Content-Type": "application/pdf"})
    assert created.status_code == 201
    sha = hashlib.sha256(body).hexdigest()
    with requests.Session() as keep_alive:  # every answer below on one connection
        full = keep_alive.get(url)
        assert full.status_code == 200 and full.content == body
        assert full.headers["ETag"] == f'"{sha}"' and full.headers["Accept-Ranges"] == "bytes"
        assert full.headers["Content-Type"] == "application/pdf"
        assert full.headers["Content-Disposition"] == \
            "attachment; filename=\"r__sum__ final.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20final.pdf"
        last_modified = full.headers["Last-Modified"]

        def get(**headers):
            return keep_alive.get(url, headers=headers)

        assert get(Range="bytes=100-199").content == body[100:200]
        assert get(Range="bytes=10000-").content == body[10000:]
        assert get(Range="bytes=-10").content == body[-10:]
        assert get(Range="bytes=10000-99999").headers["Content-Range"] == "bytes 10000-10239/10240"
        unsatisfiable = get(Range="bytes=20000-")
        assert unsatisfiable.status_code == 416 and unsatisfiable.headers["Content-Range"] == "bytes */10240"
        several = get(Range="bytes=0-1,5-6")  # answered whole, as the RFC allows
        assert several.status_code == 200 and several.content == body
        assert get(Range="lines=1-2").status_code == 200
        assert get(Range="bytes=9-1").status_code == 200  # malformed: ignored
        assert get(**{"If-None-Match": f'"{sha}"'}).status_code == 304
        assert get(**{"If-None-Match": f'W/"{sha}", "other"'}).status_code == 304
        assert get(**{"If-None-Match": '"other"'}).status_code == 200
        assert get(**{"If-Modified-Since": last_modified}).status_code == 304
        assert get(**{"If-Match": '"other"'}).status_code == 412
        assert get(Range="bytes=0-9", **{"If-Range": f'"{sha}"'}).status_code == 206
        assert get(Range="bytes=0-9", **{"If-Range": '"older"'}).status_code == 200
        assert get(Range="bytes=0-9", **{"If-Range": last_modified}).status_code == 206
        head = keep_alive.head(url)
        assert head.status_code == 200 and head.headers["Content-Length"] == "10240" and head.content == b""
    # Equal content is kept once.
    assert requests.put(drop.url + "/api/v1/drop/copy.pdf", data=body).json()["sha256"] == sha
    assert sorted(p.name for p in drop.blobs.iterdir() if p.name != "incoming") == [sha]
