"""Raptorflow's File Storage Service (services/raptorflow/files) through real S3 clients: boto3
and the AWS CLI, unchanged, against its S3 API — buckets, streamed puts, ranged gets, versions
and their restore, delete markers, multipart uploads, pre-signed URLs, quotas — and what they
must refuse: bad signatures, expired or tampered links, another user's bucket."""
import hashlib
import os
import subprocess
import time

import boto3
import botocore
import pytest
import requests
from botocore.config import Config

ALICE = ("AKIAALICE0000000000", "alice-secret-" + "a" * 27, "alice")
BOB = ("AKIABOB000000000000", "bob-secret-" + "b" * 29, "bob")


def client(svc, key=ALICE, **config):
    return boto3.client("s3", endpoint_url=svc.url, aws_access_key_id=key[0], aws_secret_access_key=key[1],
                        region_name="us-east-1",
                        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                                  retries={"max_attempts": 1}, **config))


def s3_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


@pytest.fixture
def files(start_service, tmp_path):
    keys = ",".join(":".join(k) for k in (ALICE, BOB))
    svc = start_service("files", FILES_S3_KEYS=keys, FILES_QUOTA="64MiB")
    svc.root = tmp_path / "data" / "files"
    return svc


def blobs(svc):
    return sorted(p.name for p in (svc.root / "blobs").iterdir())


def test_objects_round_trip_with_boto3(files):
    s3 = client(files)
    s3.create_bucket(Bucket="papers")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["papers"]
    body = os.urandom(300_000)
    put = s3.put_object(Bucket="papers", Key="reports/2026/q4 final.pdf", Body=body, ContentType="application/pdf")
    got = s3.get_object(Bucket="papers", Key="reports/2026/q4 final.pdf")
    assert got["Body"].read() == body and got["ContentType"] == "application/pdf"
    assert got["ETag"] == put["ETag"] and got["VersionId"] == put["VersionId"]
    part = s3.get_object(Bucket="papers", Key="reports/2026/q4 final.pdf", Range="bytes=1000-1999")
    assert part["Body"].read() == body[1000:2000] and part["ContentRange"] == "bytes 1000-1999/300000"
    head = s3.head_object(Bucket="papers", Key="reports/2026/q4 final.pdf")
    assert head["ContentLength"] == 300000
    # Listing: keys and the prefixes a delimiter rolls up.
    s3.put_object(Bucket="papers", Key="reports/2025/old.txt", Body=b"old")
    s3.put_object(Bucket="papers", Key="readme.md", Body=b"# docs")
    top = s3.list_objects_v2(Bucket="papers", Delimiter="/")
    assert [o["Key"] for o in top["Contents"]] == ["readme.md"]
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["reports/"]
    deep = s3.list_objects_v2(Bucket="papers", Prefix="reports/")
    assert [o["Key"] for o in deep["Contents"]] == ["reports/2025/old.txt", "reports/2026/q4 final.pdf"]
    # Pages.
    for i in range(5):
        s3.put_object(Bucket="papers", Key=f"many/{i}", Body=b"x")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket="papers", Prefix="many/", PaginationConfig={"PageSize": 2})
    assert [o["Key"] for page in pages for o in page["Contents"]] == [f"many/{i}" for i in range(5)]
    # Equal content, one blob; a missing key is S3's NoSuchKey.
    s3.put_object(Bucket="papers", Key="copy-of-readme.md", Body=b"# docs")
    assert hashlib.sha256(b"# docs").hexdigest() in blobs(files)
    assert len([b for b in blobs(files) if b == hashlib.sha256(b"x").hexdigest()]) == 1
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket="papers", Key="nope")
    assert s3_code(e) == "NoSuchKey"


