#!/usr/bin/env python3
"""svckit::kv on Redis against redis-benchmark, side by side in one run, on a Redis started here
(loopback, with a password as in production): GET, SET and INCR on redis-benchmark's own keys,
the same connection count and pipeline depth on both sides. redis-benchmark pipelines by writing
P commands at once on each connection; build/bin/bench_kv runs P coroutines per connection,
which the store writes together. Interleaved rounds, the median of each.

    /usr/bin/python3 benchmarks/kv_load.py [--rounds 3] [--requests 200000]
"""
import argparse
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "support"))
import http_load as h  # noqa: E402
from redis_server import PASSWORD, Redis, free_port  # noqa: E402

COMMANDS = ("get", "set", "incr")
SHAPES = ((2, 1), (2, 16), (8, 16))  # (connections, pipeline)


def redis_benchmark(port, command, connections, pipeline, requests):
    out = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-a", PASSWORD,
                          "-c", str(connections), "-P", str(pipeline), "-n", str(requests),
                          "-t", command, "--csv"], capture_output=True, text=True, check=True).stdout
    row = [line for line in out.splitlines() if line.startswith(f'"{command.upper()}"')][0]
    return float(re.findall(r'"([0-9.]+)"', row)[0])


def svckit(url, command, connections, pipeline, requests):
    out = subprocess.run([str(h.BIN / "bench_kv"), url, command, str(connections), str(pipeline),
                          str(requests)], capture_output=True, text=True, check=True, timeout=120).stdout
    return float(out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        server = Redis(pathlib.Path(tmp) / "redis", port).start()
        try:
            runs = {}
            for r in range(args.rounds):
                for shape in SHAPES:
                    for command in COMMANDS:
                        for side, run in (("redis-benchmark", redis_benchmark), ("svckit", None)):
                            value = (redis_benchmark(port, command, *shape, args.requests) if run
                                     else svckit(server.url, command, *shape, args.requests))
                            runs.setdefault((shape, command, side), []).append(value)
                print(f"  round {r + 1} done", file=sys.stderr)
        finally:
            server.stop()
    print(f"Redis 7 on loopback, {args.requests:,} requests a run, median of {args.rounds} interleaved rounds\n")
    print(f"{'connections x pipeline':24} {'command':8} {'redis-benchmark':>16} {'svckit::kv':>12} {'ratio':>7}")
    worst = None
    for shape in SHAPES:
        for command in COMMANDS:
            bench = statistics.median(runs[(shape, command, "redis-benchmark")])
            ours = statistics.median(runs[(shape, command, "svckit")])
            ratio = ours / bench
            worst = ratio if worst is None else min(worst, ratio)
            print(f"{f'{shape[0]} x {shape[1]}':24} {command.upper():8} {bench:16,.0f} {ours:12,.0f} {ratio:6.2f}x")
    print(f"\nlowest ratio {worst:.2f}x  target >= 0.8x: {'meets' if worst >= 0.8 else 'below'}")


if __name__ == "__main__":
    main()
