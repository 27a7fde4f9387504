"""Interpreter exit with svckit busy: subscriptions open, callbacks running or raising, events
queued, a thread waiting on a reply. Each case runs in a Python process of its own, which must
exit cleanly and promptly, without a crash, a hang or a lost event."""
import subprocess
import sys
import textwrap
import time

import pika

from conftest import python_env


def run_python(code, timeout=30, **env):
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=python_env(**env),
                          capture_output=True, text=True, timeout=timeout)
    return proc, time.monotonic() - started


def assert_clean(proc):
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for bad in ("Fatal Python error", "Segmentation fault", "terminate called", "Traceback"):
        assert bad not in proc.stderr, proc.stderr


def test_exit_while_callbacks_run_and_raise():
    proc, took = run_python("""
        import time, svckit
        bus = svckit.bus.connect("inproc://")
        def slow(event):
            time.sleep(0.2)
        def failing(event):
            raise RuntimeError("raised at exit")
        bus.subscribe("slow", "work.*", slow)
        bus.subscribe("failing", "work.*", failing, initial_backoff=0.05)
        for i in range(20):
            bus.publish("work.item", {"i": i}, wait=False)
        time.sleep(0.05)
        print("leaving")
    """)
    assert_clean(proc)
    assert "leaving" in proc.stdout and took < 15


def test_exit_with_a_thread_waiting_for_a_reply():
    proc, took = run_python("""
        import threading, time, svckit
        bus = svckit.bus.connect("inproc://")
        def ask():
            try:
                bus.request("nobody.answers", {}, timeout=60)
            except svckit.Error:
                pass
        threading.Thread(target=ask, daemon=True).start()
        time.sleep(0.1)
    """)
    assert_clean(proc)
    assert took < 15


def test_use_after_shutdown_is_a_clear_error():
    proc, _ = run_python("""
        import svckit
        bus = svckit.bus.connect("inproc://")
        svckit._svckit._shutdown()
        for attempt in (lambda: bus.publish("a.b", {}), lambda: svckit.bus.connect("inproc://")):
            try:
                attempt()
                print("no error")
            except svckit.Error as e:
                print("error:", e)
    """)
    assert_clean(proc)
    assert proc.stdout.count("error:") == 2 and "no error" not in proc.stdout


def test_events_queued_at_exit_reach_the_broker(broker):
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    channel = connection.channel()
    channel.exchange_declare("svckit.events", "topic", durable=True)
    channel.queue_declare("exit-flush", durable=True)
    channel.queue_purge("exit-flush")
    channel.queue_bind("exit-flush", "svckit.events", "exit.#")
    proc, _ = run_python(f"""
        import svckit
        bus = svckit.bus.connect("{broker.url}")
        def failing(event):
            raise RuntimeError("still failing at exit")
        bus.subscribe("exit-consumer", "exit.#", failing, initial_backoff=0.05)
        for i in range(1000):
            bus.publish("exit.item", {{"i": i}}, wait=False)
        # no flush, no close: interpreter exit sends what is queued
    """, timeout=60)
    assert_clean(proc)
    deadline = time.monotonic() + 10
    while channel.queue_declare("exit-flush", passive=True).method.message_count < 1000:
        assert time.monotonic() < deadline, "events queued before exit were lost"
        time.sleep(0.1)
    channel.queue_delete("exit-flush")
    channel.queue_delete("exit-consumer")
    channel.queue_delete("exit-consumer.dlq")
    connection.close()
