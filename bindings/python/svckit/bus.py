"""The message bus of the C++ services: same BUS_URL, same CloudEvents 1.0 envelope.

    bus = svckit.bus.connect()                       # BUS_URL / RABBITMQ_URL, else in-process
    bus.publish("task.created", {"task_id": 42})     # returns the event id once the broker confirmed
    bus.publish("task.viewed", {...}, wait=False)    # queued; bus.flush() waits for the confirms

    def on_task(event):                              # runs on a background thread
        record(event["data"])                        # raise → retried with backoff, then the DLQ
    bus.subscribe("monolith", "task.#", on_task)

    answer = bus.request("ai.complete", {"prompt": "hi"}, timeout=2.0)   # svckit.TimeoutError

A callback returns normally for success (or Outcome.RETRY / Outcome.DROP); an exception means
retry, with its text as the reason, and after `max_attempts` the event is dead-lettered.
"""
import os
import re
from typing import Any, Callable, Optional

from . import _svckit, context

_core = _svckit.bus
Outcome = _core.Outcome
SUCCESS, RETRY, DROP = Outcome.SUCCESS, Outcome.RETRY, Outcome.DROP

__all__ = ["Bus", "Outcome", "SUCCESS", "RETRY", "DROP", "connect"]


def _redacted(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


class Bus(_core.Bus):
    """A connection to the bus. Thread-safe; close() (or the end of a `with` block, or interpreter
    exit) sends what publish(wait=False) queued, lets running callbacks finish, then closes."""

    def __init__(self, url: Optional[str] = None, source: Optional[str] = None):
        url = url or os.environ.get("BUS_URL") or os.environ.get("RABBITMQ_URL") or "inproc://"
        super().__init__(url, source or os.environ.get("SERVICE_NAME") or "monolith")
        self.url = _redacted(url)

    def publish(self, type: str, data: Any, *, request_id: Optional[str] = None,
                traceparent: Optional[str] = None, wait: bool = True) -> str:
        """Publishes `data` as a CloudEvent of `type` and returns its id. With wait=True (the
        default) it returns once the broker has confirmed it; with wait=False at once (flush()
        waits for the confirms and raises BusError if any failed). The request being served
        (svckit.context) gives its request id and trace unless given here."""
        if request_id is None:
            request_id = context.request_id.get()
        if traceparent is None:
            traceparent = context.traceparent.get()
        return super().publish(type, data, request_id=request_id, traceparent=traceparent,
                               wait=wait)

    def subscribe(self, group: str, pattern: str, callback: Callable[[dict], Any], *,
                  max_attempts: int = 5, initial_backoff: float = 0.2,
                  max_backoff: float = 30.0, prefetch: int = 16) -> None:
        """Consumes events whose type matches `pattern` (AMQP topic rules: task.*, task.#) as a
        member of `group`, a durable queue shared by its consumers. `callback(event)` gets the
        CloudEvent as a dict (its payload in event["data"])."""
        if not callable(callback):
            raise TypeError("callback must be callable")
        super().subscribe(group, pattern, callback, max_attempts=max_attempts,
                          initial_backoff=initial_backoff, max_backoff=max_backoff,
                          prefetch=prefetch)

    def request(self, type: str, data: Any, timeout: float = 5.0, *,
                request_id: Optional[str] = None) -> Any:
        """Sends a request and returns the reply's data; svckit.TimeoutError after `timeout`
        seconds, BusError with the responder's message when it failed."""
        if request_id is None:
            request_id = context.request_id.get()
        return super().request(type, data, timeout, request_id=request_id)

    def __enter__(self) -> "Bus":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("connected" if self.connected else "connecting")
        return f"<svckit.bus.Bus {self.url} {state}>"


def connect(url: Optional[str] = None, source: Optional[str] = None, *, wait: bool = True,
            timeout: float = 10.0) -> Bus:
    """A Bus on `url` (BUS_URL, RABBITMQ_URL, else inproc://) publishing as `source`
    (SERVICE_NAME, else "monolith"). With `wait`, BusError unless it is connected within
    `timeout` seconds."""
    bus = Bus(url, source)
    if wait and not bus.wait_connected(timeout):
        bus.close(1.0)
        raise _svckit.BusError(f"could not connect to {bus.url} within {timeout} s")
    return bus
