"""The Task Manager (seed 000 §4.2.3) over real HTTP, as a client of the service would use it."""
import pytest
import requests as plain_requests

from conftest import AUTH_LINE, authed as requests, make_token, raw_request, status_of

API = "/api/v1/tasks"


def create(svc, **fields):
    body = {"title": "Write the report", **fields}
    r = requests.post(svc.url + API, json=body)
    assert r.status_code == 201, r.text
    return r.json()


def assert_problem(r, status, field=None):
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status
    assert body["title"] and body["detail"]
    assert body["request_id"] == r.headers["X-Request-ID"]
    if field is not None:
        assert body["errors"][0]["field"] == field, body
    return body


def test_create_returns_id_and_task(task_manager):
    out = create(task_manager, description="quarterly", priority="high", category="work",
                 due_date="2025-12-01T09:00:00Z")
    task = out["task"]
    assert out["id"] == task["id"]
    assert len(task["id"]) == 36
    assert task["title"] == "Write the report"
    assert task["description"] == "quarterly"
    assert task["priority"] == "high"
    assert task["category"] == "work"
    assert task["status"] == "pending"
    assert task["due_date"] == "2025-12-01T09:00:00Z"
    assert task["created_at"].endswith("Z") and task["completed_at"] is None


def test_create_defaults(task_manager):
    task = create(task_manager)["task"]
    assert task["priority"] == "medium"
    assert task["description"] == ""
    assert task["category"] is None and task["due_date"] is None


def test_get_update_complete_delete(task_manager):
    url = task_manager.url + API + "/" + create(task_manager)["id"]
    r = requests.get(url)
    assert r.status_code == 200 and r.json()["task"]["title"] == "Write the report"

    r = requests.put(url, json={"title": "Rewrite", "status": "in_progress", "priority": "urgent"})
    assert r.status_code == 200, r.text
    task = r.json()["task"]
    assert (task["title"], task["status"], task["priority"]) == ("Rewrite", "in_progress", "urgent")
    assert task["updated_at"] >= task["created_at"]

    r = requests.post(url + "/complete")
    assert r.status_code == 200
    done = r.json()["task"]
    assert done["status"] == "completed" and done["completed_at"]
    again = requests.post(url + "/complete").json()["task"]
    assert again["completed_at"] == done["completed_at"]  # completing twice changes nothing

    reopened = requests.put(url, json={"status": "pending"}).json()["task"]
    assert reopened["completed_at"] is None

    r = requests.delete(url)
    assert r.status_code == 200 and r.json() == {"success": True}
    assert_problem(requests.get(url), 404)
    assert_problem(requests.delete(url), 404)


@pytest.mark.parametrize("cache_entries", ["10000", "0"])
def test_reads_see_every_write(start_service, cache_entries):
    """Reads by id may come from the task cache; each write must show in the next read."""
    svc = start_service("task-manager", TASK_CACHE_ENTRIES=cache_entries)
    url = svc.url + API + "/" + create(svc, title="first")["id"]
    for _ in range(3):  # read repeatedly: the later reads are cache hits
        assert requests.get(url).json()["task"]["title"] == "first"
    requests.put(url, json={"title": "second"})
    assert requests.get(url).json()["task"]["title"] == "second"
    requests.post(url + "/complete")
    assert requests.get(url).json()["task"]["status"] == "completed"
    requests.put(url, json={"status": "pending"})
    assert requests.get(url).json()["task"]["completed_at"] is None
    requests.delete(url)
    assert requests.get(url).status_code == 404


def test_unknown_id_is_404_everywhere(task_manager):
    url = task_manager.url + API + "/no-such-task"
    assert_problem(requests.get(url), 404)
    assert_problem(requests.put(url, json={"title": "x"}), 404)
    assert_problem(requests.delete(url), 404)
    assert_problem(requests.post(url + "/complete"), 404)


