#!/usr/bin/env python3
"""svckit's task-manager against nginx and FastAPI/uvicorn, side by side in one run.

Starts nginx (`return 200` with the same small JSON), a FastAPI app on uvicorn (uvloop +
httptools: the monolith's stack today) and build/bin/task-manager, drives each with wrk at the
same duration and connections, and prints requests/s, p50/p99 and the ratios. Also measures the
task-manager's idle RSS and the time from process start to a 200 on /ready.

    /usr/bin/python3 benchmarks/http_load.py [--duration 10] [--connections 64] [--threads 2]

Everything listens on 127.0.0.1 and every process started here is stopped at the end. The
machine is shared and noisy: read the ratios, not the absolute numbers.
"""
import argparse
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(os.environ.get("SVCKIT_BIN_DIR", ROOT / "build" / "bin"))
HEALTH_BODY = '{"checks":{},"service":"task-manager","status":"UP"}'


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, timeout=2.0):
    """One GET over a fresh connection; returns (status, body) or (0, b'') when refused."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    except OSError:
        return 0, b""
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    return (int(m.group(1)) if m else 0), body


def wait_for(port, path="/health", timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http_get(port, path)[0] == 200:
            return
        time.sleep(0.02)
    raise RuntimeError(f"nothing answered 200 on :{port}{path}")


def rss_mib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def parse_wrk(output):
    def latency_ms(text):
        value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    def percentile(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+(?:us|ms|s))\s*$", output, re.M)
        if not m:
            raise RuntimeError(f"no {p}th percentile in wrk's output:\n{output}")
        return latency_ms(m.group(1))

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50, p99 = percentile(50), percentile(99)
    errors = 0
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output):
        errors += sum(int(x) for x in m.groups())
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        errors += int(m.group(1))
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99, "errors": errors}


# The task routes need a token, as they would from the Security Service: every GET /tasks/{id}
# below is verified (HS256) and authorised.
JWT_SECRET = "benchmark-secret-" + "b" * 32


def bearer_token():
    import jwt  # python3-jwt
    now = int(time.time())
    return jwt.encode({"sub": "bench", "roles": ["user"], "type": "access", "iat": now, "exp": now + 3600},
                      JWT_SECRET, algorithm="HS256")


def auth_args(url):
    return ["-H", f"Authorization: Bearer {bearer_token()}"] if "/api/v1/tasks" in url else []


def warm_up(url, args):
    subprocess.run(["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", "2s", *auth_args(url), url],
                   capture_output=True, check=True)


def wrk(url, args):
    out = subprocess.run(["wrk", "--latency", "-t", str(args.threads), "-c", str(args.connections),
                          "-d", f"{args.duration}s", *auth_args(url), url], capture_output=True, text=True,
                         check=True).stdout
    return parse_wrk(out)


def median_run(measured):
    """The run with the median requests/s (its latencies belong to it), errors summed."""
    ordered = sorted(measured, key=lambda m: m["rps"])
    chosen = dict(ordered[len(ordered) // 2])
    chosen["errors"] = sum(m["errors"] for m in measured)
    return chosen


class Processes:
    """Starts processes and stops every one of them, whatever happens."""

    def __init__(self):
        self.procs = []

    def start(self, cmd, **kwargs):
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True, **kwargs)
        self.procs.append(p)
        return p

    def stop(self, p):
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    def stop_all(self):
        for p in reversed(self.procs):
            self.stop(p)


def start_nginx(procs, workdir, port, threads):
    conf = workdir / "nginx.conf"
    conf.write_text(f"""
