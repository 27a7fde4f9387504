#!/usr/bin/env python3
"""The apartment system (seed 004) against a stand-in of its monolith, side by side in one run.

svckit: build/bin/apartment (the four services and sign-in in one process, SQLite, the in-process
bus) behind build/bin/gateway. The stand-in: benchmarks/apartment_monolith.py on uvicorn with one
worker per core, doing the same steps in Python (the same rules, XGBoost in-process, SQLite FTS5,
the same simulation with the same replications, the same policy scoring; its simulation and
decisions are checked here to equal svckit's).

1. Submissions (POST /api/v1/requests: classified, scored, simulated, decided, stored), with wrk:
   requests/s, p50, p99.
2. Selecting an option and its execution: selections/s with 16 clients, and for svckit the time
   until every selected request is resolved (the execution runs after the answer, over the bus).
3. predict-risk, one row per request: svckit's AI Processing against a FastAPI endpoint calling
   python3-xgboost's inplace_predict (with the same answer — SHAP factors — and bare).

    PYTHONPATH=~/.cache/svckit/debian-python /usr/bin/python3 benchmarks/apartment_load.py [--rounds 3]

Rounds interleave the two systems; each figure is the median round. Loopback only; everything
started here is stopped at the end.
"""
import argparse
import concurrent.futures
import json
import os
import pathlib
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

import jwt
import requests

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from http_load import BIN, ROOT, Processes, free_port, median_run, parse_wrk, wait_for  # noqa: E402

SECRET = "benchmark-secret-" + "b" * 32
MESSAGES = [
    "Water is leaking from the ceiling and flooding the bathroom!",
    "The kitchen faucet drips a little, no rush",
    "We have no heat and it is freezing in the bedroom",
    "Loud music from upstairs every night after midnight",
    "I was double charged for rent this month",
    "My package was marked delivered but it is not in the mailbox",
    "There are cockroaches in the kitchen cabinets",
    "The outlet in the living room is sparking",
]
RISK_BODY = {"category": "plumbing", "urgency": "high", "confidence": 0.8, "message": "a leak under the sink",
             "unit": "1204", "prior_requests_90d": 2, "open_requests_unit": 1}


def token(sub, unit="1204"):
    now = int(time.time())
    return jwt.encode({"sub": sub, "roles": ["resident"], "unit": unit, "type": "access", "iat": now,
                       "exp": now + 7200}, SECRET, algorithm="HS256")


# The building's residents: 200 of them in 160 units, each submitting in turn.
RESIDENTS = [(f"resident-{i}", f"{(i % 160) // 8 + 1}{i % 8:02d}") for i in range(200)]


def staff_token():
    now = int(time.time())
    return jwt.encode({"sub": "staff", "roles": ["staff"], "type": "access", "iat": now, "exp": now + 7200},
                      SECRET, algorithm="HS256")


def lua_posts(workdir, name, path, bodies, tokens):
    """A wrk script POSTing `bodies` in turn, each with the next of `tokens`."""
    script = workdir / f"{name}.lua"
    quoted = ",\n".join(json.dumps(json.dumps(b)) for b in bodies)
    auths = ",\n".join(json.dumps("Bearer " + t) for t in tokens)
    script.write_text(f"""
local bodies = {{ {quoted} }}
local auths = {{ {auths} }}
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", "{path}", {{["Content-Type"] = "application/json",
    ["Authorization"] = auths[(n % #auths) + 1]}}, bodies[(n % #bodies) + 1])
end
""")
    return script


def wrk(url, script, seconds, connections):
    out = subprocess.run(["wrk", "--latency", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "-s", str(script),
                          url], capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


def env(workdir, port, **extra):
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PORT": str(port), "HOST": "127.0.0.1", "THREADS": "2",
            "DATA_DIR": str(workdir), "LOG_LEVEL": "warning", "SHUTDOWN_DELAY": "0", "JWT_SECRET_KEY": SECRET, **extra}


def start_svckit(procs, workdir):
    port, gw_port = free_port(), free_port()
    data = workdir / "svckit"
    data.mkdir()
    me = f"http://127.0.0.1:{port}"
    procs.start([str(BIN / "apartment")], env=env(data, port, AI_PROCESSING_SERVICE_URL=me,
                                                  DECISION_SIMULATION_SERVICE_URL=me, EXECUTION_SERVICE_URL=me,
                                                  SECURITY_RATE_LIMIT="1000000", TRUSTED_PROXIES="127.0.0.1"))
    wait_for(port, "/ready", timeout=30)
    routes = json.loads((ROOT / "services/gateway/config/apartment-local.json").read_text())
    routes["upstreams"]["apartment"]["targets"] = [me]
    for route in routes["routes"]:
        route.pop("rate_limit", None)  # all load comes from one client here
    (workdir / "routes.json").write_text(json.dumps(routes))
    procs.start([str(BIN / "gateway")], env=env(data, gw_port, GATEWAY_ROUTES=str(workdir / "routes.json"),
                                                METRICS_PORT="0", SERVICE_NAME="gateway"))
    wait_for(gw_port, "/ready", timeout=30)
    return f"http://127.0.0.1:{gw_port}", me