def test_list_filters_and_pages(task_manager):
    for i in range(7):
        create(task_manager, title=f"t{i}", priority="high" if i % 2 else "low",
               category="home" if i < 3 else "work")
    r = requests.get(task_manager.url + API, params={"limit": 3, "page": 1})
    body = r.json()
    assert r.status_code == 200
    assert body["total"] == 7 and body["page"] == 1 and len(body["tasks"]) == 3
    page3 = requests.get(task_manager.url + API, params={"limit": 3, "page": 3}).json()
    assert len(page3["tasks"]) == 1
    seen = {t["id"] for p in (1, 2, 3)
            for t in requests.get(task_manager.url + API, params={"limit": 3, "page": p}).json()["tasks"]}
    assert len(seen) == 7  # pages do not overlap

    high = requests.get(task_manager.url + API, params={"priority": "high"}).json()
    assert high["total"] == 3 and all(t["priority"] == "high" for t in high["tasks"])
    home_low = requests.get(task_manager.url + API, params={"category": "home", "priority": "low"}).json()
    assert home_low["total"] == 2
    assert requests.get(task_manager.url + API, params={"status": "completed"}).json()["total"] == 0
    empty = requests.get(task_manager.url + API, params={"page": 99}).json()
    assert empty["tasks"] == [] and empty["total"] == 7


def test_stats(task_manager):
    ids = [create(task_manager, priority=p)["id"] for p in ("low", "high", "high", "urgent")]
    requests.post(task_manager.url + API + "/" + ids[0] + "/complete")
    requests.put(task_manager.url + API + "/" + ids[1], json={"status": "in_progress"})
    s = requests.get(task_manager.url + API + "/stats").json()
    assert s["total"] == 4
    assert s["by_status"] == {"pending": 2, "in_progress": 1, "completed": 1}
    assert s["by_priority"] == {"low": 1, "medium": 0, "high": 2, "urgent": 1}
    assert s["completion_rate"] == 0.25


def test_stats_when_empty(task_manager):
    s = requests.get(task_manager.url + API + "/stats").json()
    assert s["total"] == 0 and s["completion_rate"] == 0


def test_validation_names_the_field(task_manager):
    url = task_manager.url + API
    cases = [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": 5}, "title"),
        ({"title": ["a"]}, "title"),
        ({"title": "ok", "priority": "critical"}, "priority"),
        ({"title": "ok", "priority": 3}, "priority"),
        ({"title": "ok", "status": "done"}, "status"),
        ({"title": "ok", "due_date": "next tuesday"}, "due_date"),
        ({"title": "ok", "due_date": "2025-02-30"}, "due_date"),
        ({"title": "ok", "description": {"a": 1}}, "description"),
        ({"title": "ok", "category": "c" * 101}, "category"),
    ]
    for body, field in cases:
        assert_problem(requests.post(url, json=body), 422, field)
    assert_problem(requests.post(url, json=[1, 2]), 422, "body")
    assert requests.post(url, json={"title": "x" * 200}).status_code == 201  # the limit itself is fine
    assert requests.get(url).json()["total"] == 1  # nothing invalid was stored


def test_update_validation(task_manager):
    url = task_manager.url + API + "/" + create(task_manager)["id"]
    assert_problem(requests.put(url, json={"status": "archived"}), 422, "status")
    assert_problem(requests.put(url, json={"title": ""}), 422, "title")
    assert_problem(requests.put(url, json={"priority": None, "due_date": "yesterday"}), 422, "due_date")
    assert requests.get(url).json()["task"]["title"] == "Write the report"  # unchanged


def test_query_validation(task_manager):
    url = task_manager.url + API
    assert_problem(requests.get(url, params={"limit": 0}), 422, "limit")
    assert_problem(requests.get(url, params={"limit": 101}), 422, "limit")
    assert_problem(requests.get(url, params={"limit": "ten"}), 422, "limit")
    assert_problem(requests.get(url, params={"page": 0}), 422, "page")
    assert_problem(requests.get(url, params={"status": "done"}), 422, "status")
    assert_problem(requests.get(url, params={"priority": "HIGH"}), 422, "priority")
    raw = raw_request(task_manager.port, b"GET /api/v1/tasks?limit=%zz HTTP/1.1\r\nHost: x\r\n" + AUTH_LINE + b"Connection: close\r\n\r\n")
    assert status_of(raw) == 400 and b"application/problem+json" in raw


