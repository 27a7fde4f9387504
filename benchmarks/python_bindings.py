#!/usr/bin/env python3
"""The Python bindings against what the monolith uses today, side by side in one run:

  verify   svckit.auth.Verifier.verify vs PyJWT's jwt.decode, HS256 and RS256, the same tokens
           (sub, iat, exp, roles, email), each checking signature and expiry; and the C++
           verifier alone (build/bin/bench_jwt) so the binding's own share shows
  publish  svckit.bus vs pika on one fresh local broker, persistent messages to a durable queue:
           svckit publish() waiting for each confirm, svckit publish(wait=False) + flush() (every
           message confirmed, 256 at a time... up to 10,000 in flight), pika with confirm_delivery
           (the only way pika knows a message is safe), and pika without confirms (the seed's
           MessageBus.publish, which can lose messages)
  call     the cost of one call into the module (svckit._svckit._noop) against a Python function

Rounds interleave; each figure is the median round. Ratios are what to read (shared machine).

    /usr/bin/python3 benchmarks/python_bindings.py [--rounds 3] [--seconds 1] [--messages 20000]
"""
import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit

import jwt
import pika
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = pathlib.Path(os.environ.get("SVCKIT_BUILD_DIR", ROOT / "build"))
sys.path.insert(0, str(BUILD / "python"))
sys.path.insert(0, str(ROOT / "tests" / "support"))
import svckit  # noqa: E402
from rabbitmq_broker import Broker  # noqa: E402

SECRET = "python-bindings-benchmark-" + "s" * 16
EXCHANGE = "svckit.events"


def rate(fn, seconds):
    """Calls per second of fn() over about `seconds`."""
    n, started = 0, time.perf_counter()
    batch = 64
    while True:
        for _ in range(batch):
            fn()
        n += batch
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return n / elapsed
        batch = min(batch * 2, 4096)


def claims():
    now = int(time.time())
    return {"sub": "user-42", "iat": now, "exp": now + 3600, "roles": ["user"],
            "email": "user42@aether.local"}


def verify_contenders():
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    hs = jwt.encode(claims(), SECRET, algorithm="HS256")
    rs = jwt.encode(claims(), rsa_key, algorithm="RS256")
    hs_verifier = svckit.auth.verifier(secret=SECRET)
    rs_verifier = svckit.auth.verifier(public_key=public_pem)
    public_key = rsa_key.public_key()
    assert hs_verifier.verify(hs) == jwt.decode(hs, SECRET, algorithms=["HS256"])
    assert rs_verifier.verify(rs) == jwt.decode(rs, public_key, algorithms=["RS256"])
    global PLAIN_LOOP  # the HS256 verifier and token, for the plain loops below
    PLAIN_LOOP = (hs_verifier, hs)
    return {
        "svckit HS256": lambda: hs_verifier.verify(hs),
        "PyJWT HS256": lambda: jwt.decode(hs, SECRET, algorithms=["HS256"]),
        "svckit RS256": lambda: rs_verifier.verify(rs),
        "PyJWT RS256": lambda: jwt.decode(rs, public_key, algorithms=["RS256"]),
        # What the services (and svckit.fastapi.require) do per request: authenticate() keeps a
        # verified token until it expires, as clients send the same token with every request.
        "svckit HS256 authenticate (verified-token cache)": lambda: hs_verifier.authenticate(hs),
        "svckit RS256 authenticate (verified-token cache)": lambda: rs_verifier.authenticate(rs),
    }


PLAIN_LOOP = None


