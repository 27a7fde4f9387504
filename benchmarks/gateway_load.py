#!/usr/bin/env python3
"""The svckit gateway against nginx as a plain reverse proxy, side by side in one run, in front
of the same upstream (build/bin/hello, a svckit service, THREADS=1 so that it is never the limit
of one and not the other) with the same wrk settings:

  nginx     proxy_pass with a keep-alive upstream pool (keepalive 256, HTTP/1.1), access log off,
            2 workers: routing only
  gateway   build/bin/gateway, THREADS=2: the route needs a valid token (HS256 JWT verified at the
            edge by svckit::auth), a per-consumer rate limit (a limit no client reaches, so every
            request is counted), the identity headers set, gateway_* and http_* metrics counted
  direct    the upstream alone, for reference

Every request carries the same bearer token. Rounds interleave; each row is its median round.
The machine is shared and noisy: read the ratios. Beside requests/s it prints what each proxy
spent per request, user and kernel CPU from /proc (nginx's master and workers, the gateway's
threads), which varies less between runs than throughput does.

    /usr/bin/python3 benchmarks/gateway_load.py [--rounds 3] [--duration 5] [--connections 256] [--pinned]
                                                [--redis]

--redis adds a second gateway whose rate limit lives in Redis (REDIS_URL, a Redis started here):
one script per request on the store, against the in-process buckets of the first; it prints what
the shared limit adds to the gateway's CPU per request.

--pinned measures the proxies' own cost without the scheduler's noise: wrk and the upstream on
core 0, one nginx worker or one gateway thread on core 1 (which is then the limit of each).
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "support"))
import http_load  # noqa: E402  (its process, nginx and wrk helpers)
from redis_server import Redis  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(os.environ.get("SVCKIT_BIN_DIR", ROOT / "build" / "bin"))
PATH = "/api/v1/hello/world"
REDIS_GATEWAY = "svckit gateway, rate limit in Redis"


def start_upstream(procs, port):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOST": "127.0.0.1", "PORT": str(port),
           "THREADS": "1", "LOG_LEVEL": "warning", "SHUTDOWN_DELAY": "0"}
    procs.start([str(BIN / "hello")], env=env)
    http_load.wait_for(port, PATH)


def start_nginx_proxy(procs, workdir, port, upstream_port, workers):
    conf = workdir / "nginx-proxy.conf"
    conf.write_text(f"""
