"""The File Storage Service's REST API (/api/v1/files) with the Security Service's tokens: uploads
as a browser's multipart form (2 GiB with memory flat) and as a raw PUT, ranged downloads,
versions and their restore, soft delete, and every access path — owner, shared with a user or a
role (read or write, bucket, folder or file), public links (expired, revoked, tampered) — checked
beside the S3 API that sees the same files."""
import hashlib
import os
import pathlib
import socket
import time

import boto3
import pytest
import requests
from botocore.config import Config

from conftest import make_token
from test_streamed_bodies import GIB, pattern, peak_rss_kib

ALICE_KEY = ("AKIAALICE0000000000", "alice-secret-" + "a" * 27, "alice")


def token(sub, roles=("user",)):
    return {"Authorization": "Bearer " + make_token(sub=sub, roles=roles)}


ALICE, BOB, CAROL = token("alice"), token("bob"), token("carol", roles=("user", "auditor"))


@pytest.fixture
def files(start_service, tmp_path):
    svc = start_service("files", FILES_S3_KEYS=":".join(ALICE_KEY), FILES_QUOTA="3GiB")
    svc.root = tmp_path / "data" / "files"
    return svc


def api(svc, path=""):
    return f"{svc.url}/api/v1/files{path}"


def make_bucket(svc, name, headers=ALICE):
    r = requests.put(api(svc, f"/{name}"), headers=headers, timeout=5)
    assert r.status_code == 201, r.text


def put(svc, path, body, headers=ALICE, **kw):
    return requests.put(api(svc, path), data=body, headers={**headers, **kw.pop("extra", {})}, timeout=30, **kw)


