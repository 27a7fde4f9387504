#!/usr/bin/env python3
"""10,000 concurrent keep-alive connections on the Security Service's POST /api/v1/auth/validate
(the seed asks for 10,000 concurrent users). Starts build/bin/security, logs in for a real token,
drives it with wrk and reports req/s, latency, errors and the process's peak RSS.

    /usr/bin/python3 benchmarks/validate_load.py [--connections 10000] [--duration 15]
"""
import argparse
import json
import os
import pathlib
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = pathlib.Path(os.environ.get("SVCKIT_BIN_DIR", ROOT / "build" / "bin"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def rss_mib(pid, field):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.connections + 100:
        sys.exit(f"the descriptor limit ({hard}) is below {args.connections} connections")

    with tempfile.TemporaryDirectory(prefix="svckit-validate-") as tmp:
        port = free_port()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PORT": str(port), "HOST": "127.0.0.1",
               "DATA_DIR": tmp, "THREADS": str(args.threads), "LOG_LEVEL": "warning", "SHUTDOWN_DELAY": "0",
               "JWT_SECRET_KEY": "validate-load-secret-" + "v" * 24, "SECURITY_ADMIN_EMAIL": "admin@example.com",
               "SECURITY_ADMIN_PASSWORD": "admin-password", "SECURITY_BCRYPT_COST": "4",
               # Every connection comes from 127.0.0.1: one client as far as per-IP limits go.
               "SECURITY_RATE_LIMIT": "1000000", "MAX_CONNECTIONS": str(args.connections + 1000),
               "MAX_CONNECTIONS_PER_IP": "0"}  # every connection comes from 127.0.0.1
        proc = subprocess.Popen([str(BIN / "security")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                if proc.poll() is not None:
                    sys.exit("security exited: " + proc.stderr.read().decode())
                try:
                    urllib.request.urlopen(base + "/ready", timeout=1)
                    break
                except OSError:
                    time.sleep(0.05)
            token = post(base + "/api/v1/auth/login", {"email": "admin@example.com", "password": "admin-password"})["access_token"]
            idle_rss = rss_mib(proc.pid, "VmRSS")
            script = pathlib.Path(tmp) / "validate.lua"
            script.write_text('wrk.method = "POST"\n'
                              'wrk.headers["Content-Type"] = "application/json"\n'
                              f'wrk.body = \'{json.dumps({"token": token})}\'\n')
            out = subprocess.run(["wrk", "--latency", "-t", str(args.threads), "-c", str(args.connections),
                                  "-d", f"{args.duration}s", "--timeout", "10s", "-s", str(script),
                                  base + "/api/v1/auth/validate"], capture_output=True, text=True, timeout=600).stdout
            peak_rss = rss_mib(proc.pid, "VmHWM")
            check = post(base + "/api/v1/auth/validate", {"token": token})
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = (sum(map(int, socket_errors.groups())) if socket_errors else 0) + (int(non_2xx.group(1)) if non_2xx else 0)
    p50 = re.search(r"50%\s+([\d.]+\w+)", out).group(1)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out).group(1)
    print(out)
    print(f"connections {args.connections}, {args.duration} s, wrk -t{args.threads}, svckit THREADS={args.threads}")
    print(f"req/s {rps:.0f}   p50 {p50}   p99 {p99}   errors {errors} (target 0)")
    print(f"RSS idle {idle_rss:.1f} MiB, peak {peak_rss:.1f} MiB (target < 150 MiB)")
    print(f"token still valid afterwards: {check['valid']}")
    ok = errors == 0 and peak_rss < 150 and check["valid"]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
