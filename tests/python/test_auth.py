"""svckit.auth from Python: the C++ verifier against tokens PyJWT makes, with precise reasons for
every refusal, the services' settings, roles and permissions, and signing that PyJWT accepts."""
import inspect
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

import svckit
from svckit import auth

SECRET = "python-bindings-test-secret-" + "x" * 16


def claims(**extra):
    now = int(time.time())
    return {"sub": "user-1", "iat": now, "exp": now + 600, "roles": ["user"], **extra}


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_public(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def test_verify_takes_one_token_by_position_or_name_and_refuses_anything_else():
    token = jwt.encode(claims(), SECRET, algorithm="HS256")
    v = auth.verifier(secret=SECRET)
    assert v.verify(token)["sub"] == v.verify(token=token)["sub"] == "user-1"
    for args, kwargs in [((), {}), ((token, token), {}), ((), {"tok": token}),
                         ((token,), {"token": token})]:
        with pytest.raises(TypeError, match="exactly one argument, 'token'"):
            v.verify(*args, **kwargs)
    assert v.verify(token.encode())["sub"] == "user-1"  # bytes, as before
    for not_text in (None, 5, [token], bytearray(token.encode())):
        with pytest.raises(TypeError, match="as a str"):
            v.verify(not_text)
    assert str(inspect.signature(v.verify)) == "(token)"
    with pytest.raises(UnicodeEncodeError):  # a lone surrogate is no UTF-8 token
        v.verify("\ud800" + token)
    head, _, signature = token.rpartition(".")
    with pytest.raises(svckit.AuthError) as refused:
        v.verify(head + "." + ("B" if signature[0] == "A" else "A") + signature[1:])
    assert refused.value.reason == "the signature does not verify"
    assert auth.Verifier.verify.__doc__.startswith("The claims of a valid token")


def test_hs256_claims_come_back_as_python_values():
    token = jwt.encode(claims(n=3, f=1.5, ok=True, none=None, nested={"a": [1, "b"]},
                              email="u@x.io"), SECRET, algorithm="HS256")
    got = auth.verifier(secret=SECRET).verify(token)
    assert got["sub"] == "user-1" and got["n"] == 3 and isinstance(got["n"], int)
    assert got["f"] == 1.5 and got["ok"] is True and got["none"] is None
    assert got["nested"] == {"a": [1, "b"]} and got["roles"] == ["user"]


def test_rs256_and_es256_from_pem(rsa_key):
    token = jwt.encode(claims(), rsa_key, algorithm="RS256")
    assert auth.verifier(public_key=pem_public(rsa_key)).verify(token)["sub"] == "user-1"
    ec_key = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(claims(), ec_key, algorithm="ES256")
    assert auth.verifier(public_key=pem_public(ec_key), algorithm="ES256").verify(token)["sub"] == "user-1"


@pytest.mark.parametrize("make, reason", [
    (lambda: jwt.encode(claims(), SECRET, algorithm="HS256")[:-2] + "AA", "signature"),
    (lambda: jwt.encode(claims(exp=int(time.time()) - 3600), SECRET, algorithm="HS256"), "expired"),
    (lambda: jwt.encode(claims(nbf=int(time.time()) + 3600), SECRET, algorithm="HS256"), "not valid yet"),
    (lambda: jwt.encode(claims(), "another-secret-of-enough-length-0123456789", algorithm="HS256"), "signature"),
    (lambda: jwt.encode(claims(), SECRET, algorithm="HS512"), "no key for alg hs512"),
    (lambda: jwt.encode(claims(), None, algorithm="none"), "not signed"),
    (lambda: "not.a.token", ""),
    (lambda: "", ""),
    (lambda: "a" * 20000, "too large"),
])
def test_refusals_are_auth_errors_with_the_reason(make, reason):
    with pytest.raises(svckit.AuthError) as e:
        auth.verifier(secret=SECRET).verify(make())
    assert e.value.status == 401 and e.value.reason and reason in e.value.reason.lower()
    assert isinstance(e.value, svckit.Error)


def test_issuer_and_audience_are_checked():
    v = auth.verifier(secret=SECRET, issuer="aether-security", audience=["aether"])
    good = jwt.encode(claims(iss="aether-security", aud="aether"), SECRET, algorithm="HS256")
    assert v.verify(good)["iss"] == "aether-security"
    for bad in (claims(iss="someone-else", aud="aether"), claims(iss="aether-security", aud="other"),
                claims(aud="aether")):
        with pytest.raises(svckit.AuthError) as e:
            v.verify(jwt.encode(bad, SECRET, algorithm="HS256"))
        assert "iss" in e.value.reason or "aud" in e.value.reason


def test_wrong_types_are_type_errors_not_crashes():
    v = auth.verifier(secret=SECRET)
    for bad in (None, 42, ["list"], {"a": 1}):
        with pytest.raises(TypeError):
            v.verify(bad)
    with pytest.raises(TypeError):
        auth.sign({1: "non-str key"}, auth.Key.hmac(SECRET))
    with pytest.raises(ValueError):
        auth.Key.hmac(SECRET, algorithm="HS1024")
    with pytest.raises(svckit.ConfigError):
        auth.Key.hmac("short", algorithm="HS256")
    with pytest.raises(svckit.ConfigError):
        auth.Key.from_pem("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")


def test_settings_are_read_as_the_services_read_them(tmp_path, rsa_key):
    env = {"JWT_SECRET_KEY": SECRET, "JWT_ISSUER": "aether-security", "AUTH_ROLES": "reader=tasks:read"}
    v = auth.verifier_from_env(env)
    token = jwt.encode(claims(iss="aether-security", type="access", roles=["reader"]), SECRET, algorithm="HS256")
    who = v.authenticate("Bearer " + token)
    assert who.id == "user-1" and who.permissions == ["tasks:read"] and who.has("tasks:read")
    # The services take only access tokens.
    refresh = jwt.encode(claims(iss="aether-security", type="refresh"), SECRET, algorithm="HS256")
    with pytest.raises(svckit.AuthError) as e:
        v.verify(refresh)
    assert "access" in e.value.reason
    # A PEM file and a JWKS file.
    pem = tmp_path / "public.pem"
    pem.write_text(pem_public(rsa_key))
    v = auth.verifier_from_env({"JWT_PUBLIC_KEY_FILE": str(pem)})
    assert v.verify(jwt.encode(claims(type="access"), rsa_key, algorithm="RS256"))["sub"] == "user-1"
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "RS256", "use": "sig"}]}))
    v = auth.verifier_from_env({"JWKS_FILE": str(jwks)})
    token = jwt.encode(claims(type="access"), rsa_key, algorithm="RS256", headers={"kid": "k1"})
    assert v.verify(token)["sub"] == "user-1"


