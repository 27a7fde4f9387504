"""The Code Assistant (seed 000 §4.2.2): static review, refactoring and test generation through the
real AI Gateway (over gRPC when it runs apart, in-process in the local system), and the
allow-listed test runner attacked on purpose."""
import http.server
import json
import os
import pathlib
import threading
import time

import pytest
import requests

from conftest import make_token
from waiting import until  # tests/support

DEVELOPER = make_token(sub="dev-1", roles=("developer",))
USER = make_token(sub="user-1", roles=("user",))
GUEST = make_token(sub="guest-1", roles=("guest",))
C = "/api/v1/code"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


PYTHON_WITH_PROBLEMS = '''import os
from helpers import *


def load(path, seen=[]):  # TODO: cache this
    try:
        data = eval(open(path).read())
    except:
        return None
    if data == None:
        return None
    return data   
''' + "x = '" + "a" * 120 + "'\n" + '''

def deep(a):
    if a:
        for b in a:
            while b:
                if b > 1:
                    with open("f") as f:
                        if f:
                            return 1
''' + "\n\ndef long_one():\n" + "".join(f"    v{i} = {i}\n" for i in range(60))

CPP_WITH_PROBLEMS = '''#pragma once
#include <cstring>
using namespace std;

int copy(char* out, const char* in) {
  char* tmp = new char[16];
  strcpy(out, in);
  int n = (int)strlen(in);
  if (tmp != NULL) delete[] tmp;
  return n;
}
'''

JS_WITH_PROBLEMS = '''var total = 0;
function add(x) {
  if (x == "1") { total = eval("total + 1"); }
  return total;
}
'''


