"""Idempotency-Key on POST (svckit/app/idempotency.hpp) on the Task Manager: a retried POST gets
the first answer, on one replica (in-process store) and across two (Redis)."""
import concurrent.futures
import uuid

import pytest
import requests

from conftest import make_token

ALICE = {"Authorization": "Bearer " + make_token(sub="alice", permissions=["tasks:read", "tasks:write"])}
BOB = {"Authorization": "Bearer " + make_token(sub="bob", permissions=["tasks:read", "tasks:write"])}


def post(url, body, key, who=ALICE):
    return requests.post(url + "/api/v1/tasks", json=body, headers={**who, "Idempotency-Key": key}, timeout=10)


def count(url, who=ALICE):
    return requests.get(url + "/api/v1/tasks/stats", headers=who).json()["total"]


@pytest.fixture(params=["memory", "redis"])
def replicas(request, start_service, tmp_path):
    """Two URLs: the same replica twice (in-process store), or two replicas sharing one Redis
    and one PostgreSQL database."""
    if request.param == "memory":
        svc = start_service("task-manager")
        return [svc.url, svc.url]
    redis = request.getfixturevalue("redis_server")
    postgres = request.getfixturevalue("postgres_server")
    url = postgres.create_database("idem_" + uuid.uuid4().hex[:12])
    return [start_service("task-manager", REDIS_URL=redis.url, DATABASE_URL=url,
                          DATA_DIR=tmp_path / f"r{i}").url for i in range(2)]


def test_a_retried_post_gets_the_first_answer(replicas):
    first, second = replicas
    key = str(uuid.uuid4())
    made = post(first, {"title": "pay rent"}, key)
    assert made.status_code == 201, made.text
    assert "Idempotent-Replayed" not in made.headers
    again = post(second, {"title": "pay rent"}, key)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == made.json()
    assert again.headers["Content-Type"] == made.headers["Content-Type"]
    assert count(first) == 1

    # The same key for another request is a client's mistake, and changes nothing.
    other = post(second, {"title": "pay rent twice"}, key)
    assert other.status_code == 422 and "Idempotency-Key" in other.text
    # Another caller's key space is its own.
    bobs = post(first, {"title": "pay rent"}, key, who=BOB)
    assert bobs.status_code == 201 and bobs.json()["task"]["id"] != made.json()["task"]["id"]
    assert count(first) == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "with space", "tab\there", "naïve"])
def test_malformed_keys_are_refused_and_change_nothing(start_service, key):
    svc = start_service("task-manager")
    r = requests.post(svc.url + "/api/v1/tasks", json={"title": "t"},
                      headers={**ALICE, "Idempotency-Key": key.encode("utf-8")})
    assert r.status_code == 400, r.text
    assert r.headers["Content-Type"] == "application/problem+json"
    assert count(svc.url) == 0


def test_concurrent_retries_make_one_task(replicas):
    key = str(uuid.uuid4())
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: post(replicas[i % 2], {"title": "once"}, key), range(16)))
    made = {a.json()["task"]["id"] for a in answers if a.status_code == 201}
    assert len(made) == 1
    assert {a.status_code for a in answers} <= {201, 409}
    assert all(a.headers.get("Retry-After") == "1" for a in answers if a.status_code == 409)
    assert count(replicas[0]) == 1


def test_without_its_store_a_keyed_post_is_refused_and_an_unkeyed_one_served(start_service,
                                                                              redis_server):
    svc = start_service("task-manager", REDIS_URL=redis_server.url)
    redis_server.kill()
    r = post(svc.url, {"title": "t"}, str(uuid.uuid4()))
    assert r.status_code == 503 and r.headers["Retry-After"] == "1", r.text
    assert count(svc.url) == 0
    r = requests.post(svc.url + "/api/v1/tasks", json={"title": "t"}, headers=ALICE)
    assert r.status_code == 201
