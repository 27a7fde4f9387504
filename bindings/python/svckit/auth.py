"""Token verification and signing with the C++ services' verifier, configured the same way.

    verifier = svckit.auth.verifier_from_env()     # JWT_SECRET_KEY / JWT_PUBLIC_KEY_FILE / JWKS_FILE /
                                                   # JWKS_URL, JWT_ISSUER, JWT_AUDIENCE, AUTH_ROLES
    claims = verifier.verify(token)                # dict; svckit.AuthError(.reason) when refused
    who = verifier.authorize(token, "tasks:write") # Principal; svckit.ForbiddenError without it
    token = svckit.auth.sign({"sub": "u1", "exp": ...}, svckit.auth.Key.hmac(secret))

Keys are bound to one algorithm: a token never chooses how it is checked.
"""
import os
from typing import Iterable, Mapping, Optional, Union

from . import _svckit

_core = _svckit.auth
Key = _core.Key
Principal = _core.Principal
Roles = _core.Roles
Verifier = _core.Verifier
sign = _core.sign

__all__ = ["Key", "Principal", "Roles", "Verifier", "sign", "verifier", "verifier_from_env"]


def verifier_from_env(env: Optional[Mapping[str, str]] = None) -> Verifier:
    """A Verifier from the settings the C++ services read (os.environ by default); tokens must
    be access tokens ("type": "access"), as the services require. ConfigError names a bad
    setting."""
    return Verifier._from_env(dict(os.environ if env is None else env))


def verifier(*, secret: Union[str, bytes, None] = None, public_key: Optional[str] = None,
             public_key_file: Optional[str] = None, algorithm: Optional[str] = None,
             jwks_file: Optional[str] = None, jwks_url: Optional[str] = None,
             issuer: Optional[str] = None, audience: Union[str, Iterable[str], None] = None,
             leeway: float = 30.0, token_type: Optional[str] = None,
             roles: Optional[str] = None, **options) -> Verifier:
    """A Verifier from explicit keys: an HMAC `secret` (HS256 unless `algorithm`), a PEM
    `public_key` or `public_key_file` (RS256 unless `algorithm`), a `jwks_file`, or keys fetched
    from `jwks_url` and kept fresh in the background."""
    keys = []
    if secret is not None:
        keys.append(Key.hmac(secret, algorithm or "HS256"))
    if public_key is not None:
        keys.append(Key.from_pem(public_key, algorithm or "RS256"))
    if public_key_file is not None:
        keys.append(Key.from_pem_file(public_key_file, algorithm or "RS256"))
    if jwks_file is not None:
        import json
        with open(jwks_file, encoding="utf-8") as f:
            document = json.load(f)
        for jwk in document.get("keys", []):
            if jwk.get("use", "sig") == "sig":
                keys.append(Key.from_jwk(jwk))
    if isinstance(audience, str):
        audience = [audience]
    return Verifier(keys, issuer=issuer, audience=None if audience is None else list(audience),
                    leeway=leeway, token_type=token_type, roles=roles, jwks_url=jwks_url,
                    **options)