def test_malformed_json_and_wrong_content_type(task_manager):
    url = task_manager.url + API
    assert_problem(requests.post(url, data="{not json", headers={"Content-Type": "application/json"}), 400)
    assert_problem(requests.post(url, data='{"title": "x"}', headers={"Content-Type": "text/plain"}), 415)
    assert_problem(requests.post(url, data='{"title": "x"}'), 415)
    assert requests.get(url).json()["total"] == 0


def test_unknown_route_and_method(task_manager):
    assert_problem(requests.get(task_manager.url + "/api/v1/nothing"), 404)
    r = requests.patch(task_manager.url + API + "/abc", json={})
    assert_problem(r, 405)
    assert r.headers["Allow"] == "GET, HEAD, PUT, DELETE"


def test_head_request_has_no_body(task_manager):
    r = requests.head(task_manager.url + API)
    assert r.status_code == 200
    assert r.content == b""
    assert int(r.headers["Content-Length"]) > 0


def test_hostile_strings_are_stored_verbatim(task_manager):
    hostile = "'); DROP TABLE tasks; -- \u202e <script>alert(1)</script> ✓"
    out = create(task_manager, title=hostile, category="x' OR '1'='1")
    got = requests.get(task_manager.url + API + "/" + out["id"]).json()["task"]
    assert got["title"] == hostile
    assert requests.get(task_manager.url + API, params={"category": "x' OR '1'='1"}).json()["total"] == 1
    assert requests.get(task_manager.url + API + "/" + "' OR 1=1 --").status_code == 404


def test_data_survives_a_restart(start_service, tmp_path):
    first = start_service("task-manager")
    task_id = create(first, title="durable")["id"]
    assert first.stop() == 0
    second = start_service("task-manager")
    r = requests.get(second.url + API + "/" + task_id)
    assert r.status_code == 200 and r.json()["task"]["title"] == "durable"
    assert (tmp_path / "data" / "task-manager.db").exists()


def test_tasks_created_metric_counts_by_priority(task_manager):
    create(task_manager, priority="high")
    create(task_manager, priority="high")
    create(task_manager, priority="low")
    text = requests.get(task_manager.url + "/metrics").text
    assert 'tasks_created_total{priority="high"} 2' in text
    assert 'tasks_created_total{priority="low"} 1' in text


def test_tasks_need_a_token_and_the_right_permission(task_manager):
    url = task_manager.url + API
    r = plain_requests.get(url)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    assert r.headers["Content-Type"] == "application/problem+json"
    for bad in ["nope", make_token(token_type="refresh"), make_token(secret="another-secret-" * 4),
                make_token(ttl=-120)]:
        r = plain_requests.get(url, headers={"Authorization": f"Bearer {bad}"})
        assert r.status_code == 401 and r.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    guest = {"Authorization": "Bearer " + make_token(roles=["guest"])}
    assert plain_requests.get(url, headers=guest).status_code == 200       # tasks:read
    r = plain_requests.post(url, json={"title": "t"}, headers=guest)         # no tasks:write
    assert r.status_code == 403
    assert r.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope", scope="tasks:write"'
    # A permission carried in the token is enough on its own.
    writer = {"Authorization": "Bearer " + make_token(sub="carrier", roles=[], permissions=["tasks:write"])}
    r = plain_requests.post(url, json={"title": "t"}, headers=writer)
    assert r.status_code == 201 and r.json()["task"]["created_by"] == "carrier"
    assert plain_requests.get(url, headers=writer).status_code == 403       # but not tasks:read


def test_a_token_from_the_security_service_works_here(start_service):
    security = start_service("security", SECURITY_ADMIN_EMAIL="a@example.com",
                             SECURITY_ADMIN_PASSWORD="admin-password", SECURITY_BCRYPT_COST="4")
    tasks = start_service("task-manager")
    login = plain_requests.post(security.url + "/api/v1/auth/login",
                                json={"email": "a@example.com", "password": "admin-password"}).json()
    headers = {"Authorization": "Bearer " + login["access_token"]}
    r = plain_requests.post(tasks.url + API, json={"title": "from a real login"}, headers=headers)
    assert r.status_code == 201 and r.json()["task"]["created_by"] == login["user"]["id"]
    refresh = {"Authorization": "Bearer " + login["refresh_token"]}
    assert plain_requests.get(tasks.url + API, headers=refresh).status_code == 401
