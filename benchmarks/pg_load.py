#!/usr/bin/env python3
"""svckit on PostgreSQL, side by side in one run, on a PostgreSQL 15 started here:

1. The SDK's pool against a bare libpq program: single-row SELECTs by primary key on the same
   number of connections (build/bin/bench_pg), interleaved rounds, median of each; and, as the
   ceiling, the bare program in libpq's pipeline mode (16 in flight per connection).
2. GET /api/v1/tasks/{id} with a JWT, uncached (the Task Manager on PostgreSQL keeps no cache),
   against the monolith's stack doing the same: FastAPI + psycopg2 on uvicorn with as many
   workers as cores, the same pool size in all, the token checked on both sides (wrk).

    /usr/bin/python3 benchmarks/pg_load.py [--rounds 3] [--duration 5] [--connections 64]
"""
import argparse
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "support"))
import http_load as h  # noqa: E402
from postgres_server import Postgres  # noqa: E402

POOL = 8  # connections per process: svckit's DATABASE_POOL_SIZE, uvicorn's two workers x 4


def pool_rounds(pg_url, rounds, seconds):
    subprocess.run([str(h.BIN / "bench_pg"), "fill", pg_url], check=True, capture_output=True)
    measured = {"bare": [], "svckit": [], "pipelined": []}
    for r in range(rounds):
        for mode in measured:
            out = subprocess.run([str(h.BIN / "bench_pg"), mode, pg_url, str(POOL), str(seconds)],
                                 check=True, capture_output=True, text=True).stdout
            measured[mode].append(float(out))
            print(f"  round {r + 1}: pool {mode:8s} {measured[mode][-1]:>10.0f} queries/s",
                  file=sys.stderr)
    return {mode: sorted(v)[len(v) // 2] for mode, v in measured.items()} | {"rounds": measured}


def create_task(port):
    body = b'{"title": "benchmark task", "priority": "high", "category": "bench"}'
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Authorization: Bearer " + h.bearer_token().encode() + b"\r\n"
                  b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    return json.loads(reply.partition(b"\r\n\r\n")[2])["id"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per run")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    results = {"settings": vars(args).copy()}
    procs = h.Processes()
    port = h.free_port()
    pg = Postgres(f"/tmp/svckit-bench-postgres-{port}", port).start()
    with tempfile.TemporaryDirectory(prefix="svckit-bench-pg-") as tmp:
        workdir = pathlib.Path(tmp)
        try:
            results["pool"] = pool_rounds(pg.create_database("pool"), args.rounds, args.duration)

            url = pg.create_database("tasks")
            ports = {"svckit": h.free_port(), "fastapi": h.free_port()}
            svc = procs.start([str(h.BIN / "task-manager")],
                              env=h.svckit_env(workdir, ports["svckit"], args.threads)
                              | {"DATABASE_URL": url, "DATABASE_POOL_SIZE": str(POOL)})
            h.wait_for(ports["svckit"], "/ready")
            task_id = create_task(ports["svckit"])
            procs.start([sys.executable, "-m", "uvicorn", "fastapi_tasks_pg:app", "--app-dir",
                         str(HERE), "--host", "127.0.0.1", "--port", str(ports["fastapi"]),
                         "--workers", str(args.threads), "--loop", "uvloop", "--http",
                         "httptools", "--no-access-log", "--log-level", "warning"],
                        env=dict(os.environ, DATABASE_URL=url, JWT_SECRET=h.JWT_SECRET,
                                 POOL_SIZE=str(POOL // args.threads)))
            h.wait_for(ports["fastapi"], "/docs")
            runs = {name: f"http://127.0.0.1:{p}/api/v1/tasks/{task_id}" for name, p in ports.items()}
            for target in runs.values():
                h.warm_up(target, args)
            rounds = {name: [] for name in runs}
            for r in range(args.rounds):
                for name, target in runs.items():
                    rounds[name].append(h.wrk(target, args))
                    print(f"  round {r + 1}: tasks {name:8s} {rounds[name][-1]['rps']:>10.0f} req/s",
                          file=sys.stderr)
            for name, measured in rounds.items():
                results[name] = h.median_run(measured)
                results[name]["rounds_rps"] = [m["rps"] for m in measured]
        finally:
            procs.stop_all()
            pg.remove()

    pool = results["pool"]
    print(f"{'pool: bare libpq':36s} {pool['bare']:>10.0f} queries/s  ({POOL} connections)")
    print(f"{'pool: svckit Database::read':36s} {pool['svckit']:>10.0f} queries/s  "
          f"{pool['svckit'] / pool['bare']:.2f}x bare (target >= 0.9x)")
    print(f"{'pool: bare libpq, pipelined x16':36s} {pool['pipelined']:>10.0f} queries/s  "
          f"svckit is {pool['svckit'] / pool['pipelined']:.2f}x of it")
    f, s = results["fastapi"], results["svckit"]
    for name, m in (("tasks: FastAPI + psycopg2", f), ("tasks: svckit task-manager", s)):
        print(f"{name:36s} {m['rps']:>10.0f} req/s  p50 {m['p50_ms']:.2f} ms  p99 {m['p99_ms']:.2f} ms"
              f"  errors {m['errors']}")
    print(f"{'tasks: svckit / FastAPI':36s} {s['rps'] / f['rps']:>10.1f}x  (target >= 10x)")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
