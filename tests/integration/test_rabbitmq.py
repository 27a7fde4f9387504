"""The bus over a real RabbitMQ (Debian's rabbitmq-server, started here on loopback): services in
separate processes, the monolith's pika client on the other end, and the faults the issue names —
a broker restart under load, a consumer killed mid-batch, a poison message."""
import json
import os
import shutil
import tempfile
import pathlib
import subprocess
import sys
import time
import uuid

import pika
import pytest
import requests

from conftest import BIN_DIR, make_token

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "support"))
from rabbitmq_broker import Broker  # noqa: E402
from waiting import until  # noqa: E402

ADMIN = {"Authorization": "Bearer " + make_token(sub="admin-1", roles=("admin",))}
DEVELOPER = {"Authorization": "Bearer " + make_token(sub="dev-1", roles=("developer",))}
EXCHANGE = "svckit.events"


@pytest.fixture(scope="module")
def broker():
    base = tempfile.mkdtemp(prefix="svckit-rabbitmq-")  # pytest's tmp dirs are closed to the rabbitmq user
    os.chmod(base, 0o755)
    b = Broker(base, 5685).start()
    yield b
    b.stop()
    shutil.rmtree(base, ignore_errors=True)




def usage_counts(svc):
    r = requests.get(svc.url + "/api/v1/analytics/usage", headers=DEVELOPER, timeout=5)
    assert r.status_code == 200, r.text
    out = {}
    for row in r.json()["usage"]:
        out[row["metric"]] = out.get(row["metric"], 0) + row["count"]
    return out


def handled(worker):
    return requests.get(worker.url + "/api/v1/worker/handled", timeout=5).json()


def pika_channel(broker):
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    return connection, connection.channel()


def delete_queues(broker, *groups):
    """Tests share one broker: each starts without the queues (and what they hold) it uses."""
    connection, channel = pika_channel(broker)
    for g in groups:
        channel.queue_delete(g)
        channel.queue_delete(g + ".dlq")
    connection.close()


def dlq(broker, *args):
    return subprocess.run([str(BIN_DIR / "svckit-dlq"), "--bus", broker.url, *args],
                          capture_output=True, text=True, timeout=60)


def test_tasks_created_in_the_task_manager_appear_in_analytics_usage(start_service, broker, tmp_path):
    delete_queues(broker, "analytics")
    analytics = start_service("analytics", BUS_URL=broker.url, DATA_DIR=tmp_path / "a")
    tasks = start_service("task-manager", BUS_URL=broker.url, DATA_DIR=tmp_path / "t")
    ready = requests.get(analytics.url + "/ready", timeout=5).json()
    assert ready["checks"]["bus"]["status"] == "UP", ready
    for i in range(5):
        r = requests.post(tasks.url + "/api/v1/tasks", json={"title": f"t{i}"}, headers=ADMIN, timeout=5)
        assert r.status_code == 201, r.text
    until(lambda: usage_counts(analytics).get("task.created") == 5, what="5 task.created in usage")
    # The broker hands an event to its consumer and its confirm to the publisher at once: the
    # confirm may be counted a moment after Analytics has the event.
    confirmed = 'bus_messages_confirmed_total{type="task.created"} 5'
    metrics = until(lambda: (lambda text: text if confirmed in text else None)(
        requests.get(tasks.url + "/metrics", timeout=5).text), what="5 confirms counted")
    assert 'bus_connected{backend="amqp"} 1' in metrics


