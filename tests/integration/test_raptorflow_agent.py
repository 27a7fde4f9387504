"""Raptorflow's Agent service (services/raptorflow/agent): skills with JSON Schemas (built-ins and
HTTP tools through the resilient client, against a stand-in tool server on loopback), runs planned
by the local directive planner or a language model (a stand-in OpenAI-compatible server), every
step persisted and streamed as server-sent events, limits, cancellation, a run killed mid-step
that resumes, and a thousand concurrent runs."""
import json
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from conftest import make_token

ADMIN = {"Authorization": "Bearer " + make_token(sub="ops", roles=("admin",))}
ANA = {"Authorization": "Bearer " + make_token(sub="ana")}
BO = {"Authorization": "Bearer " + make_token(sub="bo")}


class ToolServer:
    """A tool on loopback: /echo answers {"echo": body}, /slow the same after `latency`, /shape
    an answer its schema refuses, /fail a 500. Counts calls by Idempotency-Key."""

    def __init__(self, latency=0.0):
        self.latency = latency
        self.keys = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    key = self.headers.get("Idempotency-Key", "")
                    outer.keys[key] = outer.keys.get(key, 0) + 1
                if self.path == "/slow":
                    time.sleep(outer.latency)
                if self.path == "/fail":
                    return self.answer(500, {"error": "down"})
                if self.path == "/big":  # 400 KB: past what a tool may answer
                    return self.answer(200, {"echo": "x" * 400_000})
                if self.path == "/large":  # 100 KB: kept as its start
                    return self.answer(200, {"echo": "é" + "x" * 100_000})
                if self.path == "/shape":
                    return self.answer(200, {"unexpected": True})
                self.answer(200, {"echo": json.loads(body)})

            def answer(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        ThreadingHTTPServer.daemon_threads = True
        ThreadingHTTPServer.request_queue_size = 2048
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def tools():
    server = ToolServer(latency=0.2)
    yield server
    server.close()


def start_agent(start_service, tmp_path, tools, **env):
    return start_service("agent", DATA_DIR=tmp_path / "agent", AGENT_TOOL_URLS=tools.url + "/", **env)


ECHO_SCHEMA = {"type": "object", "properties": {"q": {"type": "string", "maxLength": 50}},
               "required": ["q"], "additionalProperties": False}
OUT_SCHEMA = {"type": "object", "required": ["echo"]}


def add_skill(svc, name, url, out=OUT_SCHEMA):
    r = requests.post(svc.url + "/api/v1/skills", headers=ADMIN, json={
        "name": name, "description": "echoes", "input_schema": ECHO_SCHEMA, "output_schema": out,
        "kind": "http", "config": {"url": url, "method": "POST", "timeout_ms": 5000}})
    assert r.status_code == 201, r.text


def add_agent(svc, skills, **extra):
    r = requests.post(svc.url + "/api/v1/agents", headers=ADMIN,
                      json={"name": "helper", "instructions": "Help.", "skills": skills, **extra})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def start_run(svc, agent, text, headers=ANA):
    r = requests.post(f"{svc.url}/api/v1/agents/{agent}/runs", headers=headers, json={"input": text})
    assert r.status_code == 202, r.text
    assert r.headers["Location"] == "/api/v1/runs/" + r.json()["id"]
    return r.json()["id"]


def wait_run(svc, run, headers=ANA, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        got = requests.get(f"{svc.url}/api/v1/runs/{run}", headers=headers).json()
        if got["status"] in ("succeeded", "failed", "cancelled"):
            return got
        assert time.monotonic() < deadline, got
        time.sleep(0.05)


def events_of(svc, run, headers=ANA, last_event_id=None):
    """The run's server-sent events until "end", as (id, event, data) triples."""
    h = dict(headers)
    if last_event_id is not None:
        h["Last-Event-ID"] = str(last_event_id)
    out, current = [], {}
    with requests.get(f"{svc.url}/api/v1/runs/{run}/events", headers=h, stream=True, timeout=30) as r:
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream")
        for line in r.iter_lines(decode_unicode=True):
            if line.startswith(":"):
                continue
            if line == "":
                if current:
                    out.append((current.get("id"), current.get("event"), json.loads(current["data"])))
                    if current.get("event") == "end":
                        return out
                current = {}
                continue
            key, _, value = line.partition(":")
            current[key] = value[1:] if value.startswith(" ") else value
    return out


def test_a_run_calls_builtins_and_an_http_skill_and_streams_each_step(start_service, tmp_path, tools):
    svc = start_agent(start_service, tmp_path, tools)
    add_skill(svc, "lookup", tools.url + "/echo")
    for title, text in (("Refund policy", "Refunds are paid within 14 days of a return."),
                        ("Shipping", "Parcels ship in 2 days."), ("Refund exceptions", "No refund on sale items.")):
        assert requests.post(svc.url + "/api/v1/documents", headers=ADMIN,
                             json={"title": title, "text": text}).status_code == 201
    agent = add_agent(svc, ["arithmetic", "retrieval", "lookup"])
    run = start_run(svc, agent, "Please work it out.\n"
                    '/tool arithmetic {"expression": "6 * (3 + 4)"}\n'
                    '/tool retrieval {"query": "refund policy", "limit": 2}\n'
                    '/tool lookup {"q": "order 7"}')
    events = events_of(svc, run)
    kinds = [e[1] for e in events]
    assert kinds == ["tool_call", "tool_result"] * 3 + ["answer", "end"], kinds
    assert [e[0] for e in events[:7]] == [str(i) for i in range(1, 8)]
    results = [e[2]["content"] for e in events if e[1] == "tool_result"]
    assert results[0]["output"] == {"value": 42}
    assert [d["title"] for d in results[1]["output"]["documents"]] == ["Refund policy", "Refund exceptions"]
    assert results[2]["output"] == {"echo": {"q": "order 7"}}
    assert events[-1][2]["status"] == "succeeded" and "42" in events[-1][2]["output"]
    got = wait_run(svc, run)
    assert got["status"] == "succeeded" and got["step_count"] == 7 and len(got["steps"]) == 7 and got["tool_calls"] == 3
    assert got["planner"].startswith("local: follows /tool directives")
    # Reconnecting with Last-Event-ID resumes after it.
    again = events_of(svc, run, last_event_id=5)
    assert [e[0] for e in again[:-1]] == ["6", "7"] and again[-1][1] == "end"
    # Someone else's run is not found; the owner's list has it.
    assert requests.get(f"{svc.url}/api/v1/runs/{run}", headers=BO).status_code == 404
    assert [r["id"] for r in requests.get(svc.url + "/api/v1/runs", headers=ANA).json()["runs"]] == [run]
    metrics = requests.get(svc.url + "/metrics").text
    assert 'agent_runs_total{agent="helper",status="succeeded"} 1' in metrics
    assert 'agent_tool_calls_total{outcome="ok",skill="lookup"} 1' in metrics


def test_inputs_and_outputs_are_checked_against_the_schemas(start_service, tmp_path, tools):
    svc = start_agent(start_service, tmp_path, tools)
    add_skill(svc, "lookup", tools.url + "/echo")
    add_skill(svc, "shapeless", tools.url + "/shape")
    add_skill(svc, "broken", tools.url + "/fail")
    agent = add_agent(svc, ["lookup", "shapeless", "broken"])
    run = start_run(svc, agent, '/tool lookup {"q": 5}\n/tool lookup {"q": "x", "extra": 1}\n'
                                '/tool shapeless {"q": "x"}\n/tool broken {"q": "x"}\n/tool nosuch {}')
    got = wait_run(svc, run)
    assert got["status"] == "succeeded"  # failed calls are steps the planner sees, not a crash
    results = [s["content"] for s in got["steps"] if s["kind"] == "tool_result"]
    assert [r["ok"] for r in results] == [False] * 5
    assert "/q" in results[0]["error"] and "schema" in results[0]["error"]
    assert "schema" in results[1]["error"]
    assert "output schema" in results[2]["error"]
    assert "answered 500" in results[3]["error"]
    assert "no skill 'nosuch'" in results[4]["error"]
    assert set(tools.keys) - {""} and all(k.startswith(f"run-{run}-") for k in tools.keys)

    # What cannot work is refused when it is defined.
    bad_skills = [
        ({"input_schema": {"type": "nonsense"}}, "input_schema"),
        ({"config": {"url": "http://169.254.169.254/latest"}}, "config.url"),
        ({"config": {"url": tools.url + "/echo", "method": "DELETE"}}, "config.method"),
        ({"kind": "shell"}, "kind"),
        ({"name": "Bad Name"}, "name"),
    ]
    for change, field in bad_skills:
        body = {"name": "s2", "description": "d", "input_schema": ECHO_SCHEMA, "kind": "http",
                "config": {"url": tools.url + "/echo"}, **change}
        r = requests.post(svc.url + "/api/v1/skills", headers=ADMIN, json=body)
        assert r.status_code == 422 and field in r.text, (change, r.text)
    assert requests.post(svc.url + "/api/v1/skills", headers=ANA, json={}).status_code == 403
    for change in ({"skills": ["nosuch"]}, {"model": "gpt-9"}, {"limits": {"max_steps": 0}},
                   {"limits": {"forever": 1}}, {"name": ""}):
        body = {"name": "a", "instructions": "", "skills": [], **change}
        assert requests.post(svc.url + "/api/v1/agents", headers=ADMIN, json=body).status_code == 422, change
    assert requests.delete(svc.url + "/api/v1/skills/arithmetic", headers=ADMIN).status_code == 409
    assert requests.post(svc.url + "/api/v1/agents/nope/runs", headers=ANA, json={"input": "x"}).status_code == 404
    assert requests.post(f"{svc.url}/api/v1/agents/{agent}/runs", headers=ANA, json={"input": ""}).status_code == 422


def test_limits_end_a_run_and_a_cancellation_ends_it_at_its_next_step(start_service, tmp_path, tools):
    svc = start_agent(start_service, tmp_path, tools)
    add_skill(svc, "slow", tools.url + "/slow")
    capped = add_agent(svc, ["arithmetic"], limits={"max_tool_calls": 2})
    run = start_run(svc, capped, "\n".join(['/tool arithmetic {"expression": "1+1"}'] * 3))
    got = wait_run(svc, run)
    assert got["status"] == "failed" and got["error"] == "limit reached: max_tool_calls 2"
    steps = add_agent(svc, ["arithmetic"], limits={"max_steps": 3})
    got = wait_run(svc, start_run(svc, steps, "\n".join(['/tool arithmetic {"expression": "2"}'] * 3)))
    assert got["status"] == "failed" and got["error"] == "limit reached: max_steps 3"

    slow = add_agent(svc, ["slow"])
    run = start_run(svc, slow, "\n".join(['/tool slow {"q": "x"}'] * 10))
    deadline = time.monotonic() + 10
    while requests.get(f"{svc.url}/api/v1/runs/{run}", headers=ANA).json()["step_count"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert requests.post(f"{svc.url}/api/v1/runs/{run}/cancel", headers=BO).status_code == 404
    assert requests.post(f"{svc.url}/api/v1/runs/{run}/cancel", headers=ANA).status_code == 202
    got = wait_run(svc, run)
    assert got["status"] == "cancelled" and got["tool_calls"] <= 2, got
    assert requests.post(f"{svc.url}/api/v1/runs/{run}/cancel", headers=ANA).status_code == 409


def test_a_run_killed_mid_step_resumes_where_it_was(start_service, tmp_path, tools):
    tools.latency = 1.0
    env = dict(AGENT_LEASE="1s")
    svc = start_agent(start_service, tmp_path, tools, **env)
    add_skill(svc, "slow", tools.url + "/slow")
    agent = add_agent(svc, ["slow", "arithmetic"])
    run = start_run(svc, agent, '/tool arithmetic {"expression": "1+2"}\n/tool slow {"q": "a"}\n'
                                '/tool slow {"q": "b"}')
    deadline = time.monotonic() + 10
    while requests.get(f"{svc.url}/api/v1/runs/{run}", headers=ANA).json()["step_count"] < 3:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    svc.signal(signal.SIGKILL)  # in the middle of the first slow call
    svc.stop()
    again = start_agent(start_service, tmp_path, tools, **env)
    got = wait_run(again, run, timeout=30)
    assert got["status"] == "succeeded", got
    kinds = [s["kind"] for s in got["steps"]]
    assert kinds == ["tool_call", "tool_result"] * 3 + ["answer"], kinds
    assert [s["seq"] for s in got["steps"]] == list(range(1, 8))
    # The interrupted call was made again with the same key; the others once.
    assert tools.keys[f"run-{run}-3"] == 2 and tools.keys[f"run-{run}-5"] == 1
    assert any(line.get("message") == "agent run resumed" for line in again.logs())


def test_a_thousand_concurrent_runs_all_finish_and_the_queue_has_a_bound(start_service, tmp_path, tools):
    svc = start_agent(start_service, tmp_path, tools)
    add_skill(svc, "slow", tools.url + "/slow")
    agent = add_agent(svc, ["slow"])
    text = '/tool slow {"q": "1"}\n/tool slow {"q": "2"}'
    with ThreadPoolExecutor(32) as pool:
        runs = list(pool.map(lambda i: start_run(svc, agent, text, headers={
            "Authorization": "Bearer " + make_token(sub=f"user-{i % 50}")}), range(1000)))
    deadline = time.monotonic() + 120
    while True:
        metrics = requests.get(svc.url + "/metrics").text
        line = [m for m in metrics.splitlines() if m.startswith('agent_runs_total{agent="helper",status="succeeded"}')]
        if line and float(line[0].split()[-1]) == 1000:
            break
        assert time.monotonic() < deadline, line
        time.sleep(0.5)
    # Read after the count reached 1000: a run is stored as finished before it is counted.
    done = requests.get(svc.url + "/api/v1/runs?all=true&limit=500", headers=ADMIN).json()["runs"]
    assert len(done) == 500 and all(r["status"] == "succeeded" for r in done), [r["status"] for r in done][:5]
    assert 'agent_runs_total{agent="helper",status="failed"}' not in metrics
    assert len(runs) == len(set(runs)) == 1000


def test_past_the_queue_a_run_is_refused_with_retry_after(start_service, tmp_path, tools):
    svc = start_agent(start_service, tmp_path, tools, AGENT_CONCURRENCY="2", AGENT_QUEUE="3",
                      AGENT_RUNS_PER_USER="4")
    add_skill(svc, "slow", tools.url + "/slow")
    agent = add_agent(svc, ["slow"])
    text = '/tool slow {"q": "1"}'
    statuses = [requests.post(f"{svc.url}/api/v1/agents/{agent}/runs", headers=ANA,
                              json={"input": text}) for _ in range(5)]
    assert [r.status_code for r in statuses] == [202] * 4 + [429]  # a user's bound: 4
    assert int(statuses[-1].headers["Retry-After"]) > 0
    bo = requests.post(f"{svc.url}/api/v1/agents/{agent}/runs", headers=BO, json={"input": text})
    assert bo.status_code == 202  # 5 in all: 2 running, 3 queued
    over = requests.post(f"{svc.url}/api/v1/agents/{agent}/runs", headers=BO, json={"input": text})
    assert over.status_code == 429 and "limit of runs" in over.json()["detail"]
    for r in statuses[:4] + [bo]:
        assert wait_run(svc, r.json()["id"], headers=ANA if r is not bo else BO)["status"] == "succeeded"
    assert requests.post(f"{svc.url}/api/v1/agents/{agent}/runs", headers=BO,
                         json={"input": text}).status_code == 202


class ModelServer:
    """An OpenAI-compatible chat completions stand-in: asks for arithmetic, then answers with the
    result it was given."""

    def __init__(self):
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                outer.requests.append(body)
                last = body["messages"][-1]["content"]
                if last.startswith("Result:"):
                    value = json.loads(last[len("Result: "):])["output"]["value"]
                    text = json.dumps({"answer": f"The total is {value:g}."})
                else:
                    text = 'Sure. {"tool": "arithmetic", "input": {"expression": "19 + 23"}}'
                data = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}],
                                   "usage": {"prompt_tokens": 50, "completion_tokens": 10}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_language_model_plans_through_the_sdks_model_client(start_service, tmp_path, tools):
    model = ModelServer()
    models = [{"id": "gpt", "name": "stand-in", "provider": "openai", "base_url": model.url + "/v1",
               "model": "gpt-test"}]
    svc = start_agent(start_service, tmp_path, tools, AI_MODELS=json.dumps(models))
    agent = add_agent(svc, ["arithmetic"], model="gpt", limits={"max_tokens": 1000})
    got = wait_run(svc, start_run(svc, agent, "What is 19 plus 23?"))
    assert got["status"] == "succeeded" and got["output"] == "The total is 42.", got
    assert got["planner"] == "model: gpt" and got["tokens"] == 120
    first = model.requests[0]["messages"]
    assert first[0]["role"] == "system" and "arithmetic" in first[0]["content"] and "Help." in first[0]["content"]
    assert first[-1] == {"role": "user", "content": "What is 19 plus 23?"}
    # A token budget ends a run that spends past it.
    tight = add_agent(svc, ["arithmetic"], model="gpt", limits={"max_tokens": 30})
    got = wait_run(svc, start_run(svc, tight, "Again?"))
    assert got["status"] == "failed" and got["error"] == "limit reached: max_tokens 30"
    model.server.shutdown()


def test_what_an_attackers_read_found_is_refused_or_contained(start_service, tmp_path, tools):
    svc = start_agent(start_service, tmp_path, tools)
    port = tools.url.rsplit(":", 1)[1]
    # URLs outside AGENT_TOOL_URLS by a trick: another host sharing the prefix, userinfo, a
    # parent segment, spaces, a query, another port.
    for url in (f"http://127.0.0.1:{port}0/x", f"http://127.0.0.1:{port}@169.254.169.254/x",
                tools.url + "/a/../../x", tools.url + "/a b", tools.url + "/x?y=1",
                "http://127.0.0.1:1/x", f"http://127.0.0.1.nip.io:{port}/x", "file:///etc/passwd"):
        r = requests.post(svc.url + "/api/v1/skills", headers=ADMIN, json={
            "name": "sneaky", "description": "d", "input_schema": ECHO_SCHEMA, "kind": "http",
            "config": {"url": url}})
        assert r.status_code == 422 and "config.url" in r.text, (url, r.text)
    # Config of the wrong type: 422, never a 500.
    for config in ([], "x", {"builtin": 5}, {"url": tools.url + "/echo", "method": 5}):
        r = requests.post(svc.url + "/api/v1/skills", headers=ADMIN, json={
            "name": "typed", "description": "d", "input_schema": ECHO_SCHEMA,
            "kind": "builtin" if "builtin" in str(config) else "http", "config": config})
        assert r.status_code == 422, (config, r.text)
    # A built-in under a looser schema than it needs; answers too large or not short; text that
    # is cut inside a character: each a step's error or a bounded result, and the run finishes.
    loose = requests.post(svc.url + "/api/v1/skills", headers=ADMIN, json={
        "name": "calc2", "description": "d", "input_schema": {"type": "object"}, "kind": "builtin",
        "config": {"builtin": "arithmetic"}})
    assert loose.status_code == 201, loose.text
    add_skill(svc, "big", tools.url + "/big", out=None)
    add_skill(svc, "large", tools.url + "/large", out=None)
    assert requests.post(svc.url + "/api/v1/documents", headers=ADMIN,
                         json={"title": "Accents", "text": "x" * 199 + "é" * 10}).status_code == 201
    agent = add_agent(svc, ["calc2", "big", "large", "retrieval"])
    run = start_run(svc, agent, '/tool calc2 {"expression": 5}\n/tool calc2 {}\n/tool big {"q": "a"}\n'
                                '/tool large {"q": "b"}\n/tool retrieval {"query": "accents"}')
    got = wait_run(svc, run)
    assert got["status"] == "succeeded", got
    results = [s["content"] for s in got["steps"] if s["kind"] == "tool_result"]
    assert [r["ok"] for r in results] == [False, False, False, True, True], [(r["skill"], r.get("error")) for r in results]
    assert "expression" in results[0]["error"] and "expression" in results[1]["error"]
    assert "reached" in results[2]["error"] or "large" in results[2]["error"]
    assert results[3]["output"]["truncated"] is True and results[3]["output"]["bytes"] > 100_000
    assert results[4]["output"]["documents"][0]["snippet"].startswith("x" * 199)
    # Another user's run has no stream: 404 before any event.
    r = requests.get(f"{svc.url}/api/v1/runs/{run}/events", headers=BO)
    assert r.status_code == 404


def test_a_slow_step_keeps_its_lease_while_another_replica_watches(start_service, tmp_path, tools):
    tools.latency = 2.5
    env = dict(AGENT_LEASE="900ms")
    a = start_agent(start_service, tmp_path, tools, **env)
    add_skill(a, "slow", tools.url + "/slow")
    agent = add_agent(a, ["slow"])
    b = start_agent(start_service, tmp_path, tools, **env)  # the same database
    run = start_run(a, agent, '/tool slow {"q": "once"}')
    got = wait_run(a, run, timeout=30)
    assert got["status"] == "succeeded", got
    assert tools.keys[f"run-{run}-1"] == 1  # neither replica took it from the other
    assert not any(line.get("message") == "agent run resumed" for line in b.logs())


def test_the_files_skill_reads_as_the_runs_user(start_service, tmp_path, tools):
    files = start_service("files", DATA_DIR=tmp_path / "files")
    svc = start_agent(start_service, tmp_path, tools, AGENT_FILES_URL=files.url)
    assert requests.put(files.url + "/api/v1/files/notes", headers=ANA).status_code == 201
    assert requests.put(files.url + "/api/v1/files/notes/plan%20v1.txt", headers=ANA,
                        data="the plan: ship it".encode()).status_code == 201
    agent = add_agent(svc, ["files"])
    text = '/tool files {"bucket": "notes", "key": "plan v1.txt"}'
    mine = wait_run(svc, start_run(svc, agent, text, headers=ANA), headers=ANA)
    result = [s["content"] for s in mine["steps"] if s["kind"] == "tool_result"][0]
    assert result["ok"] is True and result["output"]["content"] == "the plan: ship it", result
    # Another user's run reads as that user: not ann's file.
    theirs = wait_run(svc, start_run(svc, agent, text, headers=BO), headers=BO)
    result = [s["content"] for s in theirs["steps"] if s["kind"] == "tool_result"][0]
    assert result["ok"] is False and "File Storage answered 40" in result["error"], result
