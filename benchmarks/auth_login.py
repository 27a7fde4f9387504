#!/usr/bin/env python3
"""Login throughput of Raptorflow's Authentication service against the machine's bcrypt limit,
side by side in one run (issue 25: ≥ 0.9× of cores × bcrypt hashes/s). A login at bcrypt cost 12
is almost all hashing, so the limit is what the cores can hash: one process per core checking
the same cost-12 hash with python3-bcrypt (OpenBSD's C code, as the service's libcrypt).

    /usr/bin/python3 benchmarks/auth_login.py [--rounds 3] [--duration 10] [--clients 8]

Rounds interleave the two; each figure is its median round and the ratio the median of each
round's own ratio. The service runs with its defaults (AUTH_HASH_CONCURRENCY = cores) but for
the per-address limits, lifted: every login comes from one address here.
"""
import argparse
import concurrent.futures
import multiprocessing
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import bcrypt
import requests

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import http_load  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
BIN = ROOT / "build" / "bin"
PASSWORD = "a benchmark password 1"


def hash_for(seconds, hashed):
    """Checks `hashed` until `seconds` have passed; how many checks."""
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        assert bcrypt.checkpw(PASSWORD.encode(), hashed)
        n += 1
    return n


def bcrypt_limit(cores, seconds, hashed):
    with multiprocessing.Pool(cores) as pool:
        start = time.monotonic()
        counts = pool.starmap(hash_for, [(seconds, hashed)] * cores)
        return sum(counts) / (time.monotonic() - start)


def logins(url, clients, seconds, email):
    def client():
        session = requests.Session()
        deadline = time.monotonic() + seconds
        n = 0
        while time.monotonic() < deadline:
            r = session.post(url + "/api/v1/auth/login", json={"email": email, "password": PASSWORD})
            assert r.status_code == 200, r.text
            n += 1
        return n

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        total = sum(pool.map(lambda _: client(), range(clients)))
    return total / (time.monotonic() - start)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    cores = os.cpu_count()
    port = http_load.free_port()
    email, admin = "bench@raptorflow.test", "root@raptorflow.test"
    with tempfile.TemporaryDirectory() as data:
        env = {"PATH": "/usr/bin:/bin", "PORT": str(port), "HOST": "127.0.0.1", "DATA_DIR": data,
               "LOG_LEVEL": "warning", "JWT_SECRET_KEY": http_load.JWT_SECRET, "AUTH_BCRYPT_COST": "12",
               "AUTH_RATE_LIMIT": "1000000", "AUTH_LOGIN_LIMIT": "1000000",
               "AUTH_ADMIN_EMAIL": admin, "AUTH_ADMIN_PASSWORD": PASSWORD}
        service = subprocess.Popen([str(BIN / "auth")], env=env, stdout=subprocess.DEVNULL)
        try:
            http_load.wait_for(port, "/ready", timeout=60)
            url = f"http://127.0.0.1:{port}"
            token = requests.post(url + "/api/v1/auth/login",
                                  json={"email": admin, "password": PASSWORD}).json()["access_token"]
            made = requests.post(url + "/api/v1/auth/users", headers={"Authorization": "Bearer " + token},
                                 json={"email": email, "password": PASSWORD})
            assert made.status_code == 201, made.text
            hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(12))
            limits, served, ratios = [], [], []
            for round_ in range(args.rounds):
                limit = bcrypt_limit(cores, args.duration, hashed)
                rate = logins(url, args.clients, args.duration, email)
                limits.append(limit)
                served.append(rate)
                ratios.append(rate / limit)
                print(f"round {round_ + 1}: bcrypt limit {limit:.2f}/s ({cores} cores), "
                      f"logins {rate:.2f}/s, ratio {rate / limit:.3f}", flush=True)
        finally:
            service.terminate()
            service.wait(timeout=30)
    print(f"\nbcrypt cost 12, {cores} cores: limit {statistics.median(limits):.2f} hashes/s; "
          f"the service {statistics.median(served):.2f} logins/s with {args.clients} clients; "
          f"ratio {statistics.median(ratios):.3f} (target ≥ 0.9)")


if __name__ == "__main__":
    main()
