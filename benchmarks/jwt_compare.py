#!/usr/bin/env python3
"""JWT verification, side by side in one run: svckit (build/bin/bench_jwt), `openssl speed` for the
same primitive, and PyJWT (the monolith's library). One core each; rounds interleave and each
figure is the median round. Prints rates and ratios against the issue's targets.

    /usr/bin/python3 benchmarks/jwt_compare.py [--rounds 3] [--seconds 1]
"""
import argparse
import json
import pathlib
import re
import statistics
import subprocess
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

ROOT = pathlib.Path(__file__).resolve().parent.parent
ALGS = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
        "ES256", "ES384", "ES512", "EdDSA"]
# The raw primitive `openssl speed` measures for each algorithm, and its table row.
PRIMITIVE = {"RS": ("rsa2048", r"^rsa 2048 bits"), "PS": ("rsa2048", r"^rsa 2048 bits"),
             "ES256": ("ecdsap256", r"ecdsa \(nistp256\)"), "ES384": ("ecdsap384", r"ecdsa \(nistp384\)"),
             "ES512": ("ecdsap521", r"ecdsa \(nistp521\)"), "EdDSA": ("ed25519", r"EdDSA \(Ed25519\)")}


def primitive_of(alg):
    return PRIMITIVE.get(alg) or PRIMITIVE.get(alg[:2])


def svckit_rates(seconds):
    out = subprocess.run([str(ROOT / "build/bin/bench_jwt"), str(seconds)], capture_output=True,
                         text=True, check=True, timeout=600).stdout
    return {r["alg"]: r["verify_per_s"] for r in map(json.loads, out.splitlines())}


def openssl_rates(seconds):
    names = sorted({p[0] for p in PRIMITIVE.values()})
    out = subprocess.run(["openssl", "speed", "-seconds", str(seconds), *names], capture_output=True,
                         text=True, timeout=600).stdout
    rates = {}
    for name, pattern in set(PRIMITIVE.values()):
        line = next(l for l in out.splitlines() if re.search(pattern, l))
        rates[name] = float(line.split()[-1])  # the verify/s column
    return rates


def pyjwt_keys(alg):
    if alg.startswith("HS"):
        return "k" * 64, "k" * 64
    if alg.startswith(("RS", "PS")):
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg.startswith("ES"):
        private = ec.generate_private_key({"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(),
                                           "ES512": ec.SECP521R1()}[alg])
    else:
        private = ed25519.Ed25519PrivateKey.generate()
    return private, private.public_key()


def pyjwt_rates(seconds):
    now = int(time.time())
    claims = {"sub": "8d0c6a8e-4b7e-4a57-9d53-3f0f7c1f9a21", "email": "developer@example.com",
              "roles": ["developer"], "permissions": ["tasks:read", "tasks:write", "ai:use"],
              "iss": "svckit-security", "aud": "aether", "jti": "0b6c1f2e-2a4d-4c4e-8f3a-5e6d7c8b9a10",
              "type": "access", "iat": now, "exp": now + 900}
    rates = {}
    for alg in ALGS:
        signing, verifying = pyjwt_keys(alg)
        token = jwt.encode(claims, signing, algorithm=alg)
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in range(16):
                jwt.decode(token, verifying, algorithms=[alg], audience="aether", issuer="svckit-security")
            n += 16
        rates[alg] = n / (time.perf_counter() - start)
    return rates


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    rounds = {"svckit": [], "openssl": [], "pyjwt": []}
    for r in range(args.rounds):
        rounds["svckit"].append(svckit_rates(args.seconds))
        rounds["openssl"].append(openssl_rates(max(1, int(args.seconds))))
        rounds["pyjwt"].append(pyjwt_rates(args.seconds / 2))
        print(f"  round {r + 1} done", flush=True)
    median = {k: {name: statistics.median(rd[name] for rd in v) for name in v[0]} for k, v in rounds.items()}
    print(f"\nverifications per second on one thread, median of {args.rounds} rounds\n")
    print(f"{'alg':6s} {'svckit':>10s} {'openssl':>10s} {'PyJWT':>9s} {'/openssl':>9s} {'/PyJWT':>8s}  targets")
    for alg in ALGS:
        s, p = median["svckit"][alg], median["pyjwt"][alg]
        prim = primitive_of(alg)
        o = median["openssl"][prim[0]] if prim else None
        targets = [f"{s / p:.0f}x PyJWT {'meets' if s / p >= 15 else 'BELOW'} (>= 15x)"]
        if alg in ("RS256", "ES256", "EdDSA"):
            targets.append(f"{s / o:.2f}x openssl {'meets' if s / o >= 0.85 else 'BELOW'} (>= 0.85x)")
        if alg == "HS256":
            targets.append(f"{s:.0f}/s {'meets' if s >= 300_000 else 'BELOW'} (>= 300,000/s)")
        ratio = f"{s / o:9.2f}" if o else f"{'-':>9s}"
        print(f"{alg:6s} {s:10.0f} {o if o else 0:10.0f} {p:9.0f} {ratio} {s / p:8.1f}  {'; '.join(targets)}")


if __name__ == "__main__":
    main()
