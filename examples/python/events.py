"""The bus from a Python script: publish CloudEvents, consume them on a background thread with
retries and a dead-letter queue, ask and answer a request.

    PYTHONPATH=build/python python3 examples/python/events.py            # in-process bus
    PYTHONPATH=build/python BUS_URL=amqp://guest:guest@127.0.0.1:5672/ python3 examples/python/events.py
"""
import threading

import svckit

done = threading.Event()
with svckit.bus.connect(source="events-example") as bus:
    def on_created(event):                       # on one of svckit's threads, with the GIL
        print("consumed", event["type"], event["data"], "from", event["source"])
        done.set()

    def on_poison(event):
        raise ValueError("cannot handle this one")   # retried with backoff, then dead-lettered

    bus.subscribe("example-audit", "task.*", on_created)
    bus.subscribe("example-poison", "poison.*", on_poison, max_attempts=2, initial_backoff=0.01)
    bus.respond("example.add", lambda event: {"sum": sum(event["data"]["numbers"])})
    bus.wait_connected()

    print("published", bus.publish("task.created", {"task_id": "t-1", "title": "try svckit"}))
    done.wait(10)
    print("reply", bus.request("example.add", {"numbers": [1, 2, 3]}, timeout=5.0))
    bus.publish("poison.pill", {})
    try:
        bus.request("nobody.answers", {}, timeout=0.2)
    except svckit.TimeoutError as e:
        print("timeout", e)
    for _ in range(100):
        letters = bus.dead_letters("example-poison")
        if letters:
            print("dead-lettered after", letters[0]["attempts"], "attempts:", letters[0]["reason"].splitlines()[0])
            break
        done.wait(0.05)
