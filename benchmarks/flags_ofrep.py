#!/usr/bin/env python3
"""OFREP evaluation on the Configuration service against the same service's /health, side by side
in one run (issue 25: evaluation adds ≤ 15%). Rounds interleave the three paths; each figure is
its median round, and the ratios are the medians of each round's own ratio.

    /usr/bin/python3 benchmarks/flags_ofrep.py [--rounds 3] [--duration 5] [--connections 64]
    /usr/bin/python3 benchmarks/flags_ofrep.py --instructions 3000    # callgrind, not wrk

  /health                          the floor: no auth, no body
  GET /api/v1/flags (304)          a JWT checked and a conditional answer: what auth costs
  POST /ofrep/v1/evaluate/flags/checkout-flow
                                   JWT, a JSON context parsed, a fractional rollout evaluated,
                                   the answer written (examples/flags/flags.json)
"""
import argparse
import pathlib
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import callgrind  # noqa: E402
import gateway_load  # noqa: E402  (CPU seconds of a process)
import http_load  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
BIN = ROOT / "build" / "bin"


def admin_token():
    import time

    import jwt  # python3-jwt
    now = int(time.time())
    return jwt.encode({"sub": "bench", "roles": ["admin"], "type": "access", "iat": now, "exp": now + 3600},
                      http_load.JWT_SECRET, algorithm="HS256")


def lua_script(workdir, method, body, headers):
    lines = [f'wrk.method = "{method}"']
    if body:
        lines.append(f"wrk.body = '{body}'")
    for name, value in headers.items():
        lines.append(f'wrk.headers["{name}"] = "{value}"')
    path = workdir / f"{method.lower()}-{len(list(workdir.iterdir()))}.lua"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def wrk(url, script, args, pid=None):
    """One wrk run; with `pid`, also the service's CPU per request (user + kernel)."""
    command = ["wrk", "--latency", "-t2", f"-c{args.connections}", f"-d{args.duration}s", url]
    if script:
        command[1:1] = ["-s", script]
    before = gateway_load.cpu_seconds([pid]) if pid else None
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    run = http_load.parse_wrk(out)
    if pid:
        after = gateway_load.cpu_seconds([pid])
        requests = max(1.0, run["rps"] * args.duration)
        run["cpu_us"] = (after[0] - before[0] + after[1] - before[1]) / requests * 1e6
    return run


def instructions(requests):
    """User-space instructions per request of each path, counted by callgrind (THREADS=1)."""
    import os
    token = admin_token()
    client = str(ROOT / "benchmarks" / "keepalive_client.py")
    env_client = dict(os.environ, AUTHORIZATION=f"Bearer {token}")
    body = '{"context":{"targetingKey":"user-4711","plan":"free"}}'
    paths = {"/health": ["/health"], "OFREP evaluate checkout-flow": [
        "/ofrep/v1/evaluate/flags/checkout-flow", "POST", body]}

    def send(args, n):
        subprocess.run([sys.executable, client, str(port), args[0], str(n), *args[1:]], env=env_client, check=True)

    with tempfile.TemporaryDirectory() as tmp:
        workdir = pathlib.Path(tmp)
        port = http_load.free_port()
        env = http_load.svckit_env(workdir, port, threads=1, CONFIG_FLAGS_FILE=str(ROOT / "examples/flags/flags.json"))
        env.pop("HOST")  # callgrind_control must find the process (callgrind.py)
        proc = callgrind.start([str(BIN / "configuration")], env, workdir)
        try:
            http_load.wait_for(port, "/ready", timeout=60)
            counts = {}
            for name, args in paths.items():
                send(args, 200)  # warm-up
                counts[name] = callgrind.count(proc, workdir, lambda: send(args, requests), requests, name)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"user-space instructions per request (callgrind, THREADS=1, {requests} requests each)\n")
    for name, n in counts.items():
        print(f"{name:34} {n:10,.0f}   {n / counts['/health']:.2f}x /health")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--instructions", type=int, default=0, metavar="N",
                        help="count instructions per request over N requests instead (callgrind)")
    args = parser.parse_args()
    if args.instructions:
        instructions(args.instructions)
        return
    procs = http_load.Processes()
    token = admin_token()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = pathlib.Path(tmp)
        (workdir / "lua").mkdir()
        port = http_load.free_port()
        env = http_load.svckit_env(workdir, port, threads=2,
                                   CONFIG_FLAGS_FILE=str(ROOT / "examples/flags/flags.json"))
        try:
            pid = procs.start([str(BIN / "configuration")], env=env).pid
            http_load.wait_for(port, "/ready")
            base = f"http://127.0.0.1:{port}"
            auth = {"Authorization": f"Bearer {token}"}
            cases = {
                "/health": (base + "/health", None),
                "GET /api/v1/flags (304)": (base + "/api/v1/flags", lua_script(
                    workdir / "lua", "GET", "", {**auth, "If-None-Match": '\\"v1\\"'})),
                "OFREP evaluate checkout-flow": (base + "/ofrep/v1/evaluate/flags/checkout-flow", lua_script(
                    workdir / "lua", "POST", '{"context":{"targetingKey":"user-4711","plan":"free"}}',
                    {**auth, "Content-Type": "application/json"})),
            }
            for url, script in cases.values():  # warm up, and check each answers as it should
                wrk(url, script, argparse.Namespace(connections=args.connections, duration=1))
            check = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H",
                                    f"Authorization: Bearer {token}", cases["OFREP evaluate checkout-flow"][0]],
                                   capture_output=True, text=True).stdout
            assert check == "200", check
            runs = {name: [] for name in cases}
            names = list(cases)
            for r in range(args.rounds):
                for name in names[r % len(names):] + names[:r % len(names)]:
                    runs[name].append(wrk(*cases[name], args, pid))
        finally:
            procs.stop_all()
    print(f"wrk -t2 -c{args.connections} -d{args.duration}s, {args.rounds} interleaved rounds, THREADS=2, "
          "2 cores shared by wrk and the service; medians\n")
    health = statistics.median(x["rps"] for x in runs["/health"])
    health_cpu = statistics.median(x["cpu_us"] for x in runs["/health"])
    print(f"{'path':34} {'requests/s':>11} {'p99 ms':>8} {'errors':>7} {'vs /health':>11} {'service CPU us':>15} "
          f"{'vs /health':>11}")
    for name, r in runs.items():
        rps = statistics.median(x["rps"] for x in r)
        p99 = statistics.median(x["p99_ms"] for x in r)
        cpu = statistics.median(x["cpu_us"] for x in r)
        errors = sum(x["errors"] for x in r)
        print(f"{name:34} {rps:11,.0f} {p99:8.2f} {errors:7} {rps / health:10.2f}x {cpu:15.2f} "
              f"{cpu / health_cpu:10.2f}x")
    # Each round's runs are minutes apart at most: the ratio within a round drifts less than
    # either figure across rounds on a shared host.
    print()
    for name in names[1:]:
        speed = statistics.median(o["rps"] / h["rps"] for o, h in zip(runs[name], runs["/health"]))
        cpu = statistics.median(o["cpu_us"] / h["cpu_us"] for o, h in zip(runs[name], runs["/health"]))
        print(f"{name} / /health, paired by round (median): requests/s {speed:.2f}x, service CPU per "
              f"request {cpu:.2f}x")
        print("  each round's CPU ratio: " + " ".join(
            f"{o['cpu_us'] / h['cpu_us']:.2f}" for o, h in zip(runs[name], runs["/health"])))


if __name__ == "__main__":
    main()