worker_processes {workers};
daemon off;
pid {workdir}/nginx-proxy.pid;
error_log {workdir}/nginx-proxy-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  upstream hello {{ server 127.0.0.1:{upstream_port}; keepalive 256; }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      proxy_pass http://hello;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
""")
    procs.start(["nginx", "-c", str(conf), "-p", str(workdir)])
    http_load.wait_for(port, PATH)


def start_gateway(procs, workdir, port, upstream_port, threads, binary=None, tag="gateway", env_extra=None):
    """`binary` (build/bin/gateway by default) in front of the upstream; returns its pid. `tag`
    keeps the files of several gateways in one workdir apart."""
    routes = workdir / f"routes-{tag}.json"
    routes.write_text(json.dumps({
        "upstreams": {"hello": {"targets": [f"http://127.0.0.1:{upstream_port}"]}},
        "routes": [{"name": "hello", "paths": ["/api/v1/hello"], "upstream": "hello",
                    "auth": "authenticated", "rate_limit": {"minute": 10_000_000, "by": "consumer"}}]}))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOST": "127.0.0.1", "PORT": str(port),
           "THREADS": str(threads), "LOG_LEVEL": "warning", "SHUTDOWN_DELAY": "0",
           "GATEWAY_ROUTES": str(routes), "JWT_SECRET_KEY": http_load.JWT_SECRET,
           "DATA_DIR": str(workdir / f"data-{tag}"), **(env_extra or {})}
    procs.start([str(binary or BIN / "gateway")], env=env)
    http_load.wait_for(port)
    return procs.procs[-1].pid


def cpu_seconds(pids):
    """User and kernel CPU seconds of these processes and their children so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    user = system = 0
    for pid in pids:
        kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        for p in [pid, *map(int, kids)]:
            try:
                fields = pathlib.Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            user, system = user + int(fields[11]), system + int(fields[12])
    return user / ticks, system / ticks


def pin(pid, core):
    """Every thread of `pid` and of its children onto `core`."""
    kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    for p in [pid, *map(int, kids)]:
        subprocess.run(["taskset", "-a", "-p", "-c", str(core), str(p)], capture_output=True, check=True)


def wrk(url, args, proxy_pid):
    token = ["-H", f"Authorization: Bearer {http_load.bearer_token()}"]
    on_core0 = ["taskset", "-c", "0"] if args.pinned else []
    subprocess.run([*on_core0, "wrk", "-t2", f"-c{args.connections}", "-d2s", *token, url],
                   capture_output=True, check=True)
    before = cpu_seconds([proxy_pid])
    out = subprocess.run([*on_core0, "wrk", "--latency", "-t2", f"-c{args.connections}", f"-d{args.duration}s",
                          *token, url], capture_output=True, text=True, check=True).stdout
    after = cpu_seconds([proxy_pid])
    run = http_load.parse_wrk(out)
    requests = max(1.0, run["rps"] * args.duration)
    run["user_us"] = (after[0] - before[0]) / requests * 1e6
    run["sys_us"] = (after[1] - before[1]) / requests * 1e6
    return run


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--pinned", action="store_true", help="wrk and upstream on core 0, the proxy on core 1")
    parser.add_argument("--redis", action="store_true", help="also a gateway with its rate limit in Redis")
    args = parser.parse_args()
    proxy_threads = 1 if args.pinned else 2
    procs = http_load.Processes()
    redis = None
    with tempfile.TemporaryDirectory() as tmp:
        workdir = pathlib.Path(tmp)
        try:
            ports = {name: http_load.free_port() for name in ("upstream", "nginx", "gateway")}
            start_upstream(procs, ports["upstream"])
            upstream_pid = procs.procs[-1].pid
            start_nginx_proxy(procs, workdir, ports["nginx"], ports["upstream"], proxy_threads)
            nginx_pid = procs.procs[-1].pid
            gateway_pid = start_gateway(procs, workdir, ports["gateway"], ports["upstream"], proxy_threads)
            if args.pinned:
                pin(upstream_pid, 0)
                pin(nginx_pid, 1)
                pin(gateway_pid, 1)
            targets = {"nginx proxy_pass": (f"http://127.0.0.1:{ports['nginx']}{PATH}", nginx_pid),
                       "svckit gateway (JWT, rate limit, metrics)":
                           (f"http://127.0.0.1:{ports['gateway']}{PATH}", gateway_pid),
                       "upstream direct": (f"http://127.0.0.1:{ports['upstream']}{PATH}", upstream_pid)}
            if args.redis:
                redis = Redis(workdir / "redis", http_load.free_port()).start()
                port = http_load.free_port()
                pid = start_gateway(procs, workdir, port, ports["upstream"], proxy_threads, tag="redis",
                                    env_extra={"REDIS_URL": redis.url})
                if args.pinned:
                    pin(pid, 1)
                    pin(redis.pid(), 0)
                targets[REDIS_GATEWAY] = (f"http://127.0.0.1:{port}{PATH}", pid)
            runs = {name: [] for name in targets}
            for _ in range(args.rounds):
                for name, (url, pid) in targets.items():
                    runs[name].append(wrk(url, args, pid))
        finally:
            procs.stop_all()
            if redis:
                redis.stop()
    results = {name: http_load.median_run(r) for name, r in runs.items()}
    where = ("wrk and the upstream on core 0, the proxy alone on core 1" if args.pinned
             else "2 cores shared by all")
    print(f"wrk -t2 -c{args.connections} -d{args.duration}s, median of {args.rounds} interleaved rounds; "
          f"upstream build/bin/hello THREADS=1; nginx {proxy_threads} worker(s); gateway THREADS={proxy_threads}; "
          f"{where}\n")
    print(f"{'':44} {'requests/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}  {'CPU us/request: user':>20} {'kernel':>6}")
    for name, r in results.items():
        print(f"{name:44} {r['rps']:11,.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['errors']:7}"
              f"  {r['user_us']:20.1f} {r['sys_us']:6.1f}")
    gw, nginx = results["svckit gateway (JWT, rate limit, metrics)"], results["nginx proxy_pass"]
    ratio = gw["rps"] / nginx["rps"]
    print()
    if args.redis:
        shared = results[REDIS_GATEWAY]
        added = (shared["user_us"] + shared["sys_us"]) / (gw["user_us"] + gw["sys_us"]) - 1
        print(f"{'rate limit in Redis: CPU per request added':44} {added * 100:9.1f} %  target <= 15 %: "
              f"{'meets' if added <= 0.15 else 'below'}")
        print(f"{'rate limit in Redis: requests/s':44} {shared['rps'] / gw['rps']:10.2f}x the in-process one")
    if args.pinned:  # the targets are the shared run's; this run is about cost
        cost = (gw["user_us"] + gw["sys_us"]) / (nginx["user_us"] + nginx["sys_us"])
        print(f"{'gateway / nginx, requests/s on one core':44} {ratio:10.2f}x")
        print(f"{'gateway / nginx, CPU per request':44} {cost:10.2f}x")
        return
    print(f"{'gateway / nginx':44} {ratio:10.2f}x  target >= 0.9x: {'meets' if ratio >= 0.9 else 'below'}")
    print(f"{'gateway p99':44} {gw['p99_ms']:9.2f} ms  target < 10 ms: {'meets' if gw['p99_ms'] < 10 else 'below'}")
    print(f"{'gateway requests/s':44} {gw['rps']:11,.0f}  target >= 25,000: {'meets' if gw['rps'] >= 25000 else 'below'}")


if __name__ == "__main__":
    main()
