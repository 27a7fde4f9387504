#!/usr/bin/env python3
"""svckit's HTTP serving against nginx, side by side in one run, on the three rows of issue 28:

  connections  10,000 keep-alive connections (wrk -t2 -c10000): GET /api/v1/auth/me with a JWT
               on build/bin/security, against nginx (2 workers) returning the same body. Reports
               requests/s, p99, and the memory each holds: the process's RSS at its highest
               during the run (nginx: master and workers summed), and per connection (that less
               the RSS it had started with, before any load, over the connections; nginx
               allocates its connection tables at start, so most of its cost is in the base).
  core         the same 10,000 connections on GET /health of build/bin/task-manager: the server
               alone, without the Security Service's token check and user read (nginx as above)
  health       GET /health on build/bin/task-manager, 64 connections (wrk -t1 -c64), against
               nginx `return 200` with the same body.
  task         GET /api/v1/tasks/{id} with a JWT on build/bin/task-manager (SQLite, cache on),
               64 connections, against nginx returning the same body.

Beside each, the floor (build/bin/http_floor, benchmarks/http_floor.c): a server doing nothing
but the syscalls the answer needs (epoll, recv until drained, one send), 2 threads, the same body.
On the 64-connection rows also the floor with one epoll_ctl per request added (`rearm`), as Asio
re-arms a socket before each wait: what that one syscall costs, apart from everything else.
Every row's contenders run interleaved, ROUNDS times; the table shows each one's median round
and the ratios of those medians. Each row also shows the server's CPU per request (user + system
time of its processes over the run, from /proc, over the requests served): when the client is
what limits requests/s, as wrk's one thread can on the 64-connection rows, CPU per request still
tells the servers apart.

    /usr/bin/python3 benchmarks/nginx_parity.py [--rounds 3] [--duration 10] [--connections 10000]
                                                [--rows health,task]

Everything listens on 127.0.0.1; every process started here is stopped at the end.
"""
import argparse
import json
import os
import pathlib
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from grpc_load import wait_port  # noqa: E402
from http_load import (BIN, Processes, bearer_token, free_port, median_run,  # noqa: E402
                       parse_wrk, svckit_env, wait_for)


def request(url, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                 headers=headers)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read().decode()


def rss_kib(pids):
    total = 0
    for pid in pids:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def nginx_pids(master):
    children = pathlib.Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [master, *map(int, children)]


class RssSampler:
    """The highest RSS of `pids` while it runs, sampled every 20 ms."""

    def __init__(self, pids):
        self.pids, self.peak, self.stop_flag = pids, 0, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop_flag.is_set():
            self.peak = max(self.peak, rss_kib(self.pids))
            time.sleep(0.02)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        self.thread.join()


BASE_RSS = {}  # KiB of each process group before any load: what a connection adds is above it


def median_of(runs, key):
    """The median over the rounds of one figure (each figure its own median round)."""
    values = sorted(run[key] for run in runs)
    return values[len(values) // 2]


def cpu_seconds(pids):
    """User + system time of the processes (all their threads) so far."""
    total = 0
    for pid in pids:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def wrk(url, token, threads, connections, duration, cpu_pids, pids=None):
    cmd = ["wrk", "--latency", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s",
           "--timeout", "10s", "-H", f"Authorization: Bearer {token}", url]
    cpu_before = cpu_seconds(cpu_pids)
    with RssSampler(pids or []) as sampler:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600).stdout
    result = parse_wrk(out)
    served = int(re.search(r"(\d+) requests in", out).group(1))  # wrk's count, not rps × duration
    result["cpu_us"] = (cpu_seconds(cpu_pids) - cpu_before) * 1e6 / max(1, served)
    if pids:
        result["rss_mib"] = sampler.peak / 1024
        base = BASE_RSS[tuple(pids)]
        result["bytes_per_connection"] = (sampler.peak - base) * 1024 / connections
    return result