def test_svckit_events_reach_pika_with_every_cloudevents_attribute(start_service, broker, tmp_path):
    connection, channel = pika_channel(broker)
    channel.exchange_declare(EXCHANGE, "topic", durable=True)
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(queue, EXCHANGE, "task.#")
    tasks = start_service("task-manager", BUS_URL=broker.url, DATA_DIR=tmp_path / "t")
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    r = requests.post(tasks.url + "/api/v1/tasks", json={"title": "from svckit", "priority": "high"},
                      headers={**ADMIN, "X-Request-ID": "req-pika-1", "traceparent": traceparent}, timeout=5)
    assert r.status_code == 201
    method, properties, body = _first_message(channel, queue)
    h = properties.headers
    assert h["cloudEvents:specversion"] == "1.0"
    assert h["cloudEvents:type"] == "task.created" == method.routing_key
    assert h["cloudEvents:source"] == "task-manager"
    assert len(h["cloudEvents:id"]) == 36 and properties.message_id == h["cloudEvents:id"]
    assert h["cloudEvents:time"].endswith("Z")
    assert h["cloudEvents:requestid"] == "req-pika-1"
    assert h["cloudEvents:traceparent"].startswith("00-0af7651916cd43dd8448eb211c80319c-")
    assert properties.content_type == "application/json"
    assert properties.delivery_mode == 2
    data = json.loads(body)
    assert data["task_id"] == r.json()["id"] and data["title"] == "from svckit"
    connection.close()


