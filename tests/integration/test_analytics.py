"""The Analytics service: events from the Task Manager over the in-process bus (both in the
`aether` local system), events posted by clients, usage buckets, error analytics, host health."""
import time

import pytest
import requests

from conftest import make_token

ADMIN = {"Authorization": "Bearer " + make_token(sub="admin-1", roles=("admin",))}
DEVELOPER = {"Authorization": "Bearer " + make_token(sub="dev-1", roles=("developer",))}
GUEST = {"Authorization": "Bearer " + make_token(sub="guest-1", roles=("guest",))}
A = "/api/v1/analytics"


def usage(svc, **params):
    r = requests.get(svc.url + A + "/usage", params=params, headers=DEVELOPER, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()["usage"]


def counts(svc, **params):
    out = {}
    for row in usage(svc, **params):
        out[row["metric"]] = out.get(row["metric"], 0) + row["count"]
    return out


def test_task_events_reach_analytics_in_the_local_system(start_service):
    svc = start_service("aether", SECURITY_ADMIN_EMAIL="a@b.c", SECURITY_ADMIN_PASSWORD="admin-password-1")
    ids = []
    for i in range(3):
        r = requests.post(svc.url + "/api/v1/tasks", json={"title": f"t{i}"}, headers=ADMIN, timeout=5)
        assert r.status_code == 201
        ids.append(r.json()["id"])
    assert requests.post(f"{svc.url}/api/v1/tasks/{ids[0]}/complete", headers=ADMIN).status_code == 200
    assert requests.put(f"{svc.url}/api/v1/tasks/{ids[1]}", json={"priority": "high"}, headers=ADMIN).status_code == 200
    assert requests.delete(f"{svc.url}/api/v1/tasks/{ids[2]}", headers=ADMIN).status_code == 200
    deadline = time.monotonic() + 5
    while counts(svc) != {"task.created": 3, "task.completed": 1, "task.updated": 1, "task.deleted": 1}:
        assert time.monotonic() < deadline, counts(svc)
        time.sleep(0.05)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    rows = usage(svc, granularity="day", start_date=today, end_date=today)
    assert {"timestamp": today + "T00:00:00Z", "count": 3, "metric": "task.created"} in rows
    assert counts(svc, end_date="2000-01-01") == {}
    metrics = requests.get(svc.url + "/metrics").text
    assert 'bus_messages_published_total{type="task.created"} 3' in metrics
    assert 'bus_messages_consumed_total{group="analytics",outcome="success",type="task.created"} 3' in metrics


@pytest.fixture
def analytics(start_service, database_url):
    return start_service("analytics", **database_url)


def test_posted_events_and_granularities(analytics):
    for ts in ("2025-03-03T10:15:00Z", "2025-03-03T10:45:00.5Z", "2025-03-04T09:00:00+00:00", "2025-03-20T00:00:00Z"):
        r = requests.post(analytics.url + A + "/events", headers=DEVELOPER, timeout=5,
                          json={"event_type": "page.view", "user_id": "u1", "metadata": {"page": "/"}, "timestamp": ts})
        assert r.status_code == 201 and r.json() == {"success": True}
    window = dict(start_date="2025-03-01", end_date="2025-03-31")
    assert [(r["timestamp"], r["count"]) for r in usage(analytics, granularity="hour", **window)] == [
        ("2025-03-03T10:00:00Z", 2), ("2025-03-04T09:00:00Z", 1), ("2025-03-20T00:00:00Z", 1)]
    assert [(r["timestamp"], r["count"]) for r in usage(analytics, granularity="day", **window)] == [
        ("2025-03-03T00:00:00Z", 2), ("2025-03-04T00:00:00Z", 1), ("2025-03-20T00:00:00Z", 1)]
    # 2025-03-03 is a Monday: weeks start on Mondays.
    assert [(r["timestamp"], r["count"]) for r in usage(analytics, granularity="week", **window)] == [
        ("2025-03-03T00:00:00Z", 3), ("2025-03-17T00:00:00Z", 1)]
    assert [(r["timestamp"], r["count"]) for r in usage(analytics, granularity="month", **window)] == [
        ("2025-03-01T00:00:00Z", 4)]
    assert usage(analytics, start_date="2025-03-04", end_date="2025-03-04")[0]["count"] == 1


def test_error_analytics(analytics):
    post = lambda body: requests.post(analytics.url + A + "/events", json=body, headers=DEVELOPER, timeout=5)
    post({"event_type": "ai.request.failed", "metadata": {"model": "local"}})
    post({"event_type": "payment.error", "metadata": {"severity": "critical"}})
    post({"event_type": "page.view"})
    r = requests.get(analytics.url + A + "/errors", headers=DEVELOPER, timeout=5).json()
    assert r["summary"]["total"] == 2
    assert r["summary"]["by_severity"] == {"error": 1, "critical": 1}
    assert {e["event_type"] for e in r["errors"]} == {"ai.request.failed", "payment.error"}
    critical = requests.get(analytics.url + A + "/errors", params={"severity": "critical"}, headers=DEVELOPER).json()
    assert [e["event_type"] for e in critical["errors"]] == ["payment.error"]


def test_health_reports_the_host_and_probes_services(start_service):
    tm = start_service("task-manager")
    svc = start_service("analytics", ANALYTICS_SERVICES=f"task-manager={tm.url},gone=http://127.0.0.1:1")
    r = requests.get(svc.url + A + "/health", headers=DEVELOPER, timeout=10).json()
    assert r["status"] == "DEGRADED"
    assert all(0 <= r["metrics"][k] <= 100 for k in ("cpu", "memory", "disk"))
    by_name = {s["name"]: s for s in r["services"]}
    assert by_name["task-manager"]["status"] == "UP" and by_name["task-manager"]["latency_ms"] >= 0
    assert by_name["gone"]["status"] == "DOWN"


def test_bad_input_is_refused_and_nothing_is_stored(analytics):
    url = analytics.url + A + "/events"
    for body, field in [({}, "event_type"), ({"event_type": 5}, "event_type"), ({"event_type": "Bad Type"}, "event_type"),
                        ({"event_type": "a", "timestamp": "yesterday"}, "timestamp"),
                        ({"event_type": "a", "timestamp": "2025-13-01T00:00:00Z"}, "timestamp"),
                        ({"event_type": "a", "timestamp": "2025-01-01T00:00:00+02:00"}, "timestamp"),
                        ({"event_type": "a", "metadata": [1]}, "metadata"),
                        ({"event_type": "a", "metadata": {"x": "y" * 20000}}, "metadata")]:
        r = requests.post(url, json=body, headers=DEVELOPER, timeout=5)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["errors"][0]["field"] == field
    assert requests.post(url, data="{", headers={**DEVELOPER, "Content-Type": "application/json"}).status_code == 400
    assert requests.post(url, json={"event_type": "a"}).status_code == 401
    for params in [{"granularity": "year"}, {"start_date": "2025-02-30x"}, {"start_date": "2025-03-02", "end_date": "2025-03-01"}]:
        assert requests.get(analytics.url + A + "/usage", params=params, headers=DEVELOPER).status_code == 422, params
    assert requests.get(analytics.url + A + "/errors", params={"severity": "meh"}, headers=DEVELOPER).status_code == 422
    assert requests.get(analytics.url + A + "/usage", headers=GUEST).status_code == 403
    assert usage(analytics) == []


def published(svc, event_type):
    for line in requests.get(svc.url + "/metrics").text.splitlines():
        if line.startswith(f'bus_messages_published_total{{type="{event_type}"}}'):
            return float(line.split()[-1])
    return 0.0


def test_reports_per_day_and_week_reach_their_recipients_through_notification(start_service, tmp_path):
    """In Raptorflow's local system: Analytics records any system's events, makes a report per
    day and week (once), publishes analytics.report.ready and analytics.metric.recorded, and the
    Notification Service delivers the report to ANALYTICS_REPORT_RECIPIENTS."""
    svc = start_service("raptorflow", DATA_DIR=tmp_path / "rf", ANALYTICS_REPORT_RECIPIENTS="ann",
                        ANALYTICS_REPORT_POLL="200ms", NOTIFY_LINK_SECRET="l" * 32)
    for ts, kind, user in (("2026-11-16T10:00:00Z", "agent.run.completed", "ann"),
                           ("2026-11-16T11:00:00Z", "agent.run.completed", "bo"),
                           ("2026-11-16T12:00:00Z", "agent.run.failed", "bo"),
                           ("2026-11-17T09:00:00Z", "page.view", "cy"),
                           ("2026-11-24T09:00:00Z", "page.view", "cy")):
        r = requests.post(svc.url + A + "/events", headers=DEVELOPER,
                          json={"event_type": kind, "user_id": user, "timestamp": ts})
        assert r.status_code == 201, r.text
    before = published(svc, "analytics.metric.recorded")
    day = requests.post(svc.url + A + "/reports", headers=ADMIN, json={"period": "day", "start": "2026-11-16"})
    assert day.status_code == 201, day.text
    body = day.json()
    assert (body["events"], body["errors"], body["active_users"]) == (3, 1, 2)
    assert body["by_type"] == {"agent.run.completed": 2, "agent.run.failed": 1}
    assert body["start"] == "2026-11-16T00:00:00.000Z" and body["end"] == "2026-11-17T00:00:00.000Z"
    again = requests.post(svc.url + A + "/reports", headers=ADMIN, json={"period": "day", "start": "2026-11-16"})
    assert again.status_code == 200 and again.json()["events"] == 3  # made once
    week = requests.post(svc.url + A + "/reports", headers=ADMIN, json={"period": "week", "start": "2026-11-16"})
    assert week.status_code == 201 and week.json()["events"] == 4, week.text  # not the 24th's
    deadline = time.monotonic() + 5
    while published(svc, "analytics.metric.recorded") < before + 6:  # three figures a report
        assert time.monotonic() < deadline
        time.sleep(0.05)

    # Delivered through the Notification Service to the recipient.
    ann = {"Authorization": "Bearer " + make_token(sub="ann")}
    deadline = time.monotonic() + 5
    while True:
        titles = [n["title"] for n in requests.get(svc.url + "/api/v1/notifications", headers=ann).json()["notifications"]
                  if n["type"] == "analytics.report.ready"]
        if {"Daily report from 2026-11-16", "Weekly report from 2026-11-16"} <= set(titles):
            break
        assert time.monotonic() < deadline, titles
        time.sleep(0.05)

    # The scheduler made the last complete day's and week's reports by itself.
    listed = requests.get(svc.url + A + "/reports?period=day", headers=DEVELOPER).json()["reports"]
    yesterday = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))
    assert any(r["start"].startswith(yesterday) for r in listed), listed
    assert requests.get(svc.url + A + "/reports?period=week", headers=DEVELOPER).json()["reports"]

    for bad in ({"period": "week", "start": "2026-11-17"},      # a Tuesday
                {"period": "day", "start": "2999-01-01"},       # not over
                {"period": "month", "start": "2026-11-01"},
                {"period": "day", "start": "2026-02-30"},
                {"period": "day", "start": "30/11/2026"}):
        r = requests.post(svc.url + A + "/reports", headers=ADMIN, json=bad)
        assert r.status_code == 422, (bad, r.text)
    assert requests.post(svc.url + A + "/reports", headers=DEVELOPER,
                         json={"period": "day", "start": "2026-11-16"}).status_code == 403
    assert requests.get(svc.url + A + "/reports?period=year", headers=DEVELOPER).status_code == 422


def test_metrics_are_recorded_and_published(analytics):
    before = published(analytics, "analytics.metric.recorded")
    r = requests.post(analytics.url + A + "/metrics", headers=DEVELOPER,
                      json={"metric_name": "checkout.latency_ms", "value": 41.5, "tags": {"region": "eu"}})
    assert r.status_code == 201, r.text
    assert counts(analytics).get("analytics.metric.recorded") == 1
    deadline = time.monotonic() + 5
    while published(analytics, "analytics.metric.recorded") < before + 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    for bad in ({"metric_name": "x y", "value": 1}, {"metric_name": "x", "value": "1"},
                {"metric_name": "x", "value": 1, "tags": {"a": 1}}, {"value": 1}):
        assert requests.post(analytics.url + A + "/metrics", headers=DEVELOPER, json=bad).status_code == 422, bad
    assert counts(analytics).get("analytics.metric.recorded") == 1
