#!/usr/bin/env python3
"""WebSocket broadcast: svckit's WebSocketHub (build/bin/bench_ws_svckit) against a bare Beast
server written the way Beast's multi-threaded chat example is (build/bin/bench_ws_bare), both on
2 threads, driven by one client program (build/bin/bench_ws_client, one thread, raw sockets).

Per round and server: CONNECTIONS clients connect and idle (the server's RSS before and after,
over the connections, is its bytes per idle connection), then one client sends MESSAGES
messages of SIZE bytes, each broadcast to every client; the figure is deliveries per second
(MESSAGES x CONNECTIONS over the time to the last one), with the CPU seconds of the server and
of the client (the client may be the limit: its share is printed). Rounds interleave the two
servers; the table shows each one's median and the ratios.

    /usr/bin/python3 benchmarks/websocket_broadcast.py [--rounds 3] [--connections 10000]
        [--messages 100] [--size 64]
"""
import argparse
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from grpc_load import wait_port  # noqa: E402
from http_load import BIN, Processes, free_port, svckit_env  # noqa: E402


def rss_kib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0  # utime + stime, in clock ticks


def start_server(kind, procs, workdir):
    port = free_port()
    if kind == "svckit":
        env = svckit_env(workdir, port, 2, MAX_CONNECTIONS="20000", MAX_CONNECTIONS_PER_IP="0")
        p = procs.start([str(BIN / "bench_ws_svckit")], env=env)
    else:
        p = procs.start([str(BIN / "bench_ws_bare"), str(port), "2"])
    wait_port(port)
    time.sleep(0.3)
    return p, port


def one_round(kind, args, workdir):
    procs = Processes()
    try:
        server, port = start_server(kind, procs, workdir)
        rss_before = rss_kib(server.pid)
        client = subprocess.Popen([str(BIN / "bench_ws_client"), str(port), str(args.connections),
                                   str(args.messages), str(args.size)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = client.stdout.readline()
        if not line.startswith("connected") or " failed 0" not in line:
            raise RuntimeError(f"{kind}: {line.strip()}")
        time.sleep(1.0)  # idle: what the connections hold at rest
        rss_idle = rss_kib(server.pid)
        cpu_before = cpu_seconds(server.pid)
        client.stdin.write("go\n")
        client.stdin.flush()
        result = client.stdout.readline().split()
        client.wait(timeout=60)
        if not result or result[0] != "deliveries":
            raise RuntimeError(f"{kind}: {' '.join(result)}")
        values = dict(zip(result[0::2], result[1::2]))
        seconds = float(values["seconds"])
        return {"per_second": float(values["per_second"]),
                "seconds": seconds,
                "client_cpu_share": float(values["client_cpu"]) / seconds,
                "server_cpu_share": (cpu_seconds(server.pid) - cpu_before) / seconds,
                "bytes_per_connection": (rss_idle - rss_before) * 1024 / args.connections,
                "rss_mib": rss_idle / 1024}
    finally:
        procs.stop_all()


def median(rounds, key):
    values = sorted(r[key] for r in rounds)
    return values[len(values) // 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    results = {"svckit": [], "bare": []}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = pathlib.Path(tmp)
        for r in range(args.rounds):
            for kind in ("svckit", "bare") if r % 2 == 0 else ("bare", "svckit"):
                got = one_round(kind, args, workdir)
                results[kind].append(got)
                print(f"round {r + 1} {kind:6}: {got['per_second']:>10,.0f} deliveries/s  "
                      f"{got['bytes_per_connection']:>6,.0f} B/connection  "
                      f"server cpu {got['server_cpu_share']:.2f}  client cpu {got['client_cpu_share']:.2f}",
                      flush=True)
    s, b = results["svckit"], results["bare"]
    print(f"\nbroadcast, {args.connections:,} connections, {args.messages} messages of {args.size} B "
          f"(median of {args.rounds} rounds)")
    print("| figure | svckit | bare Beast | ratio |")
    print("| --- | --- | --- | --- |")
    print(f"| deliveries/s | {median(s, 'per_second'):,.0f} | {median(b, 'per_second'):,.0f} | "
          f"{median(s, 'per_second') / median(b, 'per_second'):.2f}x |")
    print(f"| bytes per idle connection | {median(s, 'bytes_per_connection'):,.0f} | "
          f"{median(b, 'bytes_per_connection'):,.0f} | "
          f"{median(s, 'bytes_per_connection') / median(b, 'bytes_per_connection'):.2f}x |")
    print(f"| RSS with the connections idle (MiB) | {median(s, 'rss_mib'):.1f} | {median(b, 'rss_mib'):.1f} | |")
    print(f"| client CPU share during the broadcast | {median(s, 'client_cpu_share'):.2f} | "
          f"{median(b, 'client_cpu_share'):.2f} | |")
    print(f"| server CPU share during the broadcast | {median(s, 'server_cpu_share'):.2f} | "
          f"{median(b, 'server_cpu_share'):.2f} | |")


if __name__ == "__main__":
    main()