def start_monolith(procs, workdir, workers):
    port = free_port()
    db = workdir / "monolith.db"
    procs.start([sys.executable, "-m", "uvicorn", "apartment_monolith:app", "--host", "127.0.0.1", "--port", str(port),
                 "--workers", str(workers), "--loop", "uvloop", "--http", "httptools", "--log-level", "warning",
                 "--no-access-log"], cwd=ROOT / "benchmarks",
                env={**os.environ, "JWT_SECRET_KEY": SECRET, "MONOLITH_DB": str(db)})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.post(f"http://127.0.0.1:{port}/api/v1/requests", json={}, timeout=1)
            break
        except requests.RequestException:
            time.sleep(0.1)
    return f"http://127.0.0.1:{port}", db


def check_same_answers(svckit_url, monolith_url):
    """The stand-in does the same work: the same classification, options and decision."""
    import apartment_monolith  # noqa: F401 (imported for its functions only)
    headers = {"Authorization": f"Bearer {token(*RESIDENTS[0])}"}
    for message in MESSAGES:
        a = requests.post(svckit_url + "/api/v1/requests", json={"message": message}, headers=headers, timeout=30).json()
        c, _ = apartment_monolith.classify(message)
        assert (c["category"], c["urgency"], c["confidence"]) == (a["classification"]["category"],
                                                                  a["classification"]["urgency"],
                                                                  a["classification"]["confidence"]), message
    body = {"category": "plumbing", "urgency": "emergency", "risk_score": 0.8, "submitted_at": "2026-12-05T23:30:00Z",
            "replications": 100, "seed": 5}
    theirs = apartment_monolith.simulate("plumbing", "emergency", 0.8, 1796513400, 100, 5)
    ours = requests.post(svckit_url + "/api/v1/simulate", json=body, headers=headers, timeout=30).json()["options"]
    assert ours == theirs, "the stand-in's simulation differs from svckit's"


def select_all(url, choices, clients=16):
    """Each (request id, option, its resident's token) selected once, by `clients` at a time."""
    latencies = []

    def one(request_id, option, auth):
        began = time.perf_counter()
        r = requests.post(f"{url}/api/v1/requests/{request_id}/select-option", json={"option_id": option},
                          headers={"Authorization": f"Bearer {auth}"}, timeout=30)
        latencies.append((time.perf_counter() - began) * 1000)
        return r.status_code

    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        codes = list(pool.map(lambda x: one(*x), choices))
    wall = time.perf_counter() - began
    latencies.sort()
    return {"rps": len(choices) / wall, "p50_ms": latencies[len(latencies) // 2],
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1], "errors": sum(c != 200 for c in codes), "wall": wall}


def best_allowed(decision):
    """The best option a resident may choose: one that breaks no rule and needs no approval."""
    for s in decision["ranking"]:
        if s["compliant"] and not s["requires_approval"]:
            return s["option_id"]
    return None


def svckit_selectable(me, n):
    staff = {"Authorization": f"Bearer {staff_token()}"}
    ids = []
    page = 1
    while len(ids) < n:
        r = requests.get(f"{me}/api/v1/requests?status=options_ready&limit=100&page={page}", headers=staff, timeout=30)
        batch = r.json()["requests"]
        if not batch:
            break
        ids += [(x["id"], allowed, x["resident_id"]) for x in batch
                if (allowed := best_allowed(x["decision"]))]
        page += 1
    return ids[:n]


def monolith_selectable(db, n):
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT id, document FROM requests WHERE status = 'options_ready' LIMIT ?", (n,)).fetchall()
    out = []
    for rid, doc in rows:
        req = json.loads(doc)
        if allowed := best_allowed(req["decision"]):
            out.append((rid, allowed, req["resident_id"]))
    return out