def test_every_upload_is_a_version_and_a_delete_only_marks(files):
    s3 = client(files)
    s3.create_bucket(Bucket="notes")
    first = s3.put_object(Bucket="notes", Key="plan.txt", Body=b"v1")["VersionId"]
    second = s3.put_object(Bucket="notes", Key="plan.txt", Body=b"v2")["VersionId"]
    assert s3.get_object(Bucket="notes", Key="plan.txt")["Body"].read() == b"v2"
    assert s3.get_object(Bucket="notes", Key="plan.txt", VersionId=first)["Body"].read() == b"v1"
    versions = s3.list_object_versions(Bucket="notes")["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [(second, True), (first, False)]
    # Restore the first version: a copy of it on top.
    s3.copy_object(Bucket="notes", Key="plan.txt", CopySource={"Bucket": "notes", "Key": "plan.txt", "VersionId": first})
    assert s3.get_object(Bucket="notes", Key="plan.txt")["Body"].read() == b"v1"
    # Delete: a marker; the object is gone from listings, its versions are not.
    marker = s3.delete_object(Bucket="notes", Key="plan.txt")
    assert marker["DeleteMarker"] is True
    assert "Contents" not in s3.list_objects_v2(Bucket="notes")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket="notes", Key="plan.txt")
    assert s3_code(e) == "NoSuchKey"
    assert s3.get_object(Bucket="notes", Key="plan.txt", VersionId=second)["Body"].read() == b"v2"
    # Removing versions for good removes their blob once nothing refers to it.
    v2_blob = hashlib.sha256(b"v2").hexdigest()
    assert v2_blob in blobs(files)
    s3.delete_object(Bucket="notes", Key="plan.txt", VersionId=second)
    assert v2_blob not in blobs(files)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.delete_bucket(Bucket="notes")
    assert s3_code(e) == "BucketNotEmpty"


def test_multipart_uploads_join_their_parts(files):
    s3 = client(files)
    s3.create_bucket(Bucket="big")
    parts = [os.urandom(5 << 20), os.urandom(5 << 20), os.urandom(123)]
    upload = s3.create_multipart_upload(Bucket="big", Key="video.bin")["UploadId"]
    etags = [s3.upload_part(Bucket="big", Key="video.bin", UploadId=upload, PartNumber=i + 1, Body=p)["ETag"]
             for i, p in enumerate(parts)]
    with pytest.raises(botocore.exceptions.ClientError) as e:  # a part left out of order
        s3.complete_multipart_upload(Bucket="big", Key="video.bin", UploadId=upload, MultipartUpload={
            "Parts": [{"PartNumber": 2, "ETag": etags[1]}, {"PartNumber": 1, "ETag": etags[0]}]})
    assert s3_code(e) == "InvalidPartOrder"
    done = s3.complete_multipart_upload(Bucket="big", Key="video.bin", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": i + 1, "ETag": t} for i, t in enumerate(etags)]})
    assert done["ETag"].endswith('-3"')
    assert s3.get_object(Bucket="big", Key="video.bin")["Body"].read() == b"".join(parts)
    assert list((files.root / "parts").iterdir()) == []
    # An aborted upload leaves nothing.
    upload = s3.create_multipart_upload(Bucket="big", Key="gone.bin")["UploadId"]
    s3.upload_part(Bucket="big", Key="gone.bin", UploadId=upload, PartNumber=1, Body=b"abc")
    s3.abort_multipart_upload(Bucket="big", Key="gone.bin", UploadId=upload)
    assert list((files.root / "parts").iterdir()) == []
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.upload_part(Bucket="big", Key="gone.bin", UploadId=upload, PartNumber=2, Body=b"abc")
    assert s3_code(e) == "NoSuchUpload"


def test_signatures_links_and_owners_are_checked(files):
    s3 = client(files)
    s3.create_bucket(Bucket="private")
    s3.put_object(Bucket="private", Key="secret.txt", Body=b"for alice")
    # Another user's bucket; an unknown key; a wrong secret.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        client(files, BOB).get_object(Bucket="private", Key="secret.txt")
    assert s3_code(e) == "AccessDenied"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        client(files, ("AKIAUNKNOWN00000000", "x" * 40, "nobody")).list_buckets()
    assert s3_code(e) == "InvalidAccessKeyId"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        client(files, (ALICE[0], "wrong" * 8, "alice")).list_buckets()
    assert s3_code(e) == "SignatureDoesNotMatch"
    assert requests.get(files.url + "/private/secret.txt").status_code == 403  # not signed
    # A pre-signed link: good for its method and its expiry only, and not if changed.
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "private", "Key": "secret.txt"}, ExpiresIn=60)
    assert requests.get(url).content == b"for alice"
    assert requests.delete(url).status_code == 403
    assert requests.get(url.replace("secret.txt", "other.txt")).status_code == 403
    tampered = url.replace("X-Amz-Expires=60", "X-Amz-Expires=600")
    assert requests.get(tampered).status_code == 403
    short = s3.generate_presigned_url("get_object", Params={"Bucket": "private", "Key": "secret.txt"}, ExpiresIn=1)
    time.sleep(2.1)
    expired = requests.get(short)
    assert expired.status_code == 403 and b"Request has expired" in expired.content
    # A body that is not what the signature declared is refused and not kept.
    before = blobs(files)
    r = requests.put(files.url + "/private/x", data=b"tampered")  # unsigned
    assert r.status_code == 403
    assert blobs(files) == before


