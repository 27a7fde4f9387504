#!/usr/bin/env python3
"""What trace export costs (issue 27): GET /api/v1/tasks/{id} on the Task Manager (SQLite, cache
on, a JWT) with tracing off, with every trace sampled, and with 1% sampled, spans sent over
OTLP/HTTP to a sink that discards them (tests/support/otlp_collector.py).

    /usr/bin/python3 benchmarks/tracing_cost.py [--rounds 5] [--duration 5]   # wrk, side by side
    /usr/bin/python3 benchmarks/tracing_cost.py --instructions 3000           # callgrind

Instructions are callgrind's for the whole process (the exporter's thread included), per
request, the same run after run; requests/s are wrk's (-t2 -c64, THREADS=2), three services up at
once and their runs interleaved, the ratios the medians of each round's own.
"""
import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import callgrind  # noqa: E402
import http_load  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
BIN = ROOT / "build" / "bin"

CONFIGS = {
    "tracing off": {},
    "100% sampled": {"OTEL_TRACES_SAMPLER": "always_on"},
    "1% sampled": {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.01"},
}


def otel_env(name, sink):
    if name == "tracing off":
        return {}
    # The default schedule (5 s): exports start when a batch of 512 is full. A shorter one only
    # adds idle wake-ups, which callgrind, running the process some 50 times slower than real
    # time, would charge to each request many times over.
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": sink, **CONFIGS[name]}


def start_sink(procs):
    port = http_load.free_port()
    procs.start([sys.executable, str(ROOT / "tests/support/otlp_collector.py"), str(port)])
    time.sleep(0.5)
    return f"http://127.0.0.1:{port}"


def create_task(port, token):
    import requests
    r = requests.post(f"http://127.0.0.1:{port}/api/v1/tasks", json={"title": "traced"},
                      headers={"Authorization": f"Bearer {token}"}, timeout=10)
    r.raise_for_status()
    return r.json()["id"]


def instructions(requests_count):
    token = http_load.bearer_token()
    client = str(ROOT / "benchmarks" / "keepalive_client.py")
    env_client = dict(os.environ, AUTHORIZATION=f"Bearer {token}")
    counts = {}
    procs = http_load.Processes()

    def send(port, path, n):
        subprocess.run([sys.executable, client, str(port), path, str(n)], env=env_client, check=True)

    def settle_and_send(port, path):
        send(port, path, requests_count)
        time.sleep(0.5)  # the last full batch exported, inside the count

    try:
        sink = start_sink(procs)
        for name in CONFIGS:
            with tempfile.TemporaryDirectory() as tmp:
                workdir = pathlib.Path(tmp)
                port = http_load.free_port()
                env = http_load.svckit_env(workdir, port, threads=1, **otel_env(name, sink))
                env.pop("HOST")  # callgrind_control must find the process (callgrind.py)
                proc = callgrind.start([str(BIN / "task-manager")], env, workdir)
                try:
                    http_load.wait_for(port, "/ready", timeout=60)
                    path = f"/api/v1/tasks/{create_task(port, token)}"
                    send(port, path, 300)  # warm-up
                    counts[name] = callgrind.count(proc, workdir, lambda: settle_and_send(port, path),
                                                   requests_count, name)
                finally:
                    proc.terminate()
                    proc.wait(timeout=60)
    finally:
        procs.stop_all()
    print(f"instructions per request, GET /api/v1/tasks/{{id}} (callgrind, whole process, THREADS=1, "
          f"{requests_count} requests each)\n")
    for name, n in counts.items():
        print(f"{name:14} {n:10,.0f}   {n / counts['tracing off']:.3f}x tracing off")


def throughput(args):
    token = http_load.bearer_token()
    procs = http_load.Processes()
    runs = {name: [] for name in CONFIGS}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = pathlib.Path(tmp)
        script = workdir / "get.lua"
        script.write_text(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
        try:
            sink = start_sink(procs)
            urls = {}
            for name in CONFIGS:
                port = http_load.free_port()
                (workdir / name).mkdir()
                procs.start([str(BIN / "task-manager")],
                            env=http_load.svckit_env(workdir / name, port, threads=2, **otel_env(name, sink)))
                http_load.wait_for(port, "/ready")
                urls[name] = f"http://127.0.0.1:{port}/api/v1/tasks/{create_task(port, token)}"
            for url in urls.values():  # warm up, and check each answers
                subprocess.run(["wrk", "-t2", "-c64", "-d1s", "-s", str(script), url], capture_output=True,
                               check=True)
            names = list(CONFIGS)
            for r in range(args.rounds):
                for name in names[r % len(names):] + names[:r % len(names)]:
                    out = subprocess.run(["wrk", "--latency", "-t2", f"-c{args.connections}",
                                          f"-d{args.duration}s", "-s", str(script), urls[name]],
                                         capture_output=True, text=True, check=True).stdout
                    runs[name].append(http_load.parse_wrk(out))
        finally:
            procs.stop_all()
    print(f"wrk -t2 -c{args.connections} -d{args.duration}s, {args.rounds} interleaved rounds, THREADS=2; medians\n")
    print(f"{'':14} {'requests/s':>11} {'p99 ms':>8} {'errors':>7}  vs tracing off (paired by round)")
    for name, r in runs.items():
        rps = statistics.median(x["rps"] for x in r)
        p99 = statistics.median(x["p99_ms"] for x in r)
        errors = sum(x["errors"] for x in r)
        paired = statistics.median(o["rps"] / b["rps"] for o, b in zip(r, runs["tracing off"]))
        print(f"{name:14} {rps:11,.0f} {p99:8.2f} {errors:7}  {paired:.3f}x")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--instructions", type=int, default=0, metavar="N",
                        help="count instructions per request over N requests instead (callgrind)")
    args = parser.parse_args()
    if args.instructions:
        instructions(args.instructions)
    else:
        throughput(args)


if __name__ == "__main__":
    main()
