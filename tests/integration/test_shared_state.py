"""State every replica shares through svckit::kv on a real Redis (REDIS_URL): the gateway's rate
limits across two replicas, and what each use does while Redis is away (docs/kv.md): general
limits let requests through and count it, login throttles fall back to each replica's own,
readiness reports Redis without going DOWN, nothing hangs, and all of it comes back by itself."""
import concurrent.futures
import time

import jwt
import pytest
import requests

from conftest import TEST_JWT_SECRET
from test_gateway import Recorder, routes_file


@pytest.fixture
def upstream():
    r = Recorder()
    yield r
    r.shutdown()
    r.server_close()


def two_gateways(start_service, tmp_path, upstream, redis_server, per_minute):
    upstreams = {"echo": {"targets": [upstream.url]}}
    routes = [{"name": "limited", "paths": ["/limited"], "upstream": "echo", "auth": "public",
               "rate_limit": {"minute": per_minute, "by": "ip"}}]
    path = routes_file(tmp_path, upstreams, routes)
    return [start_service("gateway", GATEWAY_ROUTES=path, REDIS_URL=redis_server.url,
                          DATA_DIR=tmp_path / f"gw{i}") for i in range(2)]


def burst(urls, count, threads=8):
    """`count` GETs spread over `urls` in turn; their statuses and how long they took."""
    def one(i):
        with requests.Session() as s:
            statuses = []
            for j in range(i, count, threads):
                started = time.monotonic()
                statuses.append((s.get(urls[j % len(urls)] + "/limited", timeout=10).status_code,
                                 time.monotonic() - started))
            return statuses

    began = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        results = [x for part in pool.map(one, range(threads)) for x in part]
    return results, time.monotonic() - began


def test_two_gateway_replicas_allow_the_configured_rate_together(start_service, tmp_path, upstream,
                                                                   redis_server):
    per_minute = 600
    gateways = two_gateways(start_service, tmp_path, upstream, redis_server, per_minute)
    results, elapsed = burst([g.url for g in gateways], 1500)
    allowed = sum(1 for status, _ in results if status == 200)
    assert {status for status, _ in results} == {200, 429}
    # A full bucket, plus what refills while the burst lasts (10 a second).
    expected = per_minute + elapsed * per_minute / 60
    print(f"two replicas allowed {allowed} of {len(results)} in {elapsed:.2f} s; a full bucket plus the refill: {expected:.1f}")
    assert abs(allowed - expected) <= 0.01 * expected + 1, (allowed, expected, elapsed)
    # Each replica alone would have let a full bucket through: together, not twice as many.
    assert allowed < 1.5 * per_minute


def metric(svc, name):
    text = requests.get(svc.metrics_url, timeout=5).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and not line.startswith("#"))


def test_while_redis_is_away_limits_fail_open_and_come_back(start_service, tmp_path, upstream,
                                                            redis_server):
    gateways = two_gateways(start_service, tmp_path, upstream, redis_server, per_minute=20)
    urls = [g.url for g in gateways]
    # Under the limit (a client refused before the outage stays refused until its bucket would
    # have room: that is remembered, not asked).
    results, _ = burst(urls, 10)
    assert {s for s, _ in results} == {200}

    redis_server.kill()
    results, _ = burst(urls, 200)
    assert {s for s, _ in results} == {200}, "a general limit lets requests through, never a 500"
    assert max(t for _, t in results) < 1.5, "no request waits for Redis past its timeout"
    for g in gateways:
        assert metric(g, "rate_limit_store_unavailable_total") > 0
        ready = requests.get(g.url + "/ready")
        assert ready.status_code == 200, ready.text  # Redis is reported, not required
        assert ready.json()["checks"]["kv"]["status"] == "DOWN"

    redis_server.start(wipe=False)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        results, _ = burst(urls, 40)
        if any(s == 429 for s, _ in results):
            break
        time.sleep(0.3)
    assert any(s == 429 for s, _ in results), "the shared limit applies again once Redis is back"
    # Readiness pings from its own connection, which retries after its backoff (at most 5 s).
    def kv_up():
        return all(requests.get(g.url + "/ready").json()["checks"]["kv"]["status"] == "UP"
                   for g in gateways)
    deadline = time.monotonic() + 10
    while not kv_up() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert kv_up()


def test_login_throttles_fall_back_to_each_replica_when_redis_is_away(start_service, redis_server):
    env = dict(REDIS_URL=redis_server.url, SECURITY_LOGIN_LIMIT="3", SECURITY_BCRYPT_COST="4",
               JWT_SECRET_KEY=TEST_JWT_SECRET)
    security = start_service("security", **env)

    def attempts(n):
        return [requests.post(security.url + "/api/v1/auth/login",
                              json={"email": "nobody@example.com", "password": "wrong-password"},
                              timeout=10).status_code for _ in range(n)]

    assert attempts(2) == [401, 401]
    redis_server.kill()
    # The bucket in Redis is out of reach; this replica's own takes over: never no limit.
    assert attempts(5) == [401, 401, 401, 429, 429]


def until_refused(urls, token, limit=5.0):
    """Seconds until every one of `urls` refuses `token` (401), polling."""
    began = time.monotonic()
    pending = set(urls)
    while pending and time.monotonic() - began < limit:
        for url in list(pending):
            r = requests.get(url + "/api/v1/tasks", headers={"Authorization": "Bearer " + token})
            if r.status_code == 401:
                assert "revoked" in r.text, r.text
                pending.discard(url)
        time.sleep(0.01)
    assert not pending, f"still accepted after {limit} s by {pending}"
    return time.monotonic() - began


def test_a_logout_reaches_every_replica_within_a_second(start_service, tmp_path, redis_server):
    admin = ("admin@example.com", "admin-password-1")
    security = start_service("security", REDIS_URL=redis_server.url, SECURITY_ADMIN_EMAIL=admin[0],
                             SECURITY_ADMIN_PASSWORD=admin[1], SECURITY_BCRYPT_COST="4")
    replicas = [start_service("task-manager", REDIS_URL=redis_server.url, DATA_DIR=tmp_path / f"t{i}")
                for i in range(2)]
    urls = [r.url for r in replicas]

    def login():
        r = requests.post(security.url + "/api/v1/auth/login", json={"email": admin[0], "password": admin[1]})
        assert r.status_code == 200, r.text
        return r.json()

    first, second = login(), login()
    for url in urls:
        for tokens in (first, second):
            r = requests.get(url + "/api/v1/tasks", headers={"Authorization": "Bearer " + tokens["access_token"]})
            assert r.status_code == 200, r.text

    r = requests.post(security.url + "/api/v1/auth/logout", json={"refresh_token": first["refresh_token"]},
                      headers={"Authorization": "Bearer " + first["access_token"]})
    assert r.status_code == 200, r.text
    assert until_refused(urls, first["access_token"]) < 1.0
    assert requests.post(security.url + "/api/v1/auth/validate",
                         json={"token": first["access_token"]}).json()["valid"] is False
    for url in urls:  # the other session is untouched
        r = requests.get(url + "/api/v1/tasks", headers={"Authorization": "Bearer " + second["access_token"]})
        assert r.status_code == 200

    # A replica that missed the announcement (its subscription cut) loads the list when it is
    # subscribed again: here the revocation is written without any announcement at all.
    claims = jwt.decode(second["access_token"], options={"verify_signature": False})
    redis_server.cli("CLIENT", "KILL", "TYPE", "pubsub")
    redis_server.cli("ZADD", "svckit:revoked", str(claims["exp"] * 1000), claims["jti"])
    assert until_refused(urls, second["access_token"]) < 3.0