def test_quota_counts_every_version(files):
    s3 = client(files)
    s3.create_bucket(Bucket="full")
    s3.put_object(Bucket="full", Key="a", Body=os.urandom(40 << 20))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket="full", Key="b", Body=os.urandom(30 << 20))
    assert s3_code(e) == "QuotaExceeded"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="full")["Contents"]] == ["a"]
    assert list((files.root / "incoming").iterdir()) == []


def test_the_aws_cli_works_unchanged(files, tmp_path):
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ALICE[0], "AWS_SECRET_ACCESS_KEY": ALICE[1],
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "HOME": str(tmp_path)}

    def aws(*args):
        return subprocess.run(["/usr/bin/aws", "--endpoint-url", files.url, "s3", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    assert aws("mb", "s3://cli").returncode == 0
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("alpha")
    (source / "sub" / "b.bin").write_bytes(os.urandom(20 << 20))  # multipart: over 8 MiB
    copied = aws("cp", "--recursive", str(source), "s3://cli/tree")
    assert copied.returncode == 0, copied.stderr
    listed = aws("ls", "--recursive", "s3://cli/tree/")
    assert sorted(line.split()[-1] for line in listed.stdout.splitlines()) == ["tree/a.txt", "tree/sub/b.bin"]
    back = tmp_path / "back"
    assert aws("cp", "--recursive", "s3://cli/tree", str(back)).returncode == 0
    assert (back / "a.txt").read_text() == "alpha"
    assert (back / "sub" / "b.bin").read_bytes() == (source / "sub" / "b.bin").read_bytes()
    assert aws("rm", "--recursive", "s3://cli/tree").returncode == 0
    assert aws("ls", "--recursive", "s3://cli/").stdout == ""


def signed(files, method, path, body=b"", region="us-east-1", payload=None, key=ALICE):
    """A request signed by botocore's own SigV4 signer, as an SDK would send it; `payload`: the
    hash it declares (signed as it is), instead of the body's."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    class Declaring(S3SigV4Auth):
        def payload(self, request):
            return payload if payload is not None else super().payload(request)

    request = AWSRequest(method=method, url=files.url + path, data=body)
    Declaring(Credentials(key[0], key[1]), "s3", region).add_auth(request)
    return dict(request.headers.items())


def test_what_was_signed_is_what_is_done(files):
    s3 = client(files)
    s3.create_bucket(Bucket="guarded")
    for key in ("a", "b"):
        s3.put_object(Bucket="guarded", Key=key, Body=key.encode())
    # A Delete signed for "a", sent with "b" in its body: refused, "b" untouched.
    body_a = b'<Delete><Object><Key>a</Key></Object></Delete>'
    headers = signed(files, "POST", "/guarded?delete", body_a)
    tampered = requests.post(files.url + "/guarded?delete", data=body_a.replace(b">a<", b">b<"), headers=headers)
    assert tampered.status_code == 400 and b"XAmzContentSHA256Mismatch" in tampered.content
    assert s3.get_object(Bucket="guarded", Key="b")["Body"].read() == b"b"
    assert requests.post(files.url + "/guarded?delete", data=body_a, headers=headers).status_code == 200
    # An x-amz-* header added after signing (a copy source) is refused.
    headers = signed(files, "PUT", "/guarded/c")
    added = requests.put(files.url + "/guarded/c", headers={**headers, "x-amz-copy-source": "/guarded/b"})
    assert added.status_code == 403 and b"is not signed" in added.content
    # A declared payload hash that is neither a SHA-256 nor UNSIGNED-PAYLOAD.
    odd = signed(files, "GET", "/guarded", payload="anything")
    r = requests.get(files.url + "/guarded", headers=odd)
    assert r.status_code == 400 and b"x-amz-content-sha256 must be" in r.content
    # Signed for another region.
    elsewhere = signed(files, "GET", "/guarded", region="eu-west-1")
    r = requests.get(files.url + "/guarded", headers=elsewhere)
    assert r.status_code == 400 and b"AuthorizationHeaderMalformed" in r.content


def test_keys_keep_their_slashes_and_parts_count_toward_the_quota(files):
    s3 = client(files)
    s3.create_bucket(Bucket="slashes")
    s3.put_object(Bucket="slashes", Key="folder/", Body=b"")
    s3.put_object(Bucket="slashes", Key="folder", Body=b"the object")
    s3.put_object(Bucket="slashes", Key="/leading", Body=b"lead")
    assert s3.get_object(Bucket="slashes", Key="folder")["Body"].read() == b"the object"
    assert s3.get_object(Bucket="slashes", Key="folder/")["ContentLength"] == 0
    assert s3.get_object(Bucket="slashes", Key="/leading")["Body"].read() == b"lead"
    s3.put_object(Bucket="slashes", Key="big", Body=os.urandom(40 << 20))
    upload = s3.create_multipart_upload(Bucket="slashes", Key="more")["UploadId"]
    s3.upload_part(Bucket="slashes", Key="more", UploadId=upload, PartNumber=1, Body=os.urandom(20 << 20))
    with pytest.raises(botocore.exceptions.ClientError) as e:  # 40 + 20 held, 64 allowed
        s3.upload_part(Bucket="slashes", Key="more", UploadId=upload, PartNumber=2, Body=os.urandom(10 << 20))
    assert s3_code(e) == "QuotaExceeded"


def test_a_chunked_upload_counts_toward_the_quota_and_unoffered_subresources_are_refused(files):
    s3 = client(files)
    s3.create_bucket(Bucket="chunky")
    s3.put_object(Bucket="chunky", Key="held", Body=os.urandom(40 << 20))
    # A chunked body (no Content-Length) found over the quota once read: refused, not kept.
    headers = signed(files, "PUT", "/chunky/more", payload="UNSIGNED-PAYLOAD")
    r = requests.put(files.url + "/chunky/more", headers=headers,
                     data=(os.urandom(1 << 20) for _ in range(30)))
    assert r.status_code == 403 and b"QuotaExceeded" in r.content
    assert list((files.root / "incoming").iterdir()) == []
    # A subresource the service does not offer is not taken for the plain operation.
    headers = signed(files, "PUT", "/chunky/held?tagging", b"<Tagging/>")
    r = requests.put(files.url + "/chunky/held?tagging", data=b"<Tagging/>", headers=headers)
    assert r.status_code == 501 and b"NotImplemented" in r.content
    assert s3.head_object(Bucket="chunky", Key="held")["ContentLength"] == 40 << 20
    headers = signed(files, "DELETE", "/chunky?policy")
    assert requests.delete(files.url + "/chunky?policy", headers=headers).status_code == 501
    assert s3.head_bucket(Bucket="chunky")["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_a_deleted_object_is_kept_for_its_retention_then_purged(start_service, tmp_path):
    keys = ",".join(":".join(k) for k in (ALICE, BOB))
    first = start_service("files", FILES_S3_KEYS=keys)  # the default: 30 days
    s3 = client(first)
    s3.create_bucket(Bucket="bin")
    s3.put_object(Bucket="bin", Key="old.txt", Body=b"old one")
    s3.put_object(Bucket="bin", Key="kept.txt", Body=b"kept")
    s3.delete_object(Bucket="bin", Key="old.txt")
    assert first.stop() == 0
    blobs_dir = tmp_path / "data" / "files" / "blobs"
    assert hashlib.sha256(b"old one").hexdigest() in [p.name for p in blobs_dir.iterdir()]  # soft
    # Started again with no retention: the sweep at start purges what was deleted.
    again = start_service("files", FILES_S3_KEYS=keys, FILES_RETENTION_DAYS="0")
    again.wait_log("deleted objects purged", keys=1)
    s3 = client(again)
    assert s3.list_object_versions(Bucket="bin", Prefix="old.txt").get("Versions", []) == []
    assert hashlib.sha256(b"old one").hexdigest() not in [p.name for p in blobs_dir.iterdir()]
    assert s3.get_object(Bucket="bin", Key="kept.txt")["Body"].read() == b"kept"


def test_malformed_oversized_and_wrong_typed_requests_are_refused_and_change_nothing(files):
    s3 = client(files)
    s3.create_bucket(Bucket="strict")
    s3.put_object(Bucket="strict", Key="kept", Body=b"kept")
    before = blobs(files)

    def send(method, path, body=b""):
        return requests.request(method, files.url + path, data=body, headers=signed(files, method, path, body))

    def code(r):
        return r.status_code, r.text.split("<Code>")[1].split("</Code>")[0]

    upload = s3.create_multipart_upload(Bucket="strict", Key="m")["UploadId"]
    assert code(send("POST", f"/strict/m?uploadId={upload}", b"<CompleteMultipartUpload/>")) == (400, "MalformedXML")
    assert code(send("POST", f"/strict/m?uploadId={upload}",
                     b"<CompleteMultipartUpload><Part><PartNumber>abc</PartNumber></Part>"
                     b"</CompleteMultipartUpload>")) == (400, "InvalidPartOrder")
    assert code(send("PUT", f"/strict/m?partNumber=abc&uploadId={upload}", b"x")) == (400, "InvalidArgument")
    assert code(send("PUT", f"/strict/m?partNumber=10001&uploadId={upload}", b"x")) == (400, "InvalidArgument")
    assert code(send("POST", "/strict?delete", b"<Delete><Object><VersionId>1</VersionId></Object></Delete>")) == \
        (400, "MalformedXML")
    many = b"<Delete>" + b"<Object><Key>k</Key></Object>" * 1001 + b"</Delete>"
    assert code(send("POST", "/strict?delete", many)) == (400, "MalformedXML")
    assert code(send("GET", "/strict?list-type=2&continuation-token=zz")) == (400, "InvalidArgument")
    assert code(send("PUT", "/Not_A_Bucket")) == (400, "InvalidBucketName")
    assert code(send("PUT", "/strict/" + "k" * 1025, b"x")) == (400, "KeyTooLongError")
    assert code(send("PUT", "/strict/%FF%FE", b"x")) == (400, "InvalidArgument")  # not UTF-8
    # Nothing was stored, and what was there still is.
    assert blobs(files) == before
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="strict")["Contents"]] == ["kept"]
