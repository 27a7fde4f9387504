#!/usr/bin/env python3
"""The Agent service's own CPU time per step with a thousand runs at once (issue 25: ≤ 1 ms per
step). Each round starts 1000 runs together, each calling a tool stand-in with a fixed latency
three times (a tool call and its result each a written step, then the answer: 7 steps a run),
and reads the service's user + system CPU from /proc before and after. The figure includes
accepting the runs (1000 POSTs), every step's SQLite transaction, the schema checks, the HTTP
calls to the tool and the events in the outbox. Side by side in the same run: the same service
answering GET /health, the floor of a request here.

    /usr/bin/python3 benchmarks/agent_runs.py [--rounds 3] [--runs 1000] [--latency 0.1]
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import gateway_load  # noqa: E402
import http_load  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
BIN = ROOT / "build" / "bin"


def token(sub, roles=("user",)):
    import jwt
    now = int(time.time())
    return jwt.encode({"sub": sub, "roles": list(roles), "type": "access", "iat": now, "exp": now + 3600},
                      http_load.JWT_SECRET, algorithm="HS256")


def tool_server(latency):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(latency)
            data = json.dumps({"echo": json.loads(body)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 4096
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def cpu(pid):
    """User + kernel CPU seconds of the service so far."""
    return sum(gateway_load.cpu_seconds([pid]))


def succeeded(url):
    for line in requests.get(url + "/metrics").text.splitlines():
        if line.startswith('agent_runs_total{agent="bench",status="succeeded"}'):
            return float(line.split()[-1])
    return 0.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args()
    server, tools = tool_server(args.latency)
    port = http_load.free_port()
    admin = {"Authorization": "Bearer " + token("ops", ("admin",))}
    with tempfile.TemporaryDirectory() as data:
        env = {"PATH": "/usr/bin:/bin", "PORT": str(port), "HOST": "127.0.0.1", "DATA_DIR": data,
               "LOG_LEVEL": "warning", "JWT_SECRET_KEY": http_load.JWT_SECRET,
               "AGENT_TOOL_URLS": tools + "/"}
        service = subprocess.Popen([str(BIN / "agent")], env=env, stdout=subprocess.DEVNULL)
        try:
            http_load.wait_for(port, "/ready", timeout=60)
            url = f"http://127.0.0.1:{port}"
            schema = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
            requests.post(url + "/api/v1/skills", headers=admin, json={
                "name": "tool", "description": "a tool", "input_schema": schema,
                "output_schema": {"type": "object", "required": ["echo"]}, "kind": "http",
                "config": {"url": tools + "/tool"}}).raise_for_status()
            agent = requests.post(url + "/api/v1/agents", headers=admin, json={
                "name": "bench", "instructions": "", "skills": ["tool"]}).json()["id"]
            text = "\n".join(f'/tool tool {{"q": "{i}"}}' for i in range(3))
            users = [{"Authorization": "Bearer " + token(f"user-{i}")} for i in range(50)]
            per_step, per_health, took = [], [], []
            for round_ in range(args.rounds):
                # The floor: the same process answering /health, CPU per request.
                before = cpu(service.pid)
                session = requests.Session()
                for _ in range(2000):
                    session.get(url + "/health")
                per_health.append((cpu(service.pid) - before) / 2000)

                done_before = succeeded(url)
                before = cpu(service.pid)
                start = time.monotonic()

                def post(i):
                    r = requests.post(f"{url}/api/v1/agents/{agent}/runs", headers=users[i % 50],
                                      json={"input": text})
                    assert r.status_code == 202, r.text
                with ThreadPoolExecutor(32) as pool:
                    list(pool.map(post, range(args.runs)))
                while succeeded(url) < done_before + args.runs:
                    time.sleep(0.2)
                took.append(time.monotonic() - start)
                spent = cpu(service.pid) - before
                steps = args.runs * 7
                per_step.append(spent / steps)
                print(f"round {round_ + 1}: {args.runs} runs, {steps} steps in {took[-1]:.1f} s; service CPU "
                      f"{spent:.2f} s = {spent / steps * 1000:.3f} ms a step; /health "
                      f"{per_health[-1] * 1e6:.0f} µs a request", flush=True)
        finally:
            service.terminate()
            service.wait(timeout=60)
            server.shutdown()
    step = statistics.median(per_step)
    health = statistics.median(per_health)
    print(f"\n{args.runs} concurrent runs, tool latency {args.latency * 1000:.0f} ms: "
          f"{step * 1000:.3f} ms service CPU a step (target ≤ 1 ms: {step * 1000:.2f}× of it), "
          f"{step / health:.1f}× a /health request ({health * 1e6:.0f} µs); "
          f"a round took {statistics.median(took):.1f} s")


if __name__ == "__main__":
    main()