def plain_loops(n=300_000):
    """Calls/s of `for _ in range(n): verifier.verify(token)` and of the same loop calling a no-op
    binding with the token: the loop as a monolith would write it, no lambda in between."""
    verifier, token = PLAIN_LOOP
    verify, noop = verifier.verify, svckit._svckit._noop
    started = time.perf_counter()
    for _ in range(n):
        verify(token)
    verified = n / (time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(n):
        noop(token)
    return verified, n / (time.perf_counter() - started)


def cpp_same_token_rate(seconds):
    """The C++ verifier (bench_jwt) on the plain loop's own token and secret, default checks."""
    _, token = PLAIN_LOOP
    out = subprocess.run([str(BUILD / "bin" / "bench_jwt"), str(seconds), "HS256", token, SECRET],
                         capture_output=True, text=True, check=True, timeout=600).stdout
    return json.loads(out)["verify_per_s"]


def cpp_verify_rates(seconds):
    out = subprocess.run([str(BUILD / "bin" / "bench_jwt"), str(seconds)], capture_output=True,
                         text=True, check=True, timeout=600).stdout
    return {r["alg"]: r["verify_per_s"] for r in map(json.loads, out.splitlines())}


def openssl_rsa_verify():
    out = subprocess.run(["openssl", "speed", "-seconds", "1", "rsa2048"], capture_output=True,
                         text=True, timeout=120).stdout
    for line in out.splitlines():
        if line.startswith("rsa 2048 bits"):
            return float(line.split()[-1])
    return float("nan")


def declare(channel, queue):
    channel.exchange_declare(EXCHANGE, "topic", durable=True)
    channel.queue_declare(queue, durable=True)
    channel.queue_bind(queue, EXCHANGE, queue + ".#")
    channel.queue_purge(queue)


def publish_contenders(url, messages):
    admin = pika.BlockingConnection(pika.URLParameters(url))
    admin_channel = admin.channel()
    for q in ("bench-svckit", "bench-pika"):
        declare(admin_channel, q)
    bus = svckit.bus.connect(url, source="monolith")
    payload = {"task_id": "t-1", "title": "benchmark", "priority": "high"}

    def purge():
        for q in ("bench-svckit", "bench-pika"):
            admin_channel.queue_purge(q)

    def svckit_each(n):
        for _ in range(n):
            bus.publish("bench-svckit.created", payload)

    def svckit_pipelined(n):
        for _ in range(n):
            bus.publish("bench-svckit.created", payload, wait=False)
        assert bus.flush(120)

    def pika_run(n, confirms):
        c = pika.BlockingConnection(pika.URLParameters(url))
        ch = c.channel()
        if confirms:
            ch.confirm_delivery()
        props = pika.BasicProperties(delivery_mode=2, content_type="application/json")
        started = time.perf_counter()
        for _ in range(n):
            ch.basic_publish(EXCHANGE, "bench-pika.created", json.dumps(payload), props)
        if not confirms:
            c.process_data_events(0)
        elapsed = time.perf_counter() - started
        c.close()
        return elapsed

    def timed(fn):
        started = time.perf_counter()
        fn()
        return time.perf_counter() - started

    few = max(1000, messages // 10)  # one confirm at a time is slow: fewer messages
    contenders = {
        "svckit publish, each confirmed": (few, lambda: timed(lambda: svckit_each(few))),
        "svckit publish(wait=False) + flush, all confirmed": (messages, lambda: timed(lambda: svckit_pipelined(messages))),
        "pika, confirm_delivery": (few, lambda: pika_run(few, True)),
        "pika, no confirms": (messages, lambda: pika_run(messages, False)),
    }
    return contenders, purge, lambda: (bus.close(), admin.close())


def noop_contenders():
    noop = svckit._svckit._noop

    def python_noop(value):
        return value

    token = "x" * 400
    return {
        "svckit._svckit._noop(token)": lambda: timeit.timeit(lambda: noop(token), number=200_000) / 200_000,
        "a Python function(token)": lambda: timeit.timeit(lambda: python_noop(token), number=200_000) / 200_000,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--messages", type=int, default=20000)
    args = parser.parse_args()

    verify = verify_contenders()
    verify_rates = {name: [] for name in verify}
    cpp = {"HS256": [], "RS256": []}
    noops = noop_contenders()
    noop_costs = {name: [] for name in noops}
    plain = {"verify": [], "noop": [], "cpp": []}
    for _ in range(args.rounds):
        for name, fn in verify.items():
            verify_rates[name].append(rate(fn, args.seconds))
        loop_rate, noop_rate = plain_loops()
        plain["verify"].append(loop_rate)
        plain["noop"].append(noop_rate)
        plain["cpp"].append(cpp_same_token_rate(args.seconds))
        rates = cpp_verify_rates(args.seconds)
        for alg in cpp:
            cpp[alg].append(rates[alg])
        for name, fn in noops.items():
            noop_costs[name].append(fn())

    base = tempfile.mkdtemp(prefix="svckit-rabbitmq-")
    os.chmod(base, 0o755)
    broker = Broker(base, 5689).start()
    try:
        publish, purge, close = publish_contenders(broker.url, args.messages)
        publish_rates = {name: [] for name in publish}
        for _ in range(args.rounds):
            for name, (n, run) in publish.items():
                purge()
                publish_rates[name].append(n / run())
        close()
    finally:
        broker.stop()
        shutil.rmtree(base, ignore_errors=True)

    med = statistics.median
    print(f"median of {args.rounds} interleaved rounds; one Python thread; 2 cores shared by all\n")
    print(f"{'token verification':52} {'verifications/s':>16}")
    for name, values in verify_rates.items():
        print(f"{name:52} {med(values):16,.0f}")
    for alg, values in cpp.items():
        print(f"{'C++ verifier alone (bench_jwt) ' + alg:52} {med(values):16,.0f}")
    print(f"\n{'publishing to RabbitMQ (persistent, durable queue)':52} {'messages/s':>16}")
    for name, values in publish_rates.items():
        print(f"{name:52} {med(values):16,.0f}")
    print(f"\n{'one call':52} {'ns':>16}")
    for name, values in noop_costs.items():
        print(f"{name:52} {med(values) * 1e9:16,.0f}")

    def ratio(a, b, target, label):
        value = a / b
        verdict = "meets" if value >= target else "below"
        print(f"{label:62} {value:6.2f}x  target >= {target}x: {verdict}")

    print()
    v = {k: med(x) for k, x in verify_rates.items()}
    p = {k: med(x) for k, x in publish_rates.items()}
    ratio(v["svckit HS256"], v["PyJWT HS256"], 10, "verify HS256: svckit / PyJWT")
    ratio(v["svckit RS256"], v["PyJWT RS256"], 10, "verify RS256: svckit / PyJWT")
    print(f"{'  RS256 bound: openssl speed rsa2048 verify / PyJWT':62} "
          f"{openssl_rsa_verify() / v['PyJWT RS256']:6.1f}x  (the primitive alone)")
    ratio(v["svckit HS256 authenticate (verified-token cache)"], v["PyJWT HS256"], 10,
          "per request as the services verify, HS256: svckit / PyJWT")
    ratio(v["svckit RS256 authenticate (verified-token cache)"], v["PyJWT RS256"], 10,
          "per request as the services verify, RS256: svckit / PyJWT")
    ratio(p["svckit publish(wait=False) + flush, all confirmed"], p["pika, confirm_delivery"], 5,
          "publish, confirmed: svckit pipelined / pika confirm_delivery")
    ratio(p["svckit publish, each confirmed"], p["pika, confirm_delivery"], 5,
          "publish, confirmed one at a time: svckit / pika")
    print(f"{'publish: svckit pipelined (confirmed) / pika without confirms':62} "
          f"{p['svckit publish(wait=False) + flush, all confirmed'] / p['pika, no confirms']:6.1f}x  (pika may lose these)")
    for alg in cpp:
        overhead = 1 / v[f"svckit {alg}"] - 1 / med(cpp[alg])
        print(f"{'binding overhead per ' + alg + ' verification (Python - C++)':62} {overhead * 1e9:6.0f} ns")

    # Issue 28's row: a plain loop calling verify on one token against the C++ verifier on the
    # same token, and the floor: what one call into the module costs with no work at all.
    loop, noop, same = med(plain["verify"]), med(plain["noop"]), med(plain["cpp"])
    print(f"\n{'plain loop, one HS256 token (calls/s, ns per call)':62}")
    print(f"{'  svckit verify from Python':52} {loop:10,.0f} {1e9 / loop:7.0f} ns")
    print(f"{'  C++ verifier, the same token (bench_jwt)':52} {same:10,.0f} {1e9 / same:7.0f} ns")
    print(f"{'  C++ verifier, its own token (bench_jwt HS256)':52} {med(cpp['HS256']):10,.0f} "
          f"{1e9 / med(cpp['HS256']):7.0f} ns")
    print(f"{'  no-op binding, the same argument':52} {noop:10,.0f} {1e9 / noop:7.0f} ns")
    print(f"{'  binding cost per call (Python - C++, same token)':52} {'':10} {1e9 / loop - 1e9 / same:7.0f} ns")
    ratio(loop, same, 0.9, "plain loop: binding / C++ verifier, same token")
    ratio(loop, med(cpp["HS256"]), 0.9, "plain loop: binding / bench_jwt HS256 (its own token)")


if __name__ == "__main__":
    main()