def start_nginx(procs, workdir, port, bodies, connections):
    locations = "\n".join(
        f"    location = {path} {{ default_type application/json; return 200 '{body}'; }}"
        for path, body in bodies.items())
    conf = workdir / "nginx.conf"
    conf.write_text(f"""
worker_processes 2;
worker_rlimit_nofile {connections + 1000};
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log;
events {{ worker_connections {connections + 1000}; }}
http {{
  access_log off;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
{locations}
  }}
}}
""")
    master = procs.start(["nginx", "-c", str(conf), "-p", str(workdir)])
    wait_for(port)
    return nginx_pids(master.pid)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--rows", default="connections,core,health,task", help="which rows, comma-separated")
    args = parser.parse_args()
    chosen = args.rows.split(",")
    if not chosen or not set(chosen) <= {"connections", "core", "health", "task"}:
        sys.exit(f"--rows: some of connections, core, health, task (not {args.rows!r})")
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.connections + 1000:
        sys.exit(f"the descriptor limit ({hard}) is below what {args.connections} connections need")

    procs = Processes()
    with tempfile.TemporaryDirectory(prefix="svckit-nginx-parity-") as tmp:
        workdir = pathlib.Path(tmp)
        try:
            ports = {name: free_port() for name in ("security", "tasks", "nginx")}
            security = procs.start([str(BIN / "security")], env=svckit_env(
                workdir / "security", ports["security"], 2, SECURITY_ADMIN_EMAIL="admin@example.com",
                SECURITY_ADMIN_PASSWORD="admin-password", SECURITY_BCRYPT_COST="4",
                # every connection comes from 127.0.0.1: one client as far as per-IP limits go
                SECURITY_RATE_LIMIT="1000000", MAX_CONNECTIONS=str(args.connections + 1000),
                MAX_CONNECTIONS_PER_IP="0"))
            tasks = procs.start([str(BIN / "task-manager")], env=svckit_env(
                workdir / "tasks", ports["tasks"], 2, MAX_CONNECTIONS=str(args.connections + 1000),
                MAX_CONNECTIONS_PER_IP="0"))
            wait_for(ports["security"], "/ready")
            wait_for(ports["tasks"], "/ready")
            security_url = f"http://127.0.0.1:{ports['security']}"
            tasks_url = f"http://127.0.0.1:{ports['tasks']}"
            me_token = json.loads(request(security_url + "/api/v1/auth/login",
                                          {"email": "admin@example.com", "password": "admin-password"}))["access_token"]
            task_token = bearer_token()
            task = json.loads(request(tasks_url + "/api/v1/tasks", {"title": "parity", "description": "nginx"},
                                      token=task_token))
            task_path = f"/api/v1/tasks/{task['id']}"
            bodies = {"/api/v1/auth/me": request(security_url + "/api/v1/auth/me", token=me_token),
                      "/health": request(tasks_url + "/health"),
                      task_path: request(tasks_url + task_path, token=task_token)}
            assert all("'" not in b for b in bodies.values())
            nginx = start_nginx(procs, workdir, ports["nginx"], bodies, args.connections)
            nginx_url = f"http://127.0.0.1:{ports['nginx']}"
            floors, rearmed = {}, {}  # one per body: the floor answers every path alike
            for path, body in bodies.items():
                for into, extra in ((floors, []), (rearmed, ["rearm"])):
                    port = free_port()
                    floor = procs.start([str(BIN / "http_floor"), str(port), body, "2", *extra])
                    into[path] = (f"http://127.0.0.1:{port}{path}", [floor.pid])
                    wait_port(port)  # the floor keeps every connection: no Connection: close

            def floor(name, path, token):
                url, pids = (floors if name == "floor" else rearmed)[path]
                return (name, url, token, pids)

            # (name, URL, token, its processes); RSS is sampled on the 10,000-connection rows.
            rows = {
                "connections": [("svckit", security_url + "/api/v1/auth/me", me_token, [security.pid]),
                                ("nginx", nginx_url + "/api/v1/auth/me", me_token, nginx),
                                floor("floor", "/api/v1/auth/me", me_token)],
                "core": [("svckit", tasks_url + "/health", task_token, [tasks.pid]),
                         ("nginx", nginx_url + "/health", task_token, nginx),
                         floor("floor", "/health", task_token)],
                "health": [("svckit", tasks_url + "/health", task_token, [tasks.pid]),
                           ("nginx", nginx_url + "/health", task_token, nginx),
                           floor("floor", "/health", task_token), floor("rearm", "/health", task_token)],
                "task": [("svckit", tasks_url + task_path, task_token, [tasks.pid]),
                         ("nginx", nginx_url + task_path, task_token, nginx),
                         floor("floor", task_path, task_token), floor("rearm", task_path, task_token)],
            }
            rows = {row: contenders for row, contenders in rows.items() if row in chosen}
            sampled = ("connections", "core")  # the rows whose memory is measured
            for row, contenders in rows.items():
                for _, _, _, pids in contenders:
                    if row in sampled and tuple(pids) not in BASE_RSS:
                        BASE_RSS[tuple(pids)] = rss_kib(pids)
            shape = {"connections": (2, args.connections), "core": (2, args.connections),
                     "health": (1, 64), "task": (1, 64)}
            for row, contenders in rows.items():  # warm-up: connections, caches, page-ins
                threads, conns = shape[row]
                for _, url, token, pids in contenders:
                    wrk(url, token, threads, min(conns, 1000), 2, pids)
            measured = {(row, name): [] for row, contenders in rows.items() for name, *_ in contenders}
            for r in range(args.rounds):
                for row, contenders in rows.items():
                    threads, conns = shape[row]
                    for name, url, token, pids in contenders:
                        memory = pids if row in sampled and name != "floor" else None
                        result = wrk(url, token, threads, conns, args.duration, pids, memory)
                        measured[(row, name)].append(result)
                        extra = f", {result['rss_mib']:.1f} MiB" if memory else ""
                        print(f"round {r + 1} {row:12} {name:7} {result['rps']:9.0f} req/s, "
                              f"p99 {result['p99_ms']:.1f} ms, {result['cpu_us']:.2f} us CPU per request, "
                              f"errors {result['errors']}{extra}", flush=True)
        finally:
            procs.stop_all()

    print(f"\n{args.rounds} interleaved rounds of {args.duration} s; svckit THREADS=2, nginx 2 workers, "
          "access logs off; everything on the same 2 cores")
    print(f"{'row':46}{'svckit':>12}{'nginx':>12}{'ratio':>9}  target   floor  svckit/floor  nginx/floor")
    targets = {"connections": 1.0, "core": 1.0, "health": 0.95, "task": 0.85}
    for row in rows:
        s, n = median_run(measured[(row, "svckit")]), median_run(measured[(row, "nginx")])
        f = median_run(measured[(row, "floor")])
        label = {"connections": f"GET /api/v1/auth/me, {args.connections} connections",
                 "core": f"GET /health, {args.connections} connections",
                 "health": "GET /health, 64 connections",
                 "task": "GET /api/v1/tasks/{id}, 64 connections"}[row]
        print(f"{label + ' req/s':46}{s['rps']:12.0f}{n['rps']:12.0f}{s['rps'] / n['rps']:8.2f}x  >= {targets[row]}x"
              f"{f['rps']:9.0f}{s['rps'] / f['rps']:12.2f}x{n['rps'] / f['rps']:12.2f}x")
        print(f"{'  p99 ms':46}{s['p99_ms']:12.1f}{n['p99_ms']:12.1f}")
        cpu = {k: median_of(measured[(row, k)], "cpu_us") for k in ("svckit", "nginx", "floor")}
        print(f"{'  server CPU per request, us (median round)':46}{cpu['svckit']:12.2f}{cpu['nginx']:12.2f}"
              f"{cpu['svckit'] / cpu['nginx']:8.2f}x{'':10}{cpu['floor']:8.2f}{cpu['svckit'] / cpu['floor']:12.2f}x"
              f"{cpu['nginx'] / cpu['floor']:12.2f}x")
        if (row, "rearm") in measured:
            a = median_run(measured[(row, "rearm")])
            a_cpu = median_of(measured[(row, "rearm")], "cpu_us")
            print(f"{'  floor + one epoll_ctl per request, req/s':46}{a['rps']:12.0f}{'':12}{a['rps'] / f['rps']:8.2f}x"
                  f"  of the floor; CPU per request {a_cpu:.2f} us, {a_cpu / cpu['floor']:.2f}x the floor's")
        if s["errors"] or n["errors"]:
            print(f"{'  errors':46}{s['errors']:12}{n['errors']:12}")
        if row in ("connections", "core"):
            s_rss, n_rss = (median_of(measured[(row, k)], "rss_mib") for k in ("svckit", "nginx"))
            print(f"{'  peak RSS MiB (median round)':46}{s_rss:12.1f}{n_rss:12.1f}{s_rss / n_rss:8.2f}x  <= 2x")
            s_per, n_per = (median_of(measured[(row, k)], "bytes_per_connection") for k in ("svckit", "nginx"))
            print(f"{'  bytes per connection':46}{s_per:12.0f}{n_per:12.0f}{s_per / n_per:8.2f}x")


if __name__ == "__main__":
    main()
