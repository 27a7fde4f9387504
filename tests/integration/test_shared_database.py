"""Three Task Manager replicas behind the gateway on one PostgreSQL (issue: storage that
outgrows one machine): every replica sees every write at once (the entity cache is off on a
shared database), concurrent edits of one task lose nothing (serializable read-modify-write,
retried on conflict), and the replicas agree with the database row for row."""
import json
import socket

import requests

from conftest import make_token

USER = {"Authorization": "Bearer " + make_token(permissions=["tasks:read", "tasks:write"])}


def replicas_behind_a_gateway(start_service, tmp_path, database_url, n=3):
    replicas = [start_service("task-manager", **database_url, DATA_DIR=tmp_path / f"r{i}")
                for i in range(n)]
    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps({
        "upstreams": {"tasks": {"targets": [r.url for r in replicas]}},
        "routes": [{"name": "tasks", "paths": ["/api/v1/tasks"], "upstream": "tasks",
                    "auth": "permission:tasks:write"}]}))
    return replicas, start_service("gateway", GATEWAY_ROUTES=routes)


def test_every_replica_sees_every_write_at_once(start_service, tmp_path, postgres_server):
    url = {"DATABASE_URL": postgres_server.create_database("replicas_see")}
    replicas, gateway = replicas_behind_a_gateway(start_service, tmp_path, url)
    r = requests.post(gateway.url + "/api/v1/tasks", json={"title": "v0"}, headers=USER, timeout=5)
    assert r.status_code == 201, r.text
    task = r.json()["id"]
    for version in range(1, 6):
        # Every replica reads the task first (a cache would now hold it) ...
        for replica in replicas:
            got = requests.get(f"{replica.url}/api/v1/tasks/{task}", headers=USER, timeout=5)
            assert got.json()["task"]["title"] == f"v{version - 1}"
        # ... then one of them changes it, and every one answers the change.
        writer = replicas[version % 3]
        r = requests.put(f"{writer.url}/api/v1/tasks/{task}", json={"title": f"v{version}"},
                         headers=USER, timeout=5)
        assert r.status_code == 200, r.text
        for replica in replicas:
            got = requests.get(f"{replica.url}/api/v1/tasks/{task}", headers=USER, timeout=5)
            assert got.json()["task"]["title"] == f"v{version}", replica.url
    # Deleted on one: gone on all.
    assert requests.delete(f"{replicas[0].url}/api/v1/tasks/{task}", headers=USER,
                           timeout=5).status_code == 200
    for replica in replicas:
        assert requests.get(f"{replica.url}/api/v1/tasks/{task}", headers=USER,
                            timeout=5).status_code == 404


def burst(targets):
    """Sends every (url, body) PUT at once on connections opened beforehand, from one thread
    (so they reach the replicas within microseconds of each other, inside one another's
    read-modify-write), and returns the status codes in order."""
    socks = []
    for url, _ in targets:
        host, port = url.split("//")[1].split("/")[0].split(":")
        socks.append(socket.create_connection((host, int(port)), timeout=10))
    for sock, (url, body) in zip(socks, targets):
        path = "/" + url.split("//")[1].split("/", 1)[1]
        data = json.dumps(body).encode()
        sock.sendall(f"PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {USER['Authorization']}"
                     f"\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                     f"\r\n".encode() + data)
    statuses = []
    for sock in socks:
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
        status = int(answer.split(b" ", 2)[1])
        if status != 200:  # shown with its reason
            head, body = answer.split(b"\r\n\r\n", 1)
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            while len(body) < length:
                body += sock.recv(65536)
            status = (status, body.decode())
        statuses.append(status)
        sock.close()
    return statuses


def test_concurrent_edits_of_one_task_lose_no_update(start_service, tmp_path, postgres_server):
    url = {"DATABASE_URL": postgres_server.create_database("replicas_edit")}
    replicas, gateway = replicas_behind_a_gateway(start_service, tmp_path, url)
    for round_ in range(30):
        r = requests.post(gateway.url + "/api/v1/tasks", json={"title": "start"}, headers=USER,
                          timeout=5)
        task = r.json()["id"]
        # Five edits of five different fields, each sent twice, all at once through three
        # replicas: each reads the task, changes its field and writes the whole row back.
        edits = [{"title": f"t-{round_}"}, {"description": f"d-{round_}"},
                 {"category": f"c-{round_}"}, {"due_date": f"2030-01-0{round_ % 9 + 1}"},
                 {"priority": ["low", "high", "urgent"][round_ % 3]}] * 2
        targets = [(f"{replicas[i % 3].url}/api/v1/tasks/{task}", edit)
                   for i, edit in enumerate(edits)]
        assert burst(targets) == [200] * len(edits)
        final = requests.get(f"{gateway.url}/api/v1/tasks/{task}", headers=USER,
                             timeout=5).json()["task"]
        for edit in edits:
            for name, value in edit.items():
                assert final[name] == value, (round_, name, final)
    rows = postgres_server.psql("SELECT COUNT(*) FROM tasks", database="replicas_edit")
    assert rows == "30"
