"""Tokens minted by PyJWT verify in svckit, and svckit's verify in PyJWT, for every algorithm both
support. svckit's side runs through build/bin/svckit-jwt."""
import json
import subprocess
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from conftest import BIN_DIR as BIN

SECRET = "s3cret-" * 10  # 70 bytes: long enough for HS512

ALGORITHMS = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
              "ES256", "ES384", "ES512", "EdDSA"]


def new_private_key(alg):
    if alg.startswith(("RS", "PS")):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg.startswith("ES"):
        return ec.generate_private_key({"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(),
                                        "ES512": ec.SECP521R1()}[alg])
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """alg -> (PyJWT signing key, PyJWT verifying key, svckit-jwt key options for each side)."""
    folder = tmp_path_factory.mktemp("keys")
    out = {}
    for alg in ALGORITHMS:
        if alg.startswith("HS"):
            out[alg] = (SECRET, SECRET, ["--secret", SECRET], ["--secret", SECRET])
            continue
        private = new_private_key(alg)
        private_pem = private.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption())
        public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)
        (folder / f"{alg}.pem").write_bytes(private_pem)
        (folder / f"{alg}.pub.pem").write_bytes(public_pem)
        out[alg] = (private_pem, public_pem, ["--key", str(folder / f"{alg}.pem")],
                    ["--key", str(folder / f"{alg}.pub.pem")])
    return out


def svckit_jwt(*args):
    return subprocess.run([str(BIN / "svckit-jwt"), *args], capture_output=True, text=True, timeout=30)


def claims():
    now = int(time.time())
    return {"sub": "user-42", "email": "a@example.com", "roles": ["developer"],
            "permissions": ["tasks:read"], "iat": now, "exp": now + 600, "type": "access"}


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_pyjwt_tokens_verify_in_svckit(keys, alg):
    signing, _, _, verify_key = keys[alg]
    token = jwt.encode(claims(), signing, algorithm=alg)
    result = svckit_jwt("verify", "--alg", alg, *verify_key, "--type", "access", token)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["sub"] == "user-42"
    # One changed claim and it no longer verifies.
    header, payload, signature = token.split(".")
    forged = jwt.utils.base64url_encode(json.dumps({**claims(), "sub": "admin"}).encode()).decode()
    result = svckit_jwt("verify", "--alg", alg, *verify_key, f"{header}.{forged}.{signature}")
    assert result.returncode == 1 and "signature" in result.stdout


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_svckit_tokens_verify_in_pyjwt(keys, alg):
    _, verifying, sign_key, _ = keys[alg]
    result = svckit_jwt("sign", "--alg", alg, *sign_key, "--kid", "k-1", json.dumps(claims()))
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert jwt.get_unverified_header(token) == {"alg": alg, "typ": "JWT", "kid": "k-1"}
    decoded = jwt.decode(token, verifying, algorithms=[alg])
    assert decoded["sub"] == "user-42" and decoded["permissions"] == ["tasks:read"]


@pytest.mark.parametrize("alg", [a for a in ALGORITHMS if not a.startswith("HS")])
def test_svckit_public_jwk_works_in_pyjwt(keys, alg):
    _, _, sign_key, _ = keys[alg]
    jwk = json.loads(svckit_jwt("jwk", "--alg", alg, *sign_key, "--kid", "k-1").stdout)
    assert jwk["alg"] == alg and jwk["kid"] == "k-1" and "d" not in jwk
    token = svckit_jwt("sign", "--alg", alg, *sign_key, json.dumps(claims())).stdout.strip()
    assert jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=[alg])["sub"] == "user-42"


def test_pyjwt_none_and_confusion_are_refused(keys):
    unsigned = jwt.encode(claims(), None, algorithm="none")
    result = svckit_jwt("verify", "--alg", "HS256", "--secret", SECRET, unsigned)
    assert result.returncode == 1 and "not signed" in result.stdout
    # An HS256 token keyed with the RS256 public key, sent to a verifier holding that key.
    _, public_pem, _, verify_key = keys["RS256"]
    import hmac, hashlib  # noqa: E401 - PyJWT refuses to make this token, so make it by hand
    head = jwt.utils.base64url_encode(b'{"alg":"HS256","typ":"JWT"}').decode()
    body = jwt.utils.base64url_encode(json.dumps(claims()).encode()).decode()
    mac = hmac.new(public_pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    forged = f"{head}.{body}.{jwt.utils.base64url_encode(mac).decode()}"
    result = svckit_jwt("verify", "--alg", "RS256", *verify_key, forged)
    assert result.returncode == 1 and result.stdout.strip() == "no key for alg HS256"
