#!/usr/bin/env python3
"""Files over HTTP: svckit's file answers and streamed uploads (build/bin/bench_files_svckit:
file_response() by sendfile, save_body() to a file then renamed into place) against nginx
serving and taking the same files (`sendfile on`; PUT through its DAV module, which writes the
body to a temporary file, as `client_body_in_file_only` does, then renames it into place). Both
on 2 threads/workers. A third row for information: the same uploads to examples/drop, which also
hashes each one (SHA-256, its content address).

Rows, each contender interleaved, ROUNDS times; the table shows medians and their ratios:
  download   curl fetching a SIZE_MIB file to /dev/null, 4 transfers at once: MiB/s
  small      wrk -t1 -c64 on a 4 KiB file: requests/s
  upload     curl -T of a SIZE_MIB file, 2 at once: MiB/s (svckit also hashes what it takes)

    /usr/bin/python3 benchmarks/file_transfer.py [--rounds 3] [--size-mib 256] [--duration 5]
"""
import argparse
import concurrent.futures
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from http_load import BIN, Processes, free_port, parse_wrk, svckit_env, wait_for  # noqa: E402


def start_svckit(procs, workdir, big, small):
    port = free_port()
    files = workdir / "svckit-files"
    files.mkdir()
    os.link(big, files / "big.bin")
    os.link(small, files / "small.bin")
    procs.start([str(BIN / "bench_files_svckit")], env=svckit_env(workdir, port, 2, FILES_DIR=str(files)))
    wait_for(port)
    return {"download": f"http://127.0.0.1:{port}/files/big.bin",
            "small": f"http://127.0.0.1:{port}/files/small.bin",
            "upload": f"http://127.0.0.1:{port}/up/up-{{n}}.bin"}


def start_drop(procs, workdir):
    port = free_port()
    procs.start([str(BIN / "drop")], env=svckit_env(workdir, port, 2, DATA_DIR=str(workdir / "drop-data")))
    wait_for(port)
    return {"upload": f"http://127.0.0.1:{port}/api/v1/drop/up-{{n}}.bin"}


def start_nginx(procs, workdir, big, small):
    port = free_port()
    root = workdir / "nginx-root"
    (root / "files").mkdir(parents=True, exist_ok=True)
    (root / "up").mkdir(exist_ok=True)
    (workdir / "nginx-body").mkdir(exist_ok=True)
    os.link(big, root / "files" / "big.bin")
    os.link(small, root / "files" / "small.bin")
    conf = workdir / "nginx.conf"
    # Workers as root: they read and write in this run's private (0700) temporary directory.
    conf.write_text(f"""
user root;
worker_processes 2;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    root {root};
    client_max_body_size 0;
    client_body_temp_path {workdir}/nginx-body;
    location /files/ {{ }}
    location /up/ {{ dav_methods PUT; client_body_in_file_only on; create_full_put_path on; }}
  }}
}}
""")
    procs.start(["nginx", "-c", str(conf), "-p", str(workdir)])
    wait_for(port, path="/files/small.bin")
    return {"download": f"http://127.0.0.1:{port}/files/big.bin",
            "small": f"http://127.0.0.1:{port}/files/small.bin",
            "upload": f"http://127.0.0.1:{port}/up/up-{{n}}.bin"}


def curl_mib_per_s(commands, size_mib):
    """Runs the curl commands at once; the MiB they moved over the wall time."""
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(len(commands)) as pool:
        for result in pool.map(lambda c: subprocess.run(c, capture_output=True), commands):
            if result.returncode != 0:
                raise RuntimeError(f"curl failed: {result.stderr.decode()[:200]}")
    return size_mib * len(commands) / (time.monotonic() - started)


def uploads(url, big, size_mib, round_no):
    commands = [["curl", "-sf", "-o", "/dev/null", "-T", str(big), url.format(n=f"{round_no}-{i}")]
                for i in range(2)]
    return curl_mib_per_s(commands, size_mib)


def measure(urls, big, size_mib, duration, round_no):
    download = curl_mib_per_s([["curl", "-sf", "-o", "/dev/null", urls["download"]]] * 4, size_mib)
    wrk = subprocess.run(["wrk", "-t1", "-c64", f"-d{duration}s", "--latency", urls["small"]],
                         capture_output=True, text=True, check=True)
    small = parse_wrk(wrk.stdout)
    if small["errors"]:
        raise RuntimeError(f"wrk saw errors: {wrk.stdout}")
    upload = uploads(urls["upload"], big, size_mib, round_no)
    return {"download": download, "small": small["rps"], "upload": upload}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--duration", type=int, default=5)
    args = parser.parse_args()
    results = {"svckit": [], "nginx": []}
    hashed = []
    procs = Processes()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = pathlib.Path(tmp)
        big, small = workdir / "big.bin", workdir / "small.bin"
        big.write_bytes(os.urandom(args.size_mib << 20))
        small.write_bytes(os.urandom(4096))
        try:
            servers = {"svckit": start_svckit(procs, workdir, big, small),
                       "nginx": start_nginx(procs, workdir, big, small)}
            drop = start_drop(procs, workdir)
            for r in range(args.rounds):
                for kind in ("svckit", "nginx") if r % 2 == 0 else ("nginx", "svckit"):
                    got = measure(servers[kind], big, args.size_mib, args.duration, r)
                    results[kind].append(got)
                    print(f"round {r + 1} {kind:6}: download {got['download']:8,.0f} MiB/s  "
                          f"small {got['small']:9,.0f} req/s  upload {got['upload']:7,.0f} MiB/s", flush=True)
                hashed.append(uploads(drop["upload"], big, args.size_mib, r))
                print(f"round {r + 1} drop  : upload with SHA-256 {hashed[-1]:7,.0f} MiB/s", flush=True)
        finally:
            procs.stop_all()
    print(f"\nfiles, {args.size_mib} MiB transfers, 4 KiB small file (median of {args.rounds} rounds)")
    print("| figure | svckit | nginx | ratio |")
    print("| --- | --- | --- | --- |")
    for key, label in (("download", "download, 4 at once (MiB/s)"), ("small", "4 KiB file, 64 connections (req/s)"),
                       ("upload", "upload to disk, 2 at once (MiB/s)")):
        s = statistics.median(r[key] for r in results["svckit"])
        n = statistics.median(r[key] for r in results["nginx"])
        print(f"| {label} | {s:,.0f} | {n:,.0f} | {s / n:.2f}x |")
    h = statistics.median(hashed)
    n = statistics.median(r["upload"] for r in results["nginx"])
    print(f"| upload to disk + SHA-256 (examples/drop), 2 at once (MiB/s) | {h:,.0f} | {n:,.0f} (no hash) | "
          f"{h / n:.2f}x |")


if __name__ == "__main__":
    main()