def _first_message(channel, queue, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method:
            return method, properties, body
        time.sleep(0.05)
    raise AssertionError("no message reached pika")


def test_pika_events_in_every_form_reach_svckit_and_garbage_is_dead_lettered(start_service, broker, tmp_path):
    delete_queues(broker, "analytics")
    analytics = start_service("analytics", BUS_URL=broker.url, DATA_DIR=tmp_path / "a")
    connection, channel = pika_channel(broker)
    channel.confirm_delivery()
    # Binary mode, as a CloudEvents SDK sends it.
    channel.basic_publish(EXCHANGE, "ai.request.completed", json.dumps({"model": "gpt-4", "tokens": 12}),
                          pika.BasicProperties(content_type="application/json", delivery_mode=2, headers={
                              "cloudEvents:specversion": "1.0", "cloudEvents:id": str(uuid.uuid4()),
                              "cloudEvents:source": "monolith", "cloudEvents:type": "ai.request.completed"}))
    # Structured mode.
    channel.basic_publish(EXCHANGE, "integration.synced", json.dumps({
        "specversion": "1.0", "id": str(uuid.uuid4()), "source": "monolith", "type": "integration.synced",
        "data": {"provider": "github"}}), pika.BasicProperties(content_type="application/cloudevents+json"))
    # What the monolith's MessageBus.publish (seed 002 §3.2) sends today: bare JSON.
    channel.basic_publish(EXCHANGE, "task.created", json.dumps({"task_id": "legacy-1", "title": "old"}),
                          pika.BasicProperties(delivery_mode=2, content_type="application/json"))
    until(lambda: usage_counts(analytics) == {"ai.request.completed": 1, "integration.synced": 1, "task.created": 1},
          what="three pika events in usage")
    # Hostile: not JSON, and binary mode with a wrong specversion. Dead-lettered, nothing else.
    channel.basic_publish(EXCHANGE, "task.created", b"\xff\xfe not json",
                          pika.BasicProperties(content_type="application/json", message_id="garbage-1"))
    channel.basic_publish(EXCHANGE, "task.created", b"{}", pika.BasicProperties(message_id="bad-version", headers={
        "cloudEvents:specversion": "0.3", "cloudEvents:id": "x", "cloudEvents:source": "s", "cloudEvents:type": "t"}))
    letters = until(lambda: [json.loads(l) for l in dlq(broker, "list", "analytics").stdout.splitlines()]
                    if dlq(broker, "list", "analytics").stdout.count("\n") == 2 else None, what="two dead letters")
    assert {l["id"] for l in letters} == {"garbage-1", "bad-version"}
    assert requests.get(analytics.url + "/ready", timeout=5).status_code == 200
    assert usage_counts(analytics)["task.created"] == 1
    connection.close()


def test_a_broker_restart_under_load_loses_nothing_and_processes_each_event_once(start_service, broker, tmp_path):
    consumer = start_service("worker", BUS_URL=broker.url, DATA_DIR=tmp_path / "c", WORKER_GROUP="restart",
                             WORKER_PREFETCH=64)
    publisher = start_service("worker", BUS_URL=broker.url, DATA_DIR=tmp_path / "p", WORKER_GROUP="none",
                              WORKER_PUBLISH=10000, WORKER_WINDOW=64)
    until(lambda: handled(consumer)["rows"] >= 1000, what="the first thousand handled")
    broker.stop()
    until(lambda: requests.get(consumer.url + "/ready", timeout=5).status_code == 503, what="readiness DOWN")
    assert requests.get(consumer.url + "/ready", timeout=5).json()["checks"]["bus"]["status"] == "DOWN"
    broker.start(wipe=False)
    publisher.wait_log("published all", timeout=120, count=10000)
    result = until(lambda: (lambda h: h if h["distinct"] == 10000 else None)(handled(consumer)), timeout=120,
                   what="all 10000 handled")
    assert result["rows"] == 10000, f"{result['rows'] - 10000} events were processed twice"
    consumer.wait_ready()
    metrics = requests.get(consumer.url + "/metrics").text
    assert 'bus_connected{backend="amqp"} 1' in metrics


def test_a_consumer_killed_mid_batch_has_its_unacked_events_redelivered_to_another(start_service, broker, tmp_path):
    common = dict(BUS_URL=broker.url, WORKER_GROUP="killed", WORKER_HANDLE_MS=20, WORKER_PREFETCH=20)
    victim = start_service("worker", DATA_DIR=tmp_path / "v", **common)
    survivor = start_service("worker", DATA_DIR=tmp_path / "s", **common)
    start_service("worker", BUS_URL=broker.url, DATA_DIR=tmp_path / "p", WORKER_GROUP="none", WORKER_PUBLISH=400)
    until(lambda: handled(victim)["rows"] >= 20, what="the victim busy")
    victim.proc.kill()  # SIGKILL: no goodbye, up to 20 deliveries unacknowledged
    victim.proc.wait()
    by_victim = _handled_ns(tmp_path / "v")
    until(lambda: len(by_victim | _handled_ns(tmp_path / "s")) == 400, timeout=60, what="all 400 handled")
    assert len(_handled_ns(tmp_path / "s")) > 400 - len(by_victim) - 1


def _handled_ns(data_dir):
    import sqlite3
    db = pathlib.Path(data_dir) / "worker.db"
    if not db.exists():
        return set()
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as c:
        return {row[0] for row in c.execute("SELECT n FROM handled")}


def test_a_poison_event_reaches_the_dead_letter_queue_and_replays(start_service, broker, tmp_path):
    worker = start_service("worker", BUS_URL=broker.url, DATA_DIR=tmp_path / "w", WORKER_GROUP="poisoned",
                           WORKER_FAIL_TYPE="work.poison", WORKER_MAX_ATTEMPTS=3)
    connection, channel = pika_channel(broker)
    channel.confirm_delivery()
    event_id = str(uuid.uuid4())
    channel.basic_publish(EXCHANGE, "work.poison", json.dumps({"n": 7}), pika.BasicProperties(
        content_type="application/json", delivery_mode=2, headers={
            "cloudEvents:specversion": "1.0", "cloudEvents:id": event_id, "cloudEvents:source": "pika",
            "cloudEvents:type": "work.poison"}))
    connection.close()
    listed = until(lambda: dlq(broker, "list", "poisoned").stdout.strip(), what="the dead letter")
    letter = json.loads(listed)
    assert letter["id"] == event_id and letter["attempts"] == 3
    assert letter["reason"] == "cannot handle work.poison" and letter["dead_at"]
    shown = json.loads(dlq(broker, "show", "poisoned", event_id).stdout)
    assert shown["event"]["data"] == {"n": 7}
    assert dlq(broker, "show", "poisoned", "no-such-id").returncode == 1
    assert handled(worker)["rows"] == 0
    assert 'bus_messages_dead_lettered_total{group="poisoned"} 1' in requests.get(worker.url + "/metrics").text
    worker.stop()

    fixed = start_service("worker", BUS_URL=broker.url, DATA_DIR=tmp_path / "w", WORKER_GROUP="poisoned")
    replayed = dlq(broker, "replay", "poisoned", event_id)
    assert replayed.returncode == 0, replayed.stderr
    until(lambda: handled(fixed)["rows"] == 1, what="the replayed event handled")
    assert dlq(broker, "list", "poisoned").stdout == ""
    assert dlq(broker, "replay", "poisoned", event_id).returncode == 1


def test_writes_answer_while_the_broker_is_down_and_every_event_arrives_once(start_service, broker,
                                                                             tmp_path):
    """The transactional outbox: the broker is away for 30 s under load and the Task Manager is
    SIGKILLed in the middle of it. Every POST answers 201 within its deadline, the stored rows
    are exactly the 201s, and once the broker is back every row's task.created reaches
    Analytics once (Analytics keeps one row per CloudEvent id)."""
    import sqlite3
    import threading

    delete_queues(broker, "analytics")
    analytics = start_service("analytics", BUS_URL=broker.url, DATA_DIR=tmp_path / "a")
    env = dict(BUS_URL=broker.url, DATA_DIR=tmp_path / "t", OUTBOX_POLL="100ms")
    target = [start_service("task-manager", **env)]
    answers, stop, pause, idle = [], threading.Event(), threading.Event(), []

    def writer(n):
        session, i = requests.Session(), 0
        while not stop.is_set():
            if pause.is_set():
                idle.append(n) if n not in idle else None
                time.sleep(0.01)
                continue
            i += 1
            started = time.monotonic()
            r = session.post(target[0].url + "/api/v1/tasks", json={"title": f"w{n}-{i}"},
                             headers=ADMIN, timeout=5)
            answers.append((r.status_code, r.json().get("id"), time.monotonic() - started))
            time.sleep(0.01)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(2)
    broker.stop()
    time.sleep(10)
    # The publisher dies with events in its outbox (none reached the broker yet): no request
    # is in flight when it does, so every row has its answer.
    pause.set()
    until(lambda: len(idle) == len(threads), what="writers idle")
    target[0].proc.kill()
    target[0].proc.wait()
    target[0] = start_service("task-manager", wait_ready=False, **env)  # not ready: no broker
    idle.clear()
    pause.clear()
    time.sleep(20)
    broker.start(wipe=False)
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join()

    assert {a[0] for a in answers} == {201}, [a for a in answers if a[0] != 201][:3]
    assert max(a[2] for a in answers) < 2.0  # never waiting on the broker
    created = {a[1] for a in answers}
    with sqlite3.connect(tmp_path / "t" / "task-manager.db") as db:
        rows = {r[0] for r in db.execute("SELECT id FROM tasks")}
    assert rows == created
    assert len(created) > 200

    def arrived():
        with sqlite3.connect(tmp_path / "a" / "analytics.db") as db:
            got = db.execute("SELECT id, metadata FROM events WHERE event_type = 'task.created'").fetchall()
        task_ids = [json.loads(m)["task_id"] for _, m in got]
        return task_ids if len(set(task_ids)) == len(rows) else None

    task_ids = until(arrived, timeout=90, what="every task.created in Analytics")
    assert sorted(task_ids) == sorted(rows)  # once each: no task announced twice
    until(lambda: requests.get(target[0].url + "/ready", timeout=5).status_code == 200,
          what="the new Task Manager ready")
    metrics = requests.get(target[0].url + "/metrics").text
    assert 'outbox_pending{component="task-manager"} 0' in metrics
