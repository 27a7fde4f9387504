"""@name@ from the outside: the built binary started on a free port, called with `requests`
(and `grpcio`), stopped with SIGTERM.

    SERVICE_BINARY=build/@name@ python3 -m pytest -q tests/test_service.py   (ctest runs it)
"""
import os
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import requests
@#grpc@
import grpc
@/grpc@

BINARY = os.environ.get("SERVICE_BINARY", os.path.join(os.path.dirname(__file__), "..", "build", "@name@"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """The process, on free ports, with its data in `data_dir`."""

    def __init__(self, data_dir):
        self.port = free_port()
@#grpc@
        self.grpc_port = free_port()
@/grpc@
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, HOST="127.0.0.1", PORT=str(self.port), DATA_DIR=data_dir,
                   SHUTDOWN_DELAY="0", LOG_LEVEL="warning"@#grpc@, GRPC_PORT=str(self.grpc_port)@/grpc@)
        self.process = subprocess.Popen([BINARY], env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the service exited at start-up"
            try:
                if requests.get(self.url + "/ready", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        self.process.kill()
        raise AssertionError("the service was not ready in 30 s")

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


@pytest.fixture
def data_dir():
    with tempfile.TemporaryDirectory() as d:
        yield d


@pytest.fixture
def service(data_dir):
    s = Service(data_dir)
    yield s
    if s.process.poll() is None:
        s.process.kill()
        s.process.wait()


def test_an_item_made_read_changed_and_removed(service):
    created = requests.post(service.url + "@api@", json={"name": "bolt", "quantity": 40})
    assert created.status_code == 201, created.text
    item = created.json()
    assert item["name"] == "bolt" and item["quantity"] == 40
    assert created.headers["Location"] == f"@api@/{item['id']}"
    path = service.url + created.headers["Location"]
    assert requests.get(path).json() == item
    assert requests.put(path, json={"name": "bolt", "quantity": 3}).json()["quantity"] == 3
    assert [i["id"] for i in requests.get(service.url + "@api@").json()["items"]] == [item["id"]]
    assert requests.delete(path).status_code == 204
    missing = requests.get(path)
    assert missing.status_code == 404
    assert missing.headers["Content-Type"] == "application/problem+json"


def test_bad_input_is_refused_with_a_clear_error_and_changes_nothing(service):
    items = service.url + "@api@"
    cases = [
        ({"data": b"{not json", "headers": {"Content-Type": "application/json"}}, 400),
        ({"data": b"name=x", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, 415),
        ({"json": {"name": "", "quantity": 1}}, 422),
        ({"json": {"name": "x", "quantity": -1}}, 422),
        ({"json": {"name": "x", "quantity": "7"}}, 422),
        ({"json": {"name": "x" * 201, "quantity": 1}}, 422),
        ({"data": b"[" * 100000, "headers": {"Content-Type": "application/json"}}, 400),
        ({"data": b"x" * (2 << 20), "headers": {"Content-Type": "application/json"}}, 413),
    ]
    for kwargs, status in cases:
        r = requests.post(items, **kwargs)
        assert r.status_code == status, (kwargs.get("json"), r.status_code, r.text[:200])
        assert r.headers["Content-Type"] == "application/problem+json"
    assert requests.get(items + "/no-such-item").status_code == 404
    assert requests.get(items + "?limit=5000").status_code == 400
    assert requests.get(items).json() == {"items": []}


def test_probes_metrics_and_api_description(service):
    assert requests.get(service.url + "/health").json()["status"] == "UP"
    assert requests.get(service.url + "/ready").status_code == 200
    requests.get(service.url + "@api@")
    metrics = requests.get(service.url + "/metrics").text
    assert 'http_requests_total{handler="@api@",method="GET",status="2xx"} 1' in metrics
    api = requests.get(service.url + "/openapi.json").json()
    assert set(api["paths"]) >= {"@api@", "@api@/{id}"}
    assert "ItemInput" in api["components"]["schemas"]


def test_sigterm_is_a_clean_exit(service):
    assert service.stop() == 0
@#db@


def test_items_outlive_a_restart(data_dir):
    first = Service(data_dir)
    item = requests.post(first.url + "@api@", json={"name": "kept", "quantity": 1}).json()
    assert first.stop() == 0
    second = Service(data_dir)
    try:
        assert requests.get(f"{second.url}@api@/{item['id']}").json() == item
    finally:
        assert second.stop() == 0
@/db@
@#grpc@


def get_item_request(item_id):
    """GetItemRequest {id}: field 1, a short string, written by hand (no generated Python code)."""
    data = item_id.encode()
    assert len(data) < 128
    return b"\x0a" + bytes([len(data)]) + data


def test_an_item_over_grpc(service):
    item = requests.post(service.url + "@api@", json={"name": "nut", "quantity": 7}).json()
    with grpc.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        get_item = channel.unary_unary("/@snake@_service.v1.@camel@/GetItem")
        reply = get_item(get_item_request(item["id"]), timeout=5)
        assert b"nut" in reply
        with pytest.raises(grpc.RpcError) as missing:
            get_item(get_item_request("no-such-item"), timeout=5)
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
@/grpc@
