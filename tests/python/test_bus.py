"""svckit.bus from Python: the C++ bus (in-process here, RabbitMQ with a real broker) with Python
callbacks on background threads — retries, dead letters, request/reply, context propagation —
and bad input answered with clear exceptions."""
import json
import threading
import time

import pika
import pytest

import svckit
from waiting import until  # tests/support
from svckit import bus as svcbus




@pytest.fixture
def inproc():
    b = svcbus.connect("inproc://", source="monolith")
    yield b
    b.close()


def test_events_carry_the_cloudevents_envelope_and_the_served_request(inproc):
    got = []
    inproc.subscribe("monolith-audit", "task.*", got.append)
    tokens = (svckit.context.request_id.set("req-py-1"),
              svckit.context.traceparent.set("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"))
    try:
        event_id = inproc.publish("task.created", {"task_id": 7, "title": "from python"})
    finally:
        svckit.context.traceparent.reset(tokens[1])
        svckit.context.request_id.reset(tokens[0])
    e = until(lambda: got)[0]
    assert e["id"] == event_id and e["source"] == "monolith" and e["specversion"] == "1.0"
    assert e["type"] == "task.created" and e["datacontenttype"] == "application/json"
    assert e["time"].endswith("Z") and e["data"] == {"task_id": 7, "title": "from python"}
    assert e["requestid"] == "req-py-1"
    assert e["traceparent"].startswith("00-0af7651916cd43dd8448eb211c80319c-")
    assert not e["traceparent"].endswith("b7ad6b7169203331-01")  # a new span of the same trace


def test_a_raising_callback_is_retried_then_dead_lettered_with_the_reason(inproc):
    calls = []

    def flaky(event):
        calls.append(event["id"])
        raise RuntimeError("the legacy database is down")

    inproc.subscribe("flaky", "order.*", flaky, max_attempts=3, initial_backoff=0.01, max_backoff=0.02)
    event_id = inproc.publish("order.placed", {"order": 1})
    letters = until(lambda: inproc.dead_letters("flaky"), what="a dead letter")
    assert len(calls) == 3
    assert letters[0]["event"]["id"] == event_id and letters[0]["attempts"] == 3
    assert "RuntimeError: the legacy database is down" in letters[0]["reason"]
    # Replayed, it is delivered again (and fails again: three more calls).
    assert inproc.replay("flaky", event_id) is True
    until(lambda: len(calls) == 6, what="the replayed deliveries")
    assert inproc.replay("flaky", "no-such-event") is False


def test_outcomes_retry_and_drop(inproc):
    seen = []

    def answer(event):
        seen.append(event["data"]["n"])
        if event["data"]["n"] == 1 and seen.count(1) == 1:
            return svcbus.RETRY
        return svcbus.DROP if event["data"]["n"] == 2 else None

    # One delivery in flight at a time: once the later event 3 arrives, the outcomes of 1 and 2
    # have been settled, so the dead-letter list is final.
    inproc.subscribe("outcomes", "o.*", answer, initial_backoff=0.01, max_backoff=0.02, prefetch=1)
    inproc.publish("o.x", {"n": 1})
    inproc.publish("o.x", {"n": 2})
    until(lambda: sorted(seen) == [1, 1, 2], what="a retry and a drop")
    inproc.publish("o.x", {"n": 3})
    until(lambda: 3 in seen, what="the event after them")
    assert sorted(seen) == [1, 1, 2, 3]
    assert inproc.dead_letters("outcomes") == []


def test_request_reply_while_the_caller_waits_without_the_gil(inproc):
    # The responder needs the GIL while the requesting thread waits: a request that held it
    # would deadlock here.
    inproc.respond("legacy.lookup", lambda e: {"user": e["data"]["id"], "name": "Ada"})
    assert inproc.request("legacy.lookup", {"id": 5}, timeout=2.0) == {"user": 5, "name": "Ada"}

    def failing(e):
        raise KeyError("no such user")

    inproc.respond("legacy.fail", failing)
    with pytest.raises(svckit.BusError) as e:
        inproc.request("legacy.fail", {}, timeout=2.0)
    assert "no such user" in str(e.value)
    started = time.monotonic()
    with pytest.raises(svckit.TimeoutError) as e:
        inproc.request("nobody.answers", {}, timeout=0.2)
    assert isinstance(e.value, TimeoutError) and 0.15 < time.monotonic() - started < 2