def incoming(svc):
    d = svc.root / "incoming"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def test_form_and_raw_uploads_versions_restore_and_delete(files):
    make_bucket(files, "papers")
    # A browser's form: one file with its own name under a folder, then two at once.
    r = requests.post(api(files, "/papers"), headers=ALICE, timeout=10, data={"path": "reports"},
                      files={"file": ("q4 résumé.pdf", b"%PDF-1 v1", "application/pdf")})
    assert r.status_code == 201, r.text
    [v1] = r.json()["files"]
    assert v1["key"] == "reports/q4 résumé.pdf" and v1["size"] == 9 and v1["content_type"] == "application/pdf"
    assert v1["sha256"] == hashlib.sha256(b"%PDF-1 v1").hexdigest()
    r = requests.post(api(files, "/papers"), headers=ALICE, timeout=10,
                      files=[("file", ("a.txt", b"A", "text/plain")), ("file", ("b.txt", b"B", "text/plain"))])
    assert [f["key"] for f in r.json()["files"]] == ["a.txt", "b.txt"]
    # A raw PUT of the same key: a new version; the download is the latest, with ranges.
    r = put(files, "/papers/reports/q4 résumé.pdf", b"%PDF-1 version two", extra={"Content-Type": "application/pdf"})
    assert r.status_code == 201
    v2 = r.json()
    got = requests.get(api(files, "/papers/reports/q4 résumé.pdf"), headers=ALICE, timeout=5)
    assert got.content == b"%PDF-1 version two" and got.headers["X-Version-Id"] == v2["version_id"]
    part = requests.get(api(files, "/papers/reports/q4 résumé.pdf"), headers={**ALICE, "Range": "bytes=7-13"}, timeout=5)
    assert part.status_code == 206 and part.content == b"version"
    old = requests.get(api(files, f"/papers/reports/q4 résumé.pdf?version={v1['version_id']}"), headers=ALICE, timeout=5)
    assert old.content == b"%PDF-1 v1"
    versions = requests.get(api(files, "/papers/reports/q4 résumé.pdf?versions"), headers=ALICE, timeout=5).json()
    assert [v["version_id"] for v in versions["versions"]] == [v2["version_id"], v1["version_id"]]
    # Restore v1: a new latest version with v1's bytes, no bytes copied.
    r = requests.post(api(files, f"/papers/reports/q4 résumé.pdf?restore={v1['version_id']}"), headers=ALICE, timeout=5)
    assert r.status_code == 201 and r.json()["sha256"] == v1["sha256"]
    assert requests.get(api(files, "/papers/reports/q4 résumé.pdf"), headers=ALICE, timeout=5).content == b"%PDF-1 v1"
    assert len([b for b in (files.root / "blobs").iterdir() if b.name == v1["sha256"]]) == 1
    # The S3 API sees the same files, under the same owner.
    s3 = boto3.client("s3", endpoint_url=files.url, aws_access_key_id=ALICE_KEY[0],
                      aws_secret_access_key=ALICE_KEY[1], region_name="us-east-1",
                      config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    assert s3.get_object(Bucket="papers", Key="a.txt")["Body"].read() == b"A"
    # Listing with folders; a soft delete hides the file, its versions stay.
    listing = requests.get(api(files, "/papers?delimiter=/"), headers=ALICE, timeout=5).json()
    assert [f["key"] for f in listing["files"]] == ["a.txt", "b.txt"] and listing["folders"] == ["reports/"]
    assert requests.delete(api(files, "/papers/a.txt"), headers=ALICE, timeout=5).status_code == 204
    assert requests.get(api(files, "/papers/a.txt"), headers=ALICE, timeout=5).status_code == 404
    assert requests.delete(api(files, "/papers/a.txt"), headers=ALICE, timeout=5).status_code == 404
    kept = requests.get(api(files, "/papers/a.txt?versions"), headers=ALICE, timeout=5).json()["versions"]
    assert [v["deleted"] for v in kept] == [True, False]
    r = requests.post(api(files, f"/papers/a.txt?restore={kept[1]['version_id']}"), headers=ALICE, timeout=5)
    assert r.status_code == 201
    assert requests.get(api(files, "/papers/a.txt"), headers=ALICE, timeout=5).content == b"A"
    assert requests.get(api(files, "/_quota"), headers=ALICE, timeout=5).json()["quota"] == 3 * GIB
    assert incoming(files) == []


def test_every_access_path(files):
    make_bucket(files, "team")
    for key, body in [("docs/plan.md", b"plan"), ("docs/sub/x.md", b"x"), ("secret.txt", b"s"), ("one.txt", b"1")]:
        assert put(files, f"/team/{key}", body).status_code == 201
    # Nobody else sees the bucket at all: 404, not 403.
    assert requests.get(api(files, "/team/docs/plan.md"), headers=BOB, timeout=5).status_code == 404
    assert requests.get(api(files, "/team"), headers=BOB, timeout=5).status_code == 404
    assert requests.get(api(files, "/team/docs/plan.md"), timeout=5).status_code == 401

    def share(**body):
        r = requests.post(api(files, "/_shares"), json={"bucket": "team", **body}, headers=ALICE, timeout=5)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    # A folder, read, with bob: inside it he reads, lists and cannot write; outside, nothing.
    folder = share(path="docs/", user="bob", access="read")
    assert requests.get(api(files, "/team/docs/sub/x.md"), headers=BOB, timeout=5).content == b"x"
    assert [f["key"] for f in requests.get(api(files, "/team?prefix=docs/"), headers=BOB, timeout=5).json()["files"]] == [
        "docs/plan.md", "docs/sub/x.md"]
    assert put(files, "/team/docs/plan.md", b"bob was here", headers=BOB).status_code == 403
    assert requests.delete(api(files, "/team/docs/plan.md"), headers=BOB, timeout=5).status_code == 403
    assert requests.get(api(files, "/team/secret.txt"), headers=BOB, timeout=5).status_code == 404
    assert requests.get(api(files, "/team"), headers=BOB, timeout=5).status_code == 404  # the whole bucket
    # Write on one file: he may change it, and nothing beside it.
    share(path="one.txt", user="bob", access="write")
    assert put(files, "/team/one.txt", b"2", headers=BOB).status_code == 201
    assert requests.get(api(files, "/team/one.txt"), headers=ALICE, timeout=5).content == b"2"
    assert put(files, "/team/one.txt.bak", b"no", headers=BOB).status_code == 404
    # A role: every auditor reads the bucket; carol is one.
    share(role="auditor", access="read")
    assert requests.get(api(files, "/team/secret.txt"), headers=CAROL, timeout=5).content == b"s"
    assert put(files, "/team/secret.txt", b"c", headers=CAROL).status_code == 403
    shared = requests.get(api(files), headers=CAROL, timeout=5).json()["shared"]
    assert shared == [{"bucket": "team", "path": "", "access": "read"}]
    # Only the owner sees and changes shares; unsharing takes the access back.
    assert requests.get(api(files, "/_shares?bucket=team"), headers=BOB, timeout=5).status_code == 404
    assert len(requests.get(api(files, "/_shares?bucket=team"), headers=ALICE, timeout=5).json()["shares"]) == 3
    assert requests.delete(api(files, f"/_shares/{folder}"), headers=BOB, timeout=5).status_code == 404
    assert requests.delete(api(files, f"/_shares/{folder}"), headers=ALICE, timeout=5).status_code == 204
    assert requests.get(api(files, "/team/docs/sub/x.md"), headers=BOB, timeout=5).status_code == 404
    # A share of one file lists nothing beside it; a read share writes nothing, not even by form.
    assert requests.get(api(files, "/team?prefix=one.txt"), headers=BOB, timeout=5).status_code == 404
    assert requests.post(api(files, "/team"), headers=CAROL, files={"file": ("x", b"x")}, timeout=5).status_code == 403
    # A folder writer may upload into the folder by form, and only there.
    share(path="inbox/", user="carol", access="write")
    r = requests.post(api(files, "/team"), headers=CAROL, data={"path": "inbox"}, files={"file": ("c.txt", b"c")}, timeout=5)
    assert r.status_code == 201 and r.json()["files"][0]["key"] == "inbox/c.txt"
    r = requests.post(api(files, "/team"), headers=CAROL, data={"path": "elsewhere"}, files={"file": ("c.txt", b"c")}, timeout=5)
    assert r.status_code == 403
    # Sharing the same path with the same person again changes the share it made.
    again = requests.post(api(files, "/_shares"), json={"bucket": "team", "path": "inbox/", "user": "carol",
                                                        "access": "read"}, headers=ALICE, timeout=5).json()
    assert [s["id"] for s in requests.get(api(files, "/_shares?bucket=team"), headers=ALICE, timeout=5).json()["shares"]
            if s["path"] == "inbox/"] == [again["id"]]
    # Removing a version for good is the owner's alone.
    v = requests.get(api(files, "/team/one.txt?versions"), headers=BOB, timeout=5).json()["versions"][-1]["version_id"]
    assert requests.delete(api(files, f"/team/one.txt?version={v}"), headers=BOB, timeout=5).status_code == 404
    assert requests.delete(api(files, f"/team/one.txt?version={v}"), headers=ALICE, timeout=5).status_code == 204


def test_a_deleted_buckets_shares_and_links_go_with_it(files):
    make_bucket(files, "gone")
    put(files, "/gone/f.txt", b"alice's")
    requests.post(api(files, "/_shares"), json={"bucket": "gone", "user": "bob", "access": "write"}, headers=ALICE, timeout=5)
    link = requests.post(api(files, "/_links"), json={"bucket": "gone", "key": "f.txt"}, headers=ALICE, timeout=5).json()
    for v in requests.get(api(files, "/gone/f.txt?versions"), headers=ALICE, timeout=5).json()["versions"]:
        assert requests.delete(api(files, f"/gone/f.txt?version={v['version_id']}"), headers=ALICE, timeout=5).status_code == 204
    assert requests.delete(api(files, "/gone"), headers=ALICE, timeout=5).status_code == 204
    # Carol takes the name: bob's old grant and alice's old link reach nothing of hers.
    make_bucket(files, "gone", headers=CAROL)
    put(files, "/gone/f.txt", b"carol's", headers=CAROL)
    assert requests.get(api(files, "/gone/f.txt"), headers=BOB, timeout=5).status_code == 404
    assert requests.get(files.url + link["url"], timeout=5).status_code == 404
    # The link's token never reached the log: its route's pattern stands for the path.
    files.wait_log("request", path="/api/v1/files/_public/{token}", status=404)
    token = link["url"].rsplit("/", 1)[1]
    assert not any(token in str(line) for line in files.logs())


def test_public_links_expire_are_revoked_and_cannot_be_forged(files):
    make_bucket(files, "pub")
    put(files, "/pub/brochure.pdf", b"%PDF brochure v1")
    v1 = requests.get(api(files, "/pub/brochure.pdf?versions"), headers=ALICE, timeout=5).json()["versions"][0]

    def link(**body):
        r = requests.post(api(files, "/_links"), json={"bucket": "pub", "key": "brochure.pdf", **body},
                          headers=ALICE, timeout=5)
        assert r.status_code == 201, r.text
        return r.json()

    latest, pinned, brief = link(), link(version_id=v1["version_id"]), link(expires_in_seconds=1)
    put(files, "/pub/brochure.pdf", b"%PDF brochure v2")
    r = requests.get(files.url + latest["url"], timeout=5)  # no token, no account
    assert r.status_code == 200 and r.content == b"%PDF brochure v2"
    assert r.headers["Content-Disposition"].startswith("attachment") and "brochure.pdf" in r.headers["Content-Disposition"]
    assert requests.get(files.url + pinned["url"], timeout=5).content == b"%PDF brochure v1"
    part = requests.get(files.url + latest["url"], headers={"Range": "bytes=0-3"}, timeout=5)
    assert part.status_code == 206 and part.content == b"%PDF"
    # The database keeps no token: what the owner lists cannot be used as a link.
    listed = requests.get(api(files, "/_links?bucket=pub"), headers=ALICE, timeout=5).json()["links"]
    assert len(listed) == 3 and all("token" not in l and "url" not in l for l in listed)
    time.sleep(1.2)
    assert requests.get(files.url + brief["url"], timeout=5).status_code == 410
    tampered = latest["url"][:-2] + ("AA" if not latest["url"].endswith("AA") else "BB")
    assert requests.get(files.url + tampered, timeout=5).status_code == 404
    assert requests.get(files.url + "/api/v1/files/_public/short", timeout=5).status_code == 404
    assert requests.delete(api(files, f"/_links/{latest['id']}"), headers=BOB, timeout=5).status_code == 404
    assert requests.delete(api(files, f"/_links/{latest['id']}"), headers=ALICE, timeout=5).status_code == 204
    assert requests.get(files.url + latest["url"], timeout=5).status_code == 404
    # A deleted file's link finds nothing; bob may not make links to alice's files.
    requests.delete(api(files, "/pub/brochure.pdf"), headers=ALICE, timeout=5)
    assert requests.get(files.url + pinned["url"], timeout=5).status_code == 200  # a version stays
    r = requests.post(api(files, "/_links"), json={"bucket": "pub", "key": "brochure.pdf"}, headers=BOB, timeout=5)
    assert r.status_code == 404


def test_two_gibibytes_by_form_with_memory_flat_and_cut_uploads_leave_nothing(files):
    make_bucket(files, "big")
    generate, digest = pattern(2 * GIB)
    boundary = "svckit-test-boundary-7f3a"

    def form():
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nvideo/raw.bin\r\n"
               f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"raw.bin\"\r\n"
               f"Content-Type: application/octet-stream\r\n\r\n").encode()
        yield from generate()
        yield f"\r\n--{boundary}--\r\n".encode()

    before = peak_rss_kib(files.proc.pid)
    r = requests.post(api(files, "/big"), data=form(), timeout=300,
                      headers={**ALICE, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 201, r.text
    [stored] = r.json()["files"]
    assert stored["size"] == 2 * GIB and stored["sha256"] == digest.hexdigest()
    tail = requests.get(api(files, "/big/video/raw.bin"), headers={**ALICE, "Range": f"bytes={2 * GIB - 16}-"}, timeout=30)
    assert tail.status_code == 206 and len(tail.content) == 16
    grown_mib = (peak_rss_kib(files.proc.pid) - before) / 1024
    assert grown_mib < 64, f"the server's peak RSS grew by {grown_mib:.0f} MiB for a 2 GiB form"
    # A form cut off mid-file: nothing stored, nothing left in incoming.
    host, port = files.url.split("//")[1].split(":")
    with socket.create_connection((host, int(port))) as s:
        head = (f"POST /api/v1/files/big HTTP/1.1\r\nHost: x\r\n{ALICE['Authorization'].join(['Authorization: ', ''])}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 10000000\r\n\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.bin\"\r\n\r\n")
        s.sendall(head.encode() + os.urandom(500_000))
    time.sleep(0.5)
    assert incoming(files) == []
    keys = [f["key"] for f in requests.get(api(files, "/big"), headers=ALICE, timeout=5).json()["files"]]
    assert keys == ["video/raw.bin"]


def test_bad_input_is_refused_and_changes_nothing(files):
    make_bucket(files, "inbox")
    cases = [
        (lambda: requests.post(api(files, "/inbox"), headers=ALICE, data={"key": "x"}, files={}, timeout=5), 415),
        (lambda: requests.post(api(files, "/inbox"), headers=ALICE, timeout=5, data={"note": "n"},
                               files={"other": ("", b"")}), 422),  # a file part without a name nor key
        (lambda: requests.post(api(files, "/inbox"), headers=ALICE, timeout=5, data={"key": "one"},
                               files=[("file", ("a", b"a")), ("file", ("b", b"b"))]), 422),
        (lambda: requests.post(api(files, "/inbox"), headers={**ALICE, "Content-Type": "multipart/form-data; boundary=zz"},
                               data=b"--zz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\nunterminated",
                               timeout=5), 400),
        (lambda: requests.post(api(files, "/inbox"), headers={**ALICE, "Content-Type": "multipart/form-data; boundary=zz"},
                               data=b"--zz\r\nX-Nothing: here\r\n\r\nv\r\n--zz--", timeout=5), 400),
        (lambda: requests.put(api(files, "/Not_A_Bucket"), headers=ALICE, timeout=5), 422),
        (lambda: requests.put(api(files, "/inbox"), headers=BOB, timeout=5), 409),
        (lambda: requests.put(api(files, "/inbox/x"), headers={}, data=b"x", timeout=5), 401),
        (lambda: requests.post(api(files, "/inbox/x"), headers=ALICE, timeout=5), 400),  # POST without ?restore
        (lambda: requests.post(api(files, "/_shares"), json={"bucket": "inbox", "user": "bob", "role": "r",
                                                             "access": "read"}, headers=ALICE, timeout=5), 422),
        (lambda: requests.post(api(files, "/_shares"), json={"bucket": "inbox", "user": "alice", "access": "read"},
                               headers=ALICE, timeout=5), 422),
        (lambda: requests.post(api(files, "/_shares"), json={"bucket": "inbox", "user": "bob", "access": "admin"},
                               headers=ALICE, timeout=5), 422),
        (lambda: requests.post(api(files, "/_shares"), json={"bucket": "inbox", "user": "bob", "access": "read"},
                               headers=BOB, timeout=5), 404),
        (lambda: requests.post(api(files, "/_links"), json={"bucket": "inbox", "key": "nope"}, headers=ALICE, timeout=5), 404),
        (lambda: requests.post(api(files, "/_links"), json={"bucket": "inbox", "key": "x", "expires_in_seconds": 0},
                               headers=ALICE, timeout=5), 422),
        (lambda: requests.get(api(files, "/inbox?limit=0"), headers=ALICE, timeout=5), 422),
        (lambda: requests.get(api(files, "/inbox/%FF%FE"), headers=ALICE, timeout=5), 422),
        (lambda: put(files, "/inbox/a/%2E%2E/%2E%2E/etc", b"x"), 422),  # requests would fold a plain ..
        (lambda: put(files, "/inbox//abs", b"x"), 422),
        (lambda: put(files, "/inbox/tab%09name", b"x"), 422),
        (lambda: put(files, "/inbox/x", b"x", extra={"Content-Type": "not a type"}), 422),
        (lambda: requests.delete(api(files, "/inbox/x?version="), headers=ALICE, timeout=5), 422),
        (lambda: requests.post(api(files, "/inbox"), headers={**ALICE, "Content-Type": "multipart/form-data; boundary=zz"},
                               data=b"--zz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n"
                                    b"Content-Type: text/html\nSet-Cookie: sid=evil\r\n\r\nv\r\n--zz--", timeout=5), 400),
        (lambda: requests.post(api(files, "/inbox"), headers=ALICE, data={"path": "../up"},
                               files={"file": ("f", b"f")}, timeout=5), 422),
    ]
    for i, (call, status) in enumerate(cases):
        r = call()
        assert r.status_code == status, (i, r.status_code, r.text)
        assert r.headers.get("Content-Type") == "application/problem+json", (i, r.headers)
    # Over the quota: refused before the body, and after it for a chunked one.
    r = put(files, "/inbox/huge.bin", b"", extra={"Content-Length": str(4 * GIB)})
    assert r.status_code == 413
    assert requests.get(api(files, "/inbox"), headers=ALICE, timeout=5).json()["files"] == []
    assert incoming(files) == []
