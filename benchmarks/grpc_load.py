#!/usr/bin/env python3
"""gRPC unary AIGateway.Chat: svckit against a bare gRPC++ server, side by side in one run.

Starts, each on its own port:
  bare      build/bin/bench_grpc_bare: gRPC++'s callback API answering Chat, nothing else
  svckit    build/bin/grpc-chat (examples/grpc-chat): svckit's gRPC layer answering Chat the same way, with the
            auth interceptor (an HS256 token checked, the ai:use permission) and the metrics one
  gateway   build/bin/ai-gateway: the AI Gateway's whole Chat (local model, the response cache,
            ai_requests_total), asked the same question (cache hits) and, in `gateway-new`, a
            new question every call (misses: the local model answers). Alone, with nobody
            subscribed to ai.*, its events are not even built (Bus::wanted)
  system    build/bin/aether: the AI Gateway in the local system, where Analytics consumes
            ai.request.received and ai.response.generated into SQLite: the events' whole cost
and drives each with build/bin/bench_grpc_client (CALLS in flight over CHANNELS connections) in
interleaved rounds, printing each one's median round and the ratios. Access logs are off
(LOG_LEVEL=warning) unless --access-log; every process listens on 127.0.0.1 and is stopped at the
end. The machine is shared and noisy: read the ratios.

    /usr/bin/python3 benchmarks/grpc_load.py [--rounds 5] [--seconds 3] [--calls 128] [--channels 2]
"""
import argparse
import json
import os
import pathlib
import re
import socket
import statistics
import subprocess
import tempfile
import time

import jwt

ROOT = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(os.environ.get("SVCKIT_BIN_DIR", ROOT / "build" / "bin"))
SECRET = "grpc-load-benchmark-" + "s" * 24


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {port}")


def start(binary, port, data_dir, log_level, env=None):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOST": "127.0.0.1", "PORT": "0",
           "GRPC_PORT": str(port), "THREADS": "2", "LOG_LEVEL": log_level, "JWT_SECRET_KEY": SECRET,
           "SHUTDOWN_DELAY": "0", "DATA_DIR": f"{data_dir}/{binary}", **(env or {})}
    proc = subprocess.Popen([str(BIN / binary)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc


def load(port, args, token, distinct):
    out = subprocess.run([str(BIN / "bench_grpc_client"), f"127.0.0.1:{port}", str(args.channels),
                          str(args.calls), str(args.seconds), token, str(distinct)],
                         capture_output=True, text=True, timeout=args.seconds * 3 + 30).stdout
    m = re.search(r"RESULT (\{.*\})", out)
    if not m:
        raise RuntimeError(f"no RESULT from the client: {out}")
    return json.loads(m.group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--calls", type=int, default=128, help="calls in flight")
    parser.add_argument("--channels", type=int, default=2, help="HTTP/2 connections")
    parser.add_argument("--access-log", action="store_true", help="svckit's INFO line per call")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    token = jwt.encode({"sub": "bench", "roles": ["user"], "type": "access",
                        "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")
    level = "info" if args.access_log else "warning"
    with tempfile.TemporaryDirectory() as data:
        ports = {name: free_port() for name in ("bare", "svckit", "gateway", "system")}
        procs = [subprocess.Popen([str(BIN / "bench_grpc_bare"), str(ports["bare"])],
                                  stdout=subprocess.DEVNULL)]
        wait_port(ports["bare"])
        procs.append(start("grpc-chat", ports["svckit"], data, level))
        procs.append(start("ai-gateway", ports["gateway"], data, level))
        procs.append(start("aether", ports["system"], data, level,
                           env={"SECURITY_ADMIN_EMAIL": "admin@bench.local",
                                "SECURITY_ADMIN_PASSWORD": "bench-admin-password"}))
        targets = [("bare", ports["bare"], 1), ("svckit", ports["svckit"], 1),
                   ("gateway", ports["gateway"], 1), ("gateway-new", ports["gateway"], 0),
                   ("system", ports["system"], 1)]
        results = {name: [] for name, _, _ in targets}
        try:
            for r in range(args.rounds):
                order = targets if r % 2 == 0 else list(reversed(targets))
                for name, port, distinct in order:
                    results[name].append(load(port, args, token, distinct))
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=30)

    def median(name, key):
        return statistics.median(x[key] for x in results[name])

    print(f"bench_grpc_client: {args.calls} calls in flight over {args.channels} connections, "
          f"{args.seconds:g} s a round, median of {args.rounds} interleaved rounds; "
          f"THREADS=2, access log {'on' if args.access_log else 'off'}; 2 cores shared by all\n")
    print(f"{'target':<44}{'calls/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    labels = {"bare": "bare gRPC++ (callback API)", "svckit": "svckit gRPC layer (auth + metrics)",
              "gateway": "AI Gateway Chat, cached question",
              "gateway-new": "AI Gateway Chat, new question each call",
              "system": "local system (events into Analytics)"}
    for name in results:
        errors = sum(x["errors"] for x in results[name])
        print(f"{labels[name]:<44}{median(name, 'qps'):>9.0f}{median(name, 'p50_ms'):>9.2f}"
              f"{median(name, 'p99_ms'):>9.2f}{errors:>8}")
    bare = median("bare", "qps")
    print()
    for name, target in (("svckit", 0.85), ("gateway", 0.85), ("gateway-new", 0.85),
                         ("system", 0.85)):
        ratio = median(name, "qps") / bare
        print(f"{labels[name] + ' / bare':<56}{ratio:>6.2f}x  target >= {target}x: "
              f"{'meets' if ratio >= target else 'below'}")
    for name in ("svckit", "gateway"):
        qps = median(name, "qps")
        print(f"{labels[name]:<56}{qps:>6.0f}/s  target >= 30,000/s: {'meets' if qps >= 30000 else 'below'}")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