def test_many_publishes_without_waiting_are_all_delivered_after_flush(inproc):
    count = {"n": 0}
    lock = threading.Lock()

    def record(event):
        with lock:
            count["n"] += 1

    inproc.subscribe("bulk", "bulk.*", record, prefetch=256)
    for i in range(5000):
        inproc.publish("bulk.item", {"i": i}, wait=False)
    assert inproc.flush(10.0) is True
    until(lambda: count["n"] == 5000, what="5000 deliveries")


def test_threads_publish_at_once(inproc):
    got = set()
    lock = threading.Lock()

    def record(event):
        with lock:
            got.add(event["data"]["k"])

    inproc.subscribe("threads", "t.*", record)
    threads = [threading.Thread(target=lambda t=t: [inproc.publish("t.x", {"k": f"{t}-{i}"}) for i in range(200)])
               for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    until(lambda: len(got) == 800, what="800 distinct events")


def test_bad_input_is_refused_clearly_and_changes_nothing(inproc):
    got = []
    inproc.subscribe("strict", "s.*", lambda e: got.append(e["type"]), prefetch=1)
    with pytest.raises(TypeError):
        inproc.publish("s.x", {1: "int key"})
    with pytest.raises(TypeError):
        inproc.publish("s.x", {"when": object()})
    with pytest.raises(ValueError):
        inproc.publish("s.x", {"n": float("inf")})
    with pytest.raises(ValueError):
        inproc.publish("s.x", {"n": 2 ** 80})
    deep = []
    for _ in range(200):
        deep = [deep]
    with pytest.raises(ValueError):
        inproc.publish("s.x", deep)
    with pytest.raises(TypeError):
        inproc.publish(None, {})
    with pytest.raises(svckit.BusError):
        inproc.subscribe("strict", "bad..pattern", got.append)
    with pytest.raises(TypeError):
        inproc.subscribe("strict", "s.*", "not callable")
    with pytest.raises(ValueError):
        inproc.subscribe("strict", "s.*", got.append, max_attempts=0)
    with pytest.raises(ValueError):
        inproc.request("s.x", {}, timeout=-1)
    with pytest.raises(svckit.BusError):
        svcbus.connect("kafka://nowhere")
    # Deliveries come in order, one at a time: anything half-published would arrive before this.
    inproc.publish("s.end", {})
    until(lambda: got, what="the closing event")
    assert got == ["s.end"]  # nothing half-published


def test_a_closed_bus_refuses_publishes():
    b = svcbus.connect("inproc://")
    b.close()
    b.close()  # twice is fine
    assert b.closed and not b.connected
    with pytest.raises(svckit.BusError) as e:
        b.publish("x.y", {})
    assert "closed" in str(e.value)


def test_an_unreachable_broker_is_a_bus_error_within_the_timeout():
    started = time.monotonic()
    with pytest.raises(svckit.BusError) as e:
        svcbus.connect("amqp://guest:secret@127.0.0.1:1/", timeout=1.0)
    assert "127.0.0.1:1" in str(e.value) and "secret" not in str(e.value)
    assert time.monotonic() - started < 5


def test_over_rabbitmq_python_and_pika_meet_on_the_same_exchange(broker):
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    channel = connection.channel()
    channel.exchange_declare("svckit.events", "topic", durable=True)
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(queue, "svckit.events", "invoice.#")
    got = []
    with svcbus.connect(broker.url, source="monolith") as b:
        b.subscribe("py-invoices", "invoice.#", got.append)
        until(lambda: b.connected, what="the subscription bound")
        event_id = b.publish("invoice.paid", {"invoice": 12, "amount": 99.5})
        until(lambda: got, what="the svckit subscriber's delivery")
        assert got[0]["id"] == event_id and got[0]["data"] == {"invoice": 12, "amount": 99.5}
        method, properties, body = None, None, None
        deadline = time.monotonic() + 10
        while not method and time.monotonic() < deadline:
            method, properties, body = channel.basic_get(queue, auto_ack=True)
        assert properties.headers["cloudEvents:source"] == "monolith"
        assert properties.headers["cloudEvents:id"] == event_id
        assert json.loads(body) == {"invoice": 12, "amount": 99.5}
        assert properties.delivery_mode == 2
    connection.close()