def show(name, figures):
    print(f"  {name:<34} {figures['rps']:>9.1f}/s   p50 {figures['p50_ms']:>8.2f} ms   p99 {figures['p99_ms']:>8.2f} ms"
          f"   errors {figures['errors']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--selections", type=int, default=300)
    args = parser.parse_args()
    workers = os.cpu_count() or 2
    procs = Processes()
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="svckit-apartment-bench-"))
    try:
        gw, me = start_svckit(procs, workdir)
        mono, mono_db = start_monolith(procs, workdir, workers)
        check_same_answers(me, mono)
        tokens = {sub: token(sub, unit) for sub, unit in RESIDENTS}
        bodies = [{"message": m} for m in MESSAGES]
        submit_svckit = lua_posts(workdir, "submit", "/api/v1/requests", bodies, list(tokens.values()))
        submissions = {"svckit": [], "monolith": []}
        for _ in range(args.rounds):
            submissions["svckit"].append(wrk(gw + "/api/v1/requests", submit_svckit, args.duration, args.connections))
            submissions["monolith"].append(wrk(mono + "/api/v1/requests", submit_svckit, args.duration,
                                               args.connections))
        sub = {k: median_run(v) for k, v in submissions.items()}

        # Selections: each by the resident who submitted it.
        svckit_ids = svckit_selectable(me, args.selections)
        mono_ids = monolith_selectable(mono_db, args.selections)
        n = min(len(svckit_ids), len(mono_ids))
        began = time.perf_counter()
        sel_svckit = select_all(gw, [(i, o, tokens[r]) for i, o, r in svckit_ids[:n]])
        staff = {"Authorization": f"Bearer {staff_token()}"}
        while requests.get(f"{me}/api/v1/requests?status=resolved&limit=1", headers=staff,
                           timeout=30).json()["total"] < n:
            time.sleep(0.01)
        resolved_all = time.perf_counter() - began
        sel_mono = select_all(mono, [(i, o, tokens[r]) for i, o, r in mono_ids[:n]])

        # predict-risk: AI Processing on its own against the FastAPI endpoint, one row each.
        ai_port = free_port()
        procs.start([str(BIN / "ai-processing")], env=env(workdir / "svckit", ai_port))
        wait_for(ai_port, "/ready")
        one = [token("bench-resident")]
        risk_svckit = lua_posts(workdir, "risk", "/api/v1/predict-risk", [RISK_BODY], one)
        risk_bare = lua_posts(workdir, "risk-bare", "/api/v1/predict-risk", [{**RISK_BODY, "explain": False}], one)
        risk = {"svckit": [], "same answer": [], "inplace_predict only": []}
        for _ in range(args.rounds):
            risk["svckit"].append(wrk(f"http://127.0.0.1:{ai_port}/api/v1/predict-risk", risk_svckit, args.duration, 32))
            risk["same answer"].append(wrk(mono + "/api/v1/predict-risk", risk_svckit, args.duration, 32))
            risk["inplace_predict only"].append(wrk(mono + "/api/v1/predict-risk", risk_bare, args.duration, 32))
        rk = {k: median_run(v) for k, v in risk.items()}
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"apartment system, {args.rounds} interleaved rounds of {args.duration} s, {args.connections} connections, "
          f"{workers} uvicorn workers, median round")
    print("submissions (POST /api/v1/requests: steps 1-6, 100 replications):")
    show("svckit through the gateway", sub["svckit"])
    show("FastAPI stand-in", sub["monolith"])
    print(f"  ratio {sub['svckit']['rps'] / sub['monolith']['rps']:.1f}x requests/s, "
          f"p50 {sub['monolith']['p50_ms'] / sub['svckit']['p50_ms']:.1f}x lower, "
          f"p99 {sub['monolith']['p99_ms'] / sub['svckit']['p99_ms']:.1f}x lower")
    print(f"selecting an option ({n} requests, 16 clients):")
    show("svckit (answer; execution follows)", sel_svckit)
    print(f"  svckit: all {n} executed and resolved {resolved_all:.2f} s after the first selection "
          f"({n / resolved_all:.0f}/s)")
    show("FastAPI stand-in (executes inline)", sel_mono)
    print(f"  ratio {sel_svckit['rps'] / sel_mono['rps']:.1f}x selections/s; "
          f"{(n / resolved_all) / sel_mono['rps']:.1f}x counting svckit's executions to resolved")
    print("predict-risk, one row (32 connections):")
    show("svckit AI Processing (with factors)", rk["svckit"])
    show("FastAPI + xgboost, same answer", rk["same answer"])
    show("FastAPI + inplace_predict only", rk["inplace_predict only"])
    print(f"  ratio {rk['svckit']['rps'] / rk['same answer']['rps']:.1f}x the same answer, "
          f"{rk['svckit']['rps'] / rk['inplace_predict only']['rps']:.1f}x inplace_predict alone")


if __name__ == "__main__":
    main()