worker_processes {threads};
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{ default_type application/json; return 200 '{HEALTH_BODY}'; }}
  }}
}}
""")
    procs.start(["nginx", "-c", str(conf), "-p", str(workdir)])
    wait_for(port)


def start_uvicorn(procs, port, workers):
    procs.start([sys.executable, "-m", "uvicorn", "fastapi_health:app", "--host", "127.0.0.1",
                 "--port", str(port), "--workers", str(workers), "--loop", "uvloop",
                 "--http", "httptools", "--log-level", "warning", "--no-access-log"],
                cwd=ROOT / "benchmarks")
    wait_for(port, timeout=30)


def svckit_env(workdir, port, threads, log_level="warning", **extra):
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PORT": str(port), "HOST": "127.0.0.1",
            "THREADS": str(threads), "DATA_DIR": str(workdir / "data"), "LOG_LEVEL": log_level,
            "SHUTDOWN_DELAY": "0", "JWT_SECRET_KEY": JWT_SECRET, **extra}


def start_to_ready_ms(workdir, threads, runs=10):
    """Process spawn to the first 200 on /ready, median of `runs` fresh starts."""
    times = []
    procs = Processes()
    try:
        for _ in range(runs):
            port = free_port()
            began = time.monotonic()
            p = procs.start([str(BIN / "task-manager")], env=svckit_env(workdir, port, threads))
            while http_get(port, "/ready", timeout=0.5)[0] != 200:
                if p.poll() is not None:
                    raise RuntimeError("task-manager exited during start-up")
                time.sleep(0.0005)
            times.append((time.monotonic() - began) * 1000)
            procs.stop(p)
    finally:
        procs.stop_all()
    return statistics.median(times), max(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median counts")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads, nginx workers, svckit THREADS")
    parser.add_argument("--uvicorn-workers", type=int, default=1,
                        help="uvicorn workers (1: the seeds' `uvicorn main:app` deployment)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is required (./dev.sh installs it)")

    results = {"settings": vars(args).copy()}
    procs = Processes()
    with tempfile.TemporaryDirectory(prefix="svckit-bench-") as tmp:
        workdir = pathlib.Path(tmp)
        try:
            ports = {name: free_port() for name in ("nginx", "fastapi", "svckit", "svckit_logged", "svckit_uncached")}
            start_nginx(procs, workdir, ports["nginx"], args.threads)
            start_uvicorn(procs, ports["fastapi"], args.uvicorn_workers)
            svc = procs.start([str(BIN / "task-manager")], env=svckit_env(workdir, ports["svckit"], args.threads))
            wait_for(ports["svckit"], "/ready")
            time.sleep(0.5)
            results["svckit_idle_rss_mib"] = rss_mib(svc.pid)

            # One task to read back by id.
            with socket.create_connection(("127.0.0.1", ports["svckit"])) as s:
                body = b'{"title": "benchmark task", "priority": "high", "category": "bench"}'
                s.sendall(b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Authorization: Bearer " + bearer_token().encode() + b"\r\n"
                          b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
                reply = b""
                while chunk := s.recv(65536):
                    reply += chunk
            task_id = json.loads(reply.partition(b"\r\n\r\n")[2])["id"]

            runs = {
                "nginx /health": f"http://127.0.0.1:{ports['nginx']}/health",
                "svckit /health": f"http://127.0.0.1:{ports['svckit']}/health",
                "fastapi /health": f"http://127.0.0.1:{ports['fastapi']}/health",
                "svckit GET /api/v1/tasks/{id}": f"http://127.0.0.1:{ports['svckit']}/api/v1/tasks/{task_id}",
            }
            # Rounds interleave the targets, and each target reports its median round: noise on
            # this shared machine then hits every target alike instead of whichever ran last.
            for url in runs.values():
                warm_up(url, args)
            rounds = {name: [] for name in runs}
            for r in range(args.rounds):
                for name, url in runs.items():
                    rounds[name].append(wrk(url, args))
                    print(f"  round {r + 1}: {name:34s} {rounds[name][-1]['rps']:>10.0f} req/s", file=sys.stderr)
            for name, measured in rounds.items():
                results[name] = median_run(measured)
                results[name]["rounds_rps"] = [m["rps"] for m in measured]
            results["svckit_rss_after_load_mib"] = rss_mib(svc.pid)
            procs.stop(svc)

            logged = procs.start([str(BIN / "task-manager")],
                                 env=svckit_env(workdir, ports["svckit_logged"], args.threads, "info"))
            wait_for(ports["svckit_logged"], "/ready")
            logged_url = f"http://127.0.0.1:{ports['svckit_logged']}/health"
            warm_up(logged_url, args)
            results["svckit /health (access log on)"] = median_run([wrk(logged_url, args) for _ in range(args.rounds)])
            procs.stop(logged)

            # Reads by id straight from SQLite: the task cache off, as for replicas sharing a database.
            uncached = procs.start([str(BIN / "task-manager")],
                                   env=svckit_env(workdir, ports["svckit_uncached"], args.threads,
                                                  TASK_CACHE_ENTRIES="0"))
            wait_for(ports["svckit_uncached"], "/ready")
            uncached_url = f"http://127.0.0.1:{ports['svckit_uncached']}/api/v1/tasks/{task_id}"
            warm_up(uncached_url, args)
            results["svckit GET /api/v1/tasks/{id} (cache off)"] = median_run(
                [wrk(uncached_url, args) for _ in range(args.rounds)])
            procs.stop(uncached)
        finally:
            procs.stop_all()
        results["start_to_ready_ms"], results["start_to_ready_max_ms"] = start_to_ready_ms(workdir, args.threads)

    nginx, fastapi = results["nginx /health"], results["fastapi /health"]
    health, by_id = results["svckit /health"], results["svckit GET /api/v1/tasks/{id}"]
    results["ratios"] = {
        "svckit /health / nginx": health["rps"] / nginx["rps"],
        "svckit /health / fastapi": health["rps"] / fastapi["rps"],
        "svckit /tasks/{id} / nginx": by_id["rps"] / nginx["rps"],
    }
    print(f"\nwrk -t{args.threads} -c{args.connections} -d{args.duration}s, median of {args.rounds} interleaved rounds; nginx {args.threads} workers, "
          f"svckit THREADS={args.threads}, uvicorn {args.uvicorn_workers} worker(s); {os.cpu_count()} cores\n")
    print(f"{'target':42s} {'req/s':>10s} {'p50 ms':>8s} {'p99 ms':>8s} {'errors':>7s}")
    for name in ("nginx /health", "svckit /health", "svckit /health (access log on)", "fastapi /health",
                 "svckit GET /api/v1/tasks/{id}", "svckit GET /api/v1/tasks/{id} (cache off)"):
        r = results[name]
        print(f"{name:42s} {r['rps']:>10.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['errors']:>7d}")
    targets = {"svckit /health / nginx": 0.8, "svckit /health / fastapi": 10, "svckit /tasks/{id} / nginx": 0.5}
    print()
    for name, ratio in results["ratios"].items():
        verdict = "meets" if ratio >= targets[name] else "BELOW"
        print(f"{name:36s} {ratio:>8.2f}x   target >= {targets[name]}x: {verdict}")
    print(f"{'task-manager idle RSS':36s} {results['svckit_idle_rss_mib']:>8.1f} MiB  target < 20 MiB "
          f"(after load: {results['svckit_rss_after_load_mib']:.1f} MiB)")
    print(f"{'process start to ready':36s} {results['start_to_ready_ms']:>8.1f} ms   target < 100 ms "
          f"(max of 10: {results['start_to_ready_max_ms']:.1f} ms)")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
