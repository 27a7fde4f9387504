#!/usr/bin/env python3
"""svckit::kv on Redis against redis-benchmark, side by side in one run, on a Redis started here
(loopback, with a password as in production): GET, SET and INCR on redis-benchmark's own keys,
the same connection count and pipeline depth on both sides. redis-benchmark pipelines by writing
P commands at once on each connection and awaiting their replies together; build/bin/bench_kv
does the same with a kv::Batch of P commands per connection ("batch"), and, the way a service's
requests use the store, with P coroutines per connection each awaiting one call, which the store
writes together ("calls"). Interleaved rounds, the median of each.

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


def svckit(url, command, connections, pipeline, requests, form):
    out = subprocess.run([str(h.BIN / "bench_kv"), url, command, str(connections), str(pipeline),
                          str(requests)] + (["--batch"] if form == "batch" else []),
                         capture_output=True, text=True, check=True, timeout=120).stdout
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
                        for side in ("redis-benchmark", "calls", "batch"):
                            value = (redis_benchmark(port, command, *shape, args.requests)
                                     if side == "redis-benchmark"
                                     else svckit(server.url, command, *shape, args.requests, side))
                            runs.setdefault((shape, command, side), []).append(value)
                print(f"  round {r + 1} done", file=sys.stderr)
        finally:
            server.stop()
    print(f"Redis 7 on loopback, {args.requests:,} requests a run, median of {args.rounds} interleaved rounds\n")
    print(f"{'connections x pipeline':24} {'command':8} {'redis-benchmark':>16} {'kv batch':>10} "
          f"{'ratio':>7} {'kv calls':>10} {'ratio':>7}")
    worst = {"batch": None, "calls": None}
    for shape in SHAPES:
        for command in COMMANDS:
            bench = statistics.median(runs[(shape, command, "redis-benchmark")])
            row = f"{f'{shape[0]} x {shape[1]}':24} {command.upper():8} {bench:16,.0f}"
            for form in ("batch", "calls"):
                ours = statistics.median(runs[(shape, command, form)])
                ratio = ours / bench
                worst[form] = ratio if worst[form] is None else min(worst[form], ratio)
                row += f" {ours:10,.0f} {ratio:6.2f}x"
            print(row)
    for form in ("batch", "calls"):
        print(f"lowest ratio, {form}: {worst[form]:.2f}x  target >= 0.8x: "
              f"{'meets' if worst[form] >= 0.8 else 'below'}")


if __name__ == "__main__":
    main()