class FakeModel(http.server.ThreadingHTTPServer):
    """An OpenAI-compatible model that refactors by renaming and writes pytest tests."""

    def __init__(self):
        self.prompts = []
        super().__init__(("127.0.0.1", 0), self.Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server_address[1]}/v1"

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            prompt = body["messages"][-1]["content"]
            self.server.prompts.append(prompt)
            if prompt.startswith("Refactor"):
                answer = ("Renamed the function for clarity.\n```python\ndef total(xs):\n    return sum(xs)\n```\n"
                          "- renamed f to total\n- used sum()\n")
            else:
                answer = "```python\nfrom m import f\n\ndef test_f():\n    assert f([1, 2]) == 3\n```"
            data = json.dumps({"choices": [{"message": {"role": "assistant", "content": answer}}],
                               "usage": {"prompt_tokens": 1, "completion_tokens": 1}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)


@pytest.fixture
def model():
    m = FakeModel()
    yield m
    m.shutdown()


SANDBOX_UID = 65534  # CODE_TEST_RUN_UID's default: a run as root drops to nobody


def hand_to_sandbox(path):
    """What an operator does after checking a project out into a workspace: give it to the
    uid test runs take (only when the service runs as root: else runs keep its uid)."""
    if os.geteuid() == 0:
        for p in [path, *path.rglob("*")]:
            os.lchown(p, SANDBOX_UID, SANDBOX_UID)


@pytest.fixture
def workspace(searchable_tmp):
    root = searchable_tmp / "workspaces"
    mine = root / "dev-1"  # DEVELOPER's workspace: their token's subject
    project = mine / "project"
    project.mkdir(parents=True)
    (project / "test_ok.py").write_text("def test_adds():\n    assert 1 + 1 == 2\n")
    (project / "test_bad.py").write_text("def test_fails():\n    assert 1 + 1 == 3\n")
    (project / "sleepy.py").write_text(
        "import subprocess, sys, time\n"
        "child = subprocess.Popen(['sleep', '59.9173'])  # a mark to find it by on the host\n"
        "open('child.pid', 'w').write(str(child.pid))\n"
        "print('started', flush=True)\n"
        "time.sleep(60)\n")
    (project / "chatty.py").write_text("import sys\nsys.stdout.write('x' * 1000000)\n")
    (project / "snoop.py").write_text(
        "import json, os\n"
        "print(json.dumps({'env': dict(os.environ), 'fds': sorted(os.listdir('/proc/self/fd'))}))\n")
    (mine / "outside").symlink_to("/")
    (mine / "dangling").symlink_to("/no-such-directory-on-the-host")
    (mine / "theirs").symlink_to("../user-1")
    (root / "user-1").mkdir()
    (root / "user-1" / "secret.txt").write_text("user-1's")
    hand_to_sandbox(mine)
    return root


@pytest.fixture
def assistant(start_service, model, workspace):
    ai = start_service("ai-gateway", GRPC_PORT="0", AI_MODELS=json.dumps(
        [{"id": "fake", "provider": "openai", "base_url": model.url, "model": "m"}]))
    svc = start_service("code-assistant", AI_GATEWAY_GRPC=ai.grpc_target, CODE_TEST_ROOT=str(workspace),
                        CODE_TEST_COMMANDS="python3", CODE_TEST_TIMEOUT_SECONDS="20",
                        CODE_TEST_OUTPUT_BYTES="4096", PATH="/usr/bin:/bin")
    svc.ai = ai
    return svc


def review(svc, token=DEVELOPER, **body):
    return requests.post(svc.url + C + "/review", json=body, headers=bearer(token), timeout=15)


def rules_at(body):
    return {(i["rule"], i["line"]) for i in body["issues"]}


# --- review --------------------------------------------------------------------------------------

def test_python_review_finds_real_problems(assistant):
    r = review(assistant, code=PYTHON_WITH_PROBLEMS, language="Python")
    assert r.status_code == 200, r.text
    body = r.json()
    found = rules_at(body)
    for expected in [("wildcard-import", 2), ("mutable-default", 5), ("todo", 5), ("eval", 7),
                     ("bare-except", 8), ("none-comparison", 10), ("trailing-whitespace", 12),
                     ("line-length", 13)]:
        assert expected in found, (expected, sorted(found))
    assert any(rule == "deep-nesting" for rule, _ in found)
    long_one = PYTHON_WITH_PROBLEMS.splitlines().index("def long_one():") + 1
    assert ("long-function", long_one) in found, sorted(found)
    severities = {i["rule"]: i["severity"] for i in body["issues"]}
    assert severities["bare-except"] == "error" and severities["todo"] == "info"
    assert body["language"] == "python" and body["lines"] == len(PYTHON_WITH_PROBLEMS.splitlines())
    weight = {"error": 10, "warning": 3, "info": 1}
    assert body["score"] == max(0, 100 - sum(weight[i["severity"]] for i in body["issues"]))
    assert body["score"] < 60
    assert body["suggestions"][0].startswith(("Catch", "Use None", "Do not"))  # errors first


def test_cpp_and_javascript_reviews(assistant):
    found = rules_at(review(assistant, code=CPP_WITH_PROBLEMS, language="c++").json())
    for expected in [("using-namespace", 3), ("raw-new-delete", 6), ("unsafe-c-string", 7),
                     ("c-style-cast", 8), ("null-macro", 9), ("raw-new-delete", 9)]:
        assert expected in found, (expected, sorted(found))
    found = rules_at(review(assistant, code=JS_WITH_PROBLEMS, language="js").json())
    for expected in [("var", 1), ("loose-equality", 3), ("eval", 3)]:
        assert expected in found, (expected, sorted(found))


def test_clean_code_scores_100_and_strings_do_not_count(assistant):
    clean = 'def greet(name):\n    """Say hello."""\n    return "hello, " + name  # not except: or eval(x)\n'
    body = review(assistant, code=clean, language="python").json()
    assert body["issues"] == [] and body["score"] == 100 and body["suggestions"] == []


@pytest.mark.parametrize("body,status,field", [
    ({}, 422, "code"),
    ({"code": 5}, 422, "code"),
    ({"code": ""}, 422, "code"),
    ({"code": "x" * (300 * 1024)}, 422, "code"),
    ({"code": "a\u0000b"}, 422, "code"),
    ({"code": "x", "language": ["py"]}, 422, "language"),
])
def test_bad_reviews_are_refused(assistant, body, status, field):
    r = review(assistant, **body)
    assert r.status_code == status, r.text
    assert r.json()["errors"][0]["field"] == field


def test_hostile_review_input_is_survived(assistant):
    one_huge_line = "x = 1;" * 40000
    r = review(assistant, code=one_huge_line, language="cpp")
    assert r.status_code == 200 and ("line-length", 1) in rules_at(r.json())
    many_lines = "\t \n" * 50000  # tabs, trailing whitespace, everywhere
    r = review(assistant, code=many_lines, language="python")
    assert r.status_code == 200 and len(r.json()["issues"]) == 500
    nested = "void f() {\n" + "{\n" * 2000 + "}\n" * 2001
    assert review(assistant, code=nested, language="cpp").status_code == 200
    assert review(assistant, token=GUEST, code="x").status_code == 403
    assert requests.post(assistant.url + C + "/review", json={"code": "x"}, timeout=5).status_code == 401
    h = {**bearer(DEVELOPER), "Content-Type": "application/json"}
    assert requests.post(assistant.url + C + "/review", data=b"{nope", headers=h, timeout=5).status_code == 400


# --- through the AI Gateway ------------------------------------------------------------------------

def test_refactor_through_the_gateway(assistant, model):
    code = "def f(xs):\n    t = 0\n    for x in xs:\n        t += x\n    return t\n"
    r = requests.post(assistant.url + C + "/refactor", headers=bearer(DEVELOPER), timeout=15,
                      json={"code": code, "instruction": "make it idiomatic", "language": "python", "model": "fake"})
    assert r.status_code == 200, r.text
    assert r.json() == {"refactored_code": "def total(xs):\n    return sum(xs)\n",
                        "changes": ["renamed f to total", "used sum()"],
                        "explanation": "Renamed the function for clarity."}
    assert "make it idiomatic" in model.prompts[-1] and code in model.prompts[-1]
    # The built-in local model hands the code back as it was, byte for byte.
    r = requests.post(assistant.url + C + "/refactor", headers=bearer(DEVELOPER), timeout=15,
                      json={"code": code, "instruction": "tidy", "language": "python"})
    assert r.status_code == 200 and r.json()["refactored_code"] == code
    # The caller's own token went to the gateway (a guest may not use AI there).
    assert assistant.ai.wait_log("rpc", method="/AIGateway/Chat", user_id="dev-1")


def test_test_generation_from_a_model_and_as_a_scaffold(assistant):
    code = "def f(xs):\n    return sum(xs)\n\ndef g():\n    pass\n"
    r = requests.post(assistant.url + C + "/test/generate", headers=bearer(DEVELOPER), timeout=15,
                      json={"code": code, "language": "python", "model": "fake"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"] == "model" and body["framework"] == "pytest"
    assert "def test_f" in body["tests"] and body["coverage_estimate"] == 50
    r = requests.post(assistant.url + C + "/test/generate", headers=bearer(DEVELOPER), timeout=15,
                      json={"code": code, "language": "python"})
    body = r.json()
    assert body["source"] == "scaffold" and body["coverage_estimate"] == 0
    assert "def test_f():" in body["tests"] and "def test_g():" in body["tests"] and "pytest.skip" in body["tests"]
    cpp = requests.post(assistant.url + C + "/test/generate", headers=bearer(DEVELOPER), timeout=15,
                        json={"code": "int twice(int x) {\n  return 2 * x;\n}\n", "language": "cpp"}).json()
    assert cpp["framework"] == "gtest" and "TEST(Generated, twice)" in cpp["tests"]


def test_model_trouble_is_the_gateways_not_the_callers(assistant):
    r = requests.post(assistant.url + C + "/refactor", headers=bearer(DEVELOPER), timeout=15,
                      json={"code": "x", "instruction": "y", "model": "no-such-model"})
    assert r.status_code == 422 and "no-such-model" in r.json()["detail"]
    r = requests.post(assistant.url + C + "/refactor", headers=bearer(DEVELOPER), timeout=15,
                      json={"code": "x" * (29 * 1024), "instruction": "y"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "code"
    assistant.ai.stop()
    r = requests.post(assistant.url + C + "/refactor", headers=bearer(DEVELOPER), timeout=30,
                      json={"code": "x", "instruction": "y"})
    # Nothing listens: gRPC says UNAVAILABLE after the retries, which is 503 with a Retry-After.
    assert r.status_code == 503 and r.headers["Retry-After"] == "1", r.text
    assert "ai-gateway" in r.json()["detail"] and "UNAVAILABLE" in r.json()["detail"]


# --- the test runner -----------------------------------------------------------------------------

def run(svc, token=DEVELOPER, **body):
    return requests.post(svc.url + C + "/test/run", json=body, headers=bearer(token), timeout=60)


def test_allowed_commands_run_in_the_workspace(assistant):
    r = run(assistant, command=["python3", "-m", "pytest", "-q", "test_ok.py"], cwd="project")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["passed"] is True and body["exit_code"] == 0 and "1 passed" in body["stdout"], r.text
    body = run(assistant, command=["python3", "-m", "pytest", "-q", "test_bad.py"], cwd="project").json()
    assert body["passed"] is False and body["exit_code"] == 1 and "1 failed" in body["stdout"]
    assert run(assistant, token=USER, command=["python3", "-V"]).status_code == 403, "code:run needed"


@pytest.mark.parametrize("body,status", [
    ({"command": ["bash", "-c", "id"]}, 403),
    ({"command": ["/usr/bin/python3", "-V"]}, 403),
    ({"command": ["../../bin/sh"]}, 403),
    ({"command": "python3 -m pytest"}, 422),
    ({"command": []}, 422),
    ({"command": ["python3", 5]}, 422),
    ({"command": ["python3", "-c", "import os; os.system('id')"]}, 422),
    ({"command": ["python3", "x.py", "&&", "id"]}, 422),
    ({"command": ["python3", "$(id)"]}, 422),
    ({"command": ["python3", "`id`"]}, 422),
    ({"command": ["python3", "a\nb"]}, 422),
    ({"command": ["python3", "/etc/passwd"]}, 403),
    ({"command": ["python3", "-d/"]}, 403),  # glued to a short option
    ({"command": ["python3", "-c/etc/passwd"]}, 403),
    ({"command": ["python3", "-vc/etc/passwd"]}, 403),  # the end of a cluster of short options
    ({"command": ["python3", "-vv../etc"]}, 403),  # only the last glued value leaves
    # More than 16 readings of one argument that would each be resolved on disk.
    ({"command": ["python3", "x" + "=project/" * 20]}, 422),
    ({"command": ["python3", "--opt=key=/etc/passwd"]}, 403),  # after a second '='
    ({"command": ["python3", "x.py", "out=/etc/passwd"]}, 403),  # key=/abs
    ({"command": ["python3", "outside/etc/passwd"]}, 403),  # a symbolic link out
    ({"command": ["python3", "theirs/secret.txt"]}, 403),  # into another user's workspace
    ({"command": ["python3", "--junitxml=outside/x"]}, 403),
    ({"command": ["python3", "--rootdir=/"]}, 403),
    ({"command": ["python3", "../../../etc/passwd"]}, 403),
    ({"command": ["python3", "-V"], "cwd": "../"}, 403),
    ({"command": ["python3", "-V"], "cwd": "/etc"}, 403),
    ({"command": ["python3", "-V"], "cwd": "project/../../.."}, 403),
    ({"command": ["python3", "-V"], "cwd": "outside"}, 403),
    ({"command": ["python3", "-V"], "cwd": "outside/etc"}, 403),
    # Outside is refused alike whether it exists or not: no probing the host's directories.
    ({"command": ["python3", "-V"], "cwd": "outside/no-such-directory"}, 403),
    ({"command": ["python3", "-V"], "cwd": "dangling"}, 403),  # a link to nowhere: as if out
    ({"command": ["python3", "dangling/x"]}, 403),
    ({"command": ["python3", "-V"], "cwd": "nowhere"}, 422),
    ({"command": ["python3", "-V"], "timeout_seconds": 0}, 422),
    ({"command": ["python3", "-V"], "timeout_seconds": 9999}, 422),
    ({"command": ["python3"] + ["-V"] * 70}, 422),
])
def test_anything_outside_the_rules_is_refused_and_logged(assistant, body, status):
    r = run(assistant, **body)
    assert r.status_code == status, r.text
    assistant.wait_log("test run refused")


def host_processes_with(mark):
    """Live host processes whose command line holds `mark` (a sandbox's pids are its own)."""
    found = []
    for proc in pathlib.Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and mark in (proc / "cmdline").read_text() and \
                    (proc / "stat").read_text().split()[2] != "Z":
                found.append(int(proc.name))
        except OSError:
            pass
    return found


def test_a_run_is_bounded_in_time_and_output_and_kills_what_it_started(assistant, workspace):
    started = time.monotonic()
    body = run(assistant, command=["python3", "sleepy.py"], cwd="project", timeout_seconds=1).json()
    assert body["timed_out"] is True and body["signal"] == 9 and body["passed"] is False
    assert time.monotonic() - started < 10
    assert (workspace / "dev-1" / "project" / "child.pid").exists(), "the grandchild had started"
    deadline = time.monotonic() + 5
    while host_processes_with("59.9173") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert host_processes_with("59.9173") == [], "the grandchild was killed"
    body = run(assistant, command=["python3", "chatty.py"], cwd="project").json()
    assert body["truncated"] is True and len(body["stdout"]) == 4096 and body["exit_code"] == 0


def test_the_command_sees_none_of_the_services_secrets_or_sockets(assistant):
    body = run(assistant, command=["python3", "snoop.py"], cwd="project").json()
    seen = json.loads(body["stdout"])
    assert "JWT_SECRET_KEY" not in seen["env"] and "AI_GATEWAY_GRPC" not in seen["env"]
    assert set(seen["env"]) <= {"PATH", "LANG", "HOME", "PYTHONDONTWRITEBYTECODE", "LC_CTYPE", "PWD"}
    assert seen["fds"] == ["0", "1", "2", "3"]  # 3: the directory listdir is reading


def test_concurrent_runs_are_capped(start_service, workspace):
    svc = start_service("code-assistant", AI_GATEWAY_GRPC="127.0.0.1:1", CODE_TEST_ROOT=str(workspace),
                        CODE_TEST_COMMANDS="python3", CODE_TEST_MAX_CONCURRENT="1", PATH="/usr/bin:/bin")
    results = []

    def slow():
        results.append(run(svc, command=["python3", "sleepy.py"], cwd="project", timeout_seconds=2).status_code)

    first = threading.Thread(target=slow)
    first.start()
    # sleepy.py writes child.pid once it runs: from then on the one slot is taken.
    until(lambda: (workspace / "dev-1" / "project" / "child.pid").exists(), what="the first run to start")
    second = run(svc, command=["python3", "-V"])
    first.join()
    assert second.status_code == 429 and second.headers["Retry-After"] == "1"
    assert results == [200]


def test_bad_settings_stop_start_up(start_service, workspace):
    for env in ({"CODE_TEST_COMMANDS": "sh -c"}, {"CODE_TEST_COMMANDS": "/bin/sh"},
                {"CODE_TEST_COMMANDS": "no-such-program-here"}, {"CODE_TEST_TIMEOUT_SECONDS": "0"}):
        with pytest.raises(RuntimeError) as e:
            start_service("code-assistant", CODE_TEST_ROOT=str(workspace), PATH="/usr/bin:/bin", **env)
        assert "exited with 2" in str(e.value), env


def test_the_local_system_asks_its_own_ai_gateway_in_process(start_service):
    svc = start_service("aether", GRPC_PORT="0", SECURITY_ADMIN_EMAIL="a@b.c", SECURITY_ADMIN_PASSWORD="admin-password-1")
    r = requests.post(svc.url + C + "/refactor", headers=bearer(DEVELOPER), timeout=15,
                      json={"code": "print(1)\n", "instruction": "tidy", "language": "python"})
    assert r.status_code == 200, r.text
    assert r.json()["refactored_code"] == "print(1)\n"
    assert review(svc, code="except:\n", language="python").json()["issues"][0]["rule"] == "bare-except"
    # Asked in-process: the gateway counted the question, and no gRPC call was made for it.
    metrics = requests.get(svc.url + "/metrics", timeout=5).text
    assert 'ai_requests_total{model="local"} 1' in metrics, metrics
    assert "grpc_client_started_total" not in metrics, metrics
    assert 'grpc_server_started_total{grpc_method="Chat",grpc_service="AIGateway",grpc_type="unary"} 0' in metrics
    # The gateway's own check still holds: code:use without ai:use is refused, and asks nothing.
    coder = make_token(sub="coder-1", roles=(), permissions=("code:use",))
    r = requests.post(svc.url + C + "/refactor", headers=bearer(coder), timeout=15,
                      json={"code": "print(1)\n", "instruction": "tidy", "language": "python"})
    assert r.status_code == 403, r.text
    assert "ai:use" in r.json()["detail"]
    metrics = requests.get(svc.url + "/metrics", timeout=5).text
    assert 'ai_requests_total{model="local"} 1' in metrics, metrics


# --- the sandbox: attacks from inside a run --------------------------------------------------
# A project under test is code the caller wrote: each script here is what a hostile one does.

ATTACKS = {
    "read_outside.py": """
import json, os, sys
found = {}
for path in sys.argv[1:] + ['/etc/shadow', '/root', '/proc/1/environ', '../user-1/secret.txt',
                            'theirs/secret.txt', '/workspace/../user-1/secret.txt']:
    try:
        found[path] = os.listdir(path) if os.path.isdir(path) else open(path).read()
    except OSError as e:
        found[path] = type(e).__name__
environ = {}
for pid in os.listdir('/proc'):
    if pid.isdigit():
        try:
            environ[pid] = open('/proc/%s/environ' % pid, 'rb').read().decode(errors='replace')
        except OSError:
            pass
print(json.dumps({'found': found, 'environ': environ, 'ppid': os.getppid(), 'uid': os.getuid(),
                  'root': sorted(os.listdir('/'))}))
""",
    "write_outside.py": """
import json
results = {}
for path in ['/usr/evil', '/etc/evil', '/evil', '/tmp/ok', 'ok-here']:
    try:
        open(path, 'w').write('x')
        results[path] = 'written'
    except OSError as e:
        results[path] = type(e).__name__
print(json.dumps(results))
""",
    "connect.py": """
import json, socket, sys
results = {}
for host in ['127.0.0.1', sys.argv[2]]:
    try:
        socket.create_connection((host, int(sys.argv[1])), timeout=2).close()
        results[host] = 'connected'
    except OSError as e:
        results[host] = type(e).__name__
print(json.dumps(results))
""",
    "closes_and_sleeps.py": """
import os, time
os.close(1)
os.close(2)
time.sleep(120)
""",
    "fork_bomb.py": """
import os, time
children = 0
while True:
    try:
        if os.fork() == 0:
            time.sleep(120)
            os._exit(0)
        children += 1
    except OSError as e:
        print(children, type(e).__name__, flush=True)
        break
time.sleep(120)
""",
    "memory_bomb.py": """
import sys
chunks = []
try:
    while True:
        chunks.append(bytearray(16 << 20))  # touched: bytearray zero-fills
        print(len(chunks) * 16, flush=True)
except MemoryError:
    print('MemoryError', flush=True)
""",
    "memory_bomb_split.py": """
import os, sys, time
# Three processes of 150 MiB each: each under a 256 MiB per-process limit, together over it.
children = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        block = bytearray(150 << 20)
        time.sleep(5)
        os._exit(0)
    children.append(pid)
print(' '.join(str(os.waitpid(pid, 0)[1] & 0x7f) for pid in children), flush=True)
""",
    "syscalls.py": """
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
def call(name, *args):
    r = getattr(libc, name)(*args)
    return 'ok' if r == 0 else os.strerror(ctypes.get_errno())
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
print(json.dumps({
    'unshare_user': call('unshare', CLONE_NEWUSER),
    'unshare_net': call('unshare', CLONE_NEWNET),
    'mount': call('mount', b'none', b'/tmp', b'tmpfs', 0, None),
    'ptrace': 'ok' if libc.ptrace(0, 0, None, None) == 0 else os.strerror(ctypes.get_errno()),
    'keyctl': 'ok' if libc.syscall(250, 0, 0) >= 0 else os.strerror(ctypes.get_errno()),
    'vsock': 'ok' if libc.socket(40, 1, 0) >= 0 else os.strerror(ctypes.get_errno()),  # AF_VSOCK
    # The same family with high bits set: the kernel reads an int, a filter must too.
    'vsock_high_bits': 'ok' if libc.syscall(41, ctypes.c_long(0x100000028), 1, 0) >= 0
                       else os.strerror(ctypes.get_errno()),
}))
""",
}


@pytest.fixture
def attacks(workspace):
    project = workspace / "dev-1" / "project"
    for name, text in ATTACKS.items():
        (project / name).write_text(text)
    (workspace / "host-secret").write_text("the host's")
    hand_to_sandbox(workspace / "dev-1")
    return project


def attack(svc, script, *args, timeout=20, **body):
    r = run(svc, command=["python3", script, *args], cwd="project", timeout_seconds=timeout, **body)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_run_reads_nothing_outside_its_workspace(assistant, attacks, workspace):
    host_secret = str(workspace / "host-secret")
    # An absolute argument is refused before anything runs ...
    assert run(assistant, command=["python3", "read_outside.py", host_secret],
               cwd="project").status_code == 403
    # ... and a script that names it itself finds nothing: the host is not mounted.
    (attacks / "paths.txt").write_text(host_secret)
    body = attack(assistant, "read_outside.py", "paths.txt")
    seen = json.loads(body["stdout"])
    assert seen["found"]["paths.txt"] == host_secret, "its own workspace it reads"
    found = {k: v for k, v in seen["found"].items() if k not in ("paths.txt", "/proc/1/environ")}
    assert found == {
        "/etc/shadow": "FileNotFoundError", "/root": "FileNotFoundError",
        "../user-1/secret.txt": "FileNotFoundError", "theirs/secret.txt": "FileNotFoundError",
        "/workspace/../user-1/secret.txt": "FileNotFoundError"}
    # Its pid 1 is the sandbox's init, with the run's scrubbed environment.
    assert "PATH=/usr/bin:/bin" in seen["found"]["/proc/1/environ"]
    # The root holds /usr, the host's top-level links into it, and the sandbox's own mounts.
    links = [p.name for p in pathlib.Path("/").iterdir()
             if p.name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32") and (p.is_symlink() or p.is_dir())]
    assert seen["root"] == sorted(links + ["dev", "etc", "proc", "tmp", "usr", "workspace"])
    # No process it can see holds the service's secret: its parent is the sandbox's own init.
    assert all("JWT_SECRET_KEY" not in env for env in seen["environ"].values())
    assert seen["ppid"] in (0, 1)
    if os.geteuid() == 0:
        assert seen["uid"] == SANDBOX_UID, "a run of a root service is not root"
    # Reading the host's file by its path (the script told it) found nothing either.
    (attacks / "paths.txt").unlink()
    body = attack(assistant, "read_outside.py")
    assert json.loads(body["stdout"])["found"]["/etc/shadow"] == "FileNotFoundError"


def test_a_run_writes_only_its_workspace_and_its_own_tmp(assistant, attacks):
    body = attack(assistant, "write_outside.py")
    assert json.loads(body["stdout"]) == {
        "/usr/evil": "OSError", "/etc/evil": "OSError", "/evil": "OSError",
        "/tmp/ok": "written", "ok-here": "written"}, body
    assert (attacks / "ok-here").read_text() == "x"
    assert not pathlib.Path("/usr/evil").exists() and not pathlib.Path("/tmp/ok").exists()


def test_a_run_has_no_network(assistant, attacks):
    import socket
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.1)
    port = listener.getsockname()[1]
    body = attack(assistant, "connect.py", str(port), "10.255.255.1")
    assert json.loads(body["stdout"]) == {"127.0.0.1": "ConnectionRefusedError",
                                          "10.255.255.1": "OSError"}, body
    with pytest.raises(socket.timeout):
        listener.accept()  # nothing reached the host's loopback
    listener.close()


def test_a_run_that_closes_its_output_is_still_killed_at_its_deadline(assistant, attacks):
    started = time.monotonic()
    body = attack(assistant, "closes_and_sleeps.py", timeout=2)
    assert body["timed_out"] is True and body["signal"] == 9
    assert time.monotonic() - started < 10
    # The blocking thread came back: the next run runs.
    assert run(assistant, command=["python3", "-V"]).json()["exit_code"] == 0


def test_a_fork_bomb_meets_the_process_limit_and_dies_at_the_deadline(start_service, attacks, workspace):
    svc = start_service("code-assistant", AI_GATEWAY_GRPC="127.0.0.1:1", CODE_TEST_ROOT=str(workspace),
                        CODE_TEST_COMMANDS="python3", CODE_TEST_MAX_PROCESSES="16", PATH="/usr/bin:/bin")
    body = attack(svc, "fork_bomb.py", timeout=3)
    children, error = body["stdout"].split()
    assert error == "BlockingIOError" and 0 < int(children) < 16, body
    assert body["timed_out"] is True
    deadline = time.monotonic() + 5
    while host_processes_with("fork_bomb.py") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert host_processes_with("fork_bomb.py") == [], "every process of the run is gone"


def test_a_memory_bomb_meets_the_memory_limit(start_service, attacks, workspace):
    svc = start_service("code-assistant", AI_GATEWAY_GRPC="127.0.0.1:1", CODE_TEST_ROOT=str(workspace),
                        CODE_TEST_COMMANDS="python3", CODE_TEST_MEMORY_MB="256", PATH="/usr/bin:/bin")
    body = attack(svc, "memory_bomb.py")
    lines = body["stdout"].split()
    assert lines[-1] == "MemoryError" and int(lines[-2]) <= 256, body
    assert requests.get(svc.url + "/ready", timeout=5).status_code == 200


@pytest.mark.skipif(os.geteuid() != 0, reason="per-run cgroups are made only by a root service")
def test_a_run_as_a_whole_meets_the_memory_limit(start_service, attacks, workspace):
    svc = start_service("code-assistant", AI_GATEWAY_GRPC="127.0.0.1:1", CODE_TEST_ROOT=str(workspace),
                        CODE_TEST_COMMANDS="python3", CODE_TEST_MEMORY_MB="256", PATH="/usr/bin:/bin")
    body = attack(svc, "memory_bomb_split.py")
    signals = body["stdout"].split()
    assert len(signals) == 3 and "9" in signals, body  # the cgroup's OOM killer took one


def test_what_tests_never_need_is_refused_by_seccomp(assistant, attacks):
    body = attack(assistant, "syscalls.py")
    assert json.loads(body["stdout"]) == {
        "unshare_user": "Operation not permitted", "unshare_net": "Operation not permitted",
        "mount": "Operation not permitted", "ptrace": "Operation not permitted",
        "keyctl": "Operation not permitted", "vsock": "Operation not permitted",
        "vsock_high_bits": "Operation not permitted"}, body


def test_each_user_runs_in_a_workspace_of_their_own(assistant, workspace):
    other = make_token(sub="dev-2", roles=("developer",))
    r = run(assistant, token=other, command=["python3", "-V"], cwd="project")
    assert r.status_code == 422 and "no such directory in your workspace" in r.text
    assert (workspace / "dev-2").is_dir(), "made on first use"
    assert run(assistant, token=other, command=["python3", "-V"]).json()["exit_code"] == 0
    odd = make_token(sub="../../etc", roles=("developer",))
    assert run(assistant, token=odd, command=["python3", "-V"]).json()["exit_code"] == 0
    made = sorted(p.name for p in workspace.iterdir())
    assert [m for m in made if m.startswith("u-")] != [] and "etc" not in made


@pytest.mark.parametrize("bwrap,reason", [
    ("/nonexistent/bwrap", "bubblewrap is not installed"),
    ("/usr/bin/false", "bwrap failed"),
])
def test_without_a_sandbox_nothing_runs(start_service, workspace, bwrap, reason):
    svc = start_service("code-assistant", AI_GATEWAY_GRPC="127.0.0.1:1", CODE_TEST_ROOT=str(workspace),
                        CODE_TEST_COMMANDS="python3", CODE_TEST_BWRAP=bwrap, PATH="/usr/bin:/bin")
    svc.wait_log("test runs are off: the sandbox cannot be set up")
    r = run(svc, command=["python3", "sleepy.py"], cwd="project")
    assert r.status_code == 503 and reason in r.json()["detail"], r.text
    assert not (workspace / "dev-1" / "project" / "child.pid").exists(), "nothing ran"
    assert requests.get(svc.url + "/ready", timeout=5).status_code == 200, "the rest of the service works"
