#!/usr/bin/env python3
"""Two gateway binaries side by side in one run, in front of the same upstream, with the setup
of gateway_load.py (JWT, rate limit, metrics; wrk -t2 with the same token). Rounds alternate
which binary goes first; the figures are paired medians of B/A over the rounds, which drift far
less on a shared, noisy host than either binary against nginx does.

    /usr/bin/python3 benchmarks/gateway_ab.py OLD_GATEWAY NEW_GATEWAY [--rounds 12] [--duration 3]
                     [--connections 256] [--pinned]

Build the old binary from an earlier commit (git worktree, cmake --build ... --target gateway)
and pass build/bin/gateway as the new one.
"""
import argparse
import pathlib
import statistics
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import gateway_load  # noqa: E402  (upstream, pinning and wrk with CPU per request)
import http_load  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--duration", type=int, default=3)
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--pinned", action="store_true", help="wrk and upstream on core 0, the gateways on core 1")
    args = parser.parse_args()
    threads = 1 if args.pinned else 2
    procs = http_load.Processes()
    runs = {"old": [], "new": []}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = pathlib.Path(tmp)
        try:
            upstream_port = http_load.free_port()
            gateway_load.start_upstream(procs, upstream_port)
            upstream_pid = procs.procs[-1].pid
            gateways = {}
            for tag in ("old", "new"):
                port = http_load.free_port()
                pid = gateway_load.start_gateway(procs, workdir, port, upstream_port, threads,
                                                 binary=getattr(args, tag), tag=tag)
                gateways[tag] = (f"http://127.0.0.1:{port}{gateway_load.PATH}", pid)
            if args.pinned:
                gateway_load.pin(upstream_pid, 0)
                for _, pid in gateways.values():
                    gateway_load.pin(pid, 1)
            for i in range(args.rounds):
                for tag in (("old", "new") if i % 2 == 0 else ("new", "old")):
                    url, pid = gateways[tag]
                    runs[tag].append(gateway_load.wrk(url, args, pid))
        finally:
            procs.stop_all()
    print(f"wrk -t2 -c{args.connections} -d{args.duration}s, {args.rounds} rounds, gateway THREADS={threads}"
          f"{', pinned' if args.pinned else ', 2 cores shared by all'}\n")
    print(f"{'':6} {'requests/s':>11} {'p99 ms':>8} {'user us':>8} {'kernel us':>10}   (medians)")
    for tag, r in runs.items():
        med = lambda key: statistics.median(x[key] for x in r)  # noqa: E731
        print(f"{tag:6} {med('rps'):11,.0f} {med('p99_ms'):8.2f} {med('user_us'):8.2f} {med('sys_us'):10.2f}")
    pairs = list(zip(runs["old"], runs["new"]))
    ratio = lambda f: statistics.median(f(n) / f(o) for o, n in pairs)  # noqa: E731
    print(f"\nnew / old, paired medians: requests/s {ratio(lambda x: x['rps']):.3f}, "
          f"user CPU per request {ratio(lambda x: x['user_us']):.3f}, "
          f"CPU per request {ratio(lambda x: x['user_us'] + x['sys_us']):.3f}")


if __name__ == "__main__":
    main()
