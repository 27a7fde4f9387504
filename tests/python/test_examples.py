"""The Python examples (examples/python) run as documented."""
import pathlib
import signal
import socket
import subprocess
import sys
import time

import requests

from conftest import TEST_JWT_SECRET, make_token, python_env

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples" / "python"


def test_events_example():
    proc = subprocess.run([sys.executable, str(EXAMPLES / "events.py")], env=python_env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "consumed task.created {'task_id': 't-1', 'title': 'try svckit'} from events-example" in out
    assert "reply {'sum': 6}" in out and "timeout no reply to nobody.answers" in out
    assert "dead-lettered after 2 attempts: ValueError: cannot handle this one" in out


def test_fastapi_example():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "fastapi_app:app", "--app-dir", str(EXAMPLES),
                             "--port", str(port), "--log-level", "warning"],
                            env=python_env(JWT_SECRET_KEY=TEST_JWT_SECRET), stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(url + "/metrics", timeout=1)
                break
            except requests.RequestException:
                assert proc.poll() is None and time.monotonic() < deadline, "the example did not start"
                time.sleep(0.1)
        user = {"Authorization": "Bearer " + make_token(sub="u-1", roles=("user",))}
        guest = {"Authorization": "Bearer " + make_token(sub="g-1", roles=("guest",))}
        r = requests.get(url + "/api/v1/me", headers=user, timeout=5)
        assert r.status_code == 200 and r.json() == {"id": "u-1", "roles": ["user"]}
        assert requests.get(url + "/api/v1/me", timeout=5).status_code == 401
        assert requests.post(url + "/api/v1/reports", json={"kind": "weekly"}, headers=user, timeout=5).status_code == 202
        r = requests.post(url + "/api/v1/reports", json={"kind": "weekly"}, headers=guest, timeout=5)
        assert r.status_code == 403 and "insufficient_scope" in r.headers["WWW-Authenticate"]
        metrics = requests.get(url + "/metrics", timeout=5).text
        assert 'http_requests_total{handler="/api/v1/reports",method="POST",status="2xx"} 1' in metrics
        assert 'bus_messages_published_total{type="report.requested"} 1' in metrics
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert "Fatal Python error" not in proc.stderr.read()
