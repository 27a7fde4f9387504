#!/usr/bin/env python3
"""Two task-manager binaries side by side in one run: the old and the new build of one service,
each driven by wrk on /health and on GET /api/v1/tasks/{id} with a bearer token (what
http_load.py measures against nginx, here old against new). Rounds alternate which binary goes
first; the figures are paired medians of new/old over the rounds, which drift far less on a
shared, noisy host than either binary's absolute figures.

    /usr/bin/python3 benchmarks/http_ab.py OLD_TASK_MANAGER NEW_TASK_MANAGER [--rounds 8]
                     [--duration 3] [--connections 64]

Build the old binary from an earlier commit (git worktree, cmake --build ... --target
task-manager) and pass build/bin/task-manager as the new one.
"""
import argparse
import json
import pathlib
import statistics
import sys
import tempfile
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import gateway_load  # noqa: E402  (wrk with the CPU per request of one process)
import http_load  # noqa: E402


def create_task(port):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/tasks", data=json.dumps({"title": "benchmark"}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {http_load.bearer_token()}"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.load(answer)["id"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--duration", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    args.pinned = False  # gateway_load.wrk reads it
    procs = http_load.Processes()
    paths = ("/health", "/api/v1/tasks/{id}")
    runs = {(tag, path): [] for tag in ("old", "new") for path in paths}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = pathlib.Path(tmp)
        try:
            services = {}
            for tag in ("old", "new"):
                port = http_load.free_port()
                env = http_load.svckit_env(workdir / tag, port, threads=2)
                pid = procs.start([getattr(args, tag)], env=env).pid
                http_load.wait_for(port, "/ready")
                services[tag] = (port, pid, create_task(port))
            for i in range(args.rounds):
                for path in paths:
                    for tag in (("old", "new") if i % 2 == 0 else ("new", "old")):
                        port, pid, task_id = services[tag]
                        url = f"http://127.0.0.1:{port}{path.replace('{id}', task_id)}"
                        runs[(tag, path)].append(gateway_load.wrk(url, args, pid))
        finally:
            procs.stop_all()
    print(f"wrk -t2 -c{args.connections} -d{args.duration}s, {args.rounds} rounds, THREADS=2, "
          "2 cores shared by all\n")
    print(f"{'':6} {'path':22} {'requests/s':>11} {'p99 ms':>8} {'user us':>8} {'kernel us':>10}   (medians)")
    for (tag, path), r in runs.items():
        med = lambda key: statistics.median(x[key] for x in r)  # noqa: E731
        print(f"{tag:6} {path:22} {med('rps'):11,.0f} {med('p99_ms'):8.2f} {med('user_us'):8.2f} "
              f"{med('sys_us'):10.2f}")
    print()
    for path in paths:
        pairs = list(zip(runs[("old", path)], runs[("new", path)]))
        ratio = lambda f: statistics.median(f(n) / f(o) for o, n in pairs)  # noqa: E731
        print(f"new / old {path}, paired medians: requests/s {ratio(lambda x: x['rps']):.3f}, "
              f"CPU per request {ratio(lambda x: x['user_us'] + x['sys_us']):.3f}")


if __name__ == "__main__":
    main()