@pytest.mark.parametrize("env, variable", [
    ({}, "JWT_SECRET_KEY"),
    ({"JWT_SECRET_KEY": "too-short"}, "JWT_SECRET_KEY"),
    ({"JWT_SECRET_KEY": SECRET, "AUTH_ROLES": "no-equals-sign"}, "AUTH_ROLES"),
    ({"JWT_PUBLIC_KEY_FILE": "/nonexistent.pem"}, "JWT_PUBLIC_KEY_FILE"),
    ({"JWT_PUBLIC_KEY_FILE": "/etc/hostname", "JWT_ALGORITHM": "RS1"}, "JWT_ALGORITHM"),
])
def test_bad_settings_are_config_errors_naming_the_variable(env, variable):
    with pytest.raises(svckit.ConfigError) as e:
        auth.verifier_from_env(env)
    assert e.value.variable == variable
    assert isinstance(e.value, ValueError)


def test_permissions_from_roles_and_from_the_token():
    v = auth.verifier(secret=SECRET)
    guest = jwt.encode(claims(roles=["guest"]), SECRET, algorithm="HS256")
    assert v.authorize(guest, "tasks:read").id == "user-1"
    with pytest.raises(svckit.ForbiddenError) as e:
        v.authorize(guest, "tasks:write")
    assert e.value.status == 403 and "tasks:write" in e.value.reason
    carried = jwt.encode(claims(roles=[], permissions=["reports:export"]), SECRET, algorithm="HS256")
    assert v.authorize(carried, "reports:export").permissions == ["reports:export"]
    admin = jwt.encode(claims(roles=["admin"]), SECRET, algorithm="HS256")
    assert v.authorize(admin, "anything:at-all").has("x:y")
    no_subject = jwt.encode({"exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    with pytest.raises(svckit.AuthError) as e:
        v.authenticate(no_subject)
    assert "subject" in e.value.reason
    roles = auth.Roles("ops=deploy:*;viewer=tasks:read")
    assert roles.allows(["ops"], "deploy:prod") and not roles.allows(["viewer"], "deploy:prod")
    assert roles.permissions_of(["viewer", "unknown"]) == ["tasks:read"]


def test_tokens_signed_here_verify_in_pyjwt(rsa_key):
    token = auth.sign(claims(), auth.Key.hmac(SECRET, kid="k-hs"))
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT", "kid": "k-hs"}
    assert jwt.decode(token, SECRET, algorithms=["HS256"])["sub"] == "user-1"
    private = rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    key = auth.Key.from_pem(private, "RS256", kid="k-rs")
    token = auth.sign(claims(), key)
    assert jwt.decode(token, rsa_key.public_key(), algorithms=["RS256"])["sub"] == "user-1"
    assert key.public_jwk()["kid"] == "k-rs" and key.can_sign
    with pytest.raises(svckit.ConfigError):
        auth.sign(claims(), auth.Key.from_pem(pem_public(rsa_key)))
