"""Feature flags for Python: the flags the C++ services read, evaluated in-process by the same
engine (flagd's format, the same fractional buckets), with the code's default whenever a flag
cannot answer.

    flags = svckit.flags.follow("http://configuration:8104", token=service_token)
    if flags.boolean("new-checkout", False, {"targetingKey": user_id, "plan": plan}):
        ...

    local = svckit.flags.FlagSet(json.load(open("flags.json")))   # a flagd file, no service
    local.evaluate("new-checkout", {"targetingKey": "ann"})        # value, variant, reason, ...

follow() polls the Configuration service's GET /api/v1/flags with If-None-Match in a daemon
thread (a 304 when nothing changed); while the service is away the set held stays, and before
the first answer every flag is its caller's default.
"""
import threading
from typing import Optional

from . import _svckit
from .client import Client

FlagSet = _svckit.flags.FlagSet
FlagClient = _svckit.flags.FlagClient

__all__ = ["FlagSet", "FlagClient", "follow"]


class _Follower(threading.Thread):
    def __init__(self, client: FlagClient, url: str, token: Optional[str], poll_interval: float):
        super().__init__(name="svckit-flags", daemon=True)
        self.client, self.poll_interval = client, poll_interval
        self.http = Client(url, name="flags", timeout=5.0, max_attempts=1)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.etag = None
        self.stopped = threading.Event()
        self.last_error: Optional[str] = None

    def fetch(self) -> None:
        headers = dict(self.headers)
        if self.etag:
            headers["If-None-Match"] = self.etag
        try:
            r = self.http.get("/api/v1/flags", headers=headers)
            if r.status == 200:
                body = r.json()
                self.client.replace(FlagSet(body["document"]), body["version"])
                self.etag = r.headers.get("etag")
                self.last_error = None
            elif r.status != 304:
                self.last_error = f"GET /api/v1/flags answered {r.status}"
        except Exception as e:  # noqa: BLE001 - the service away: keep the set held
            self.last_error = str(e)

    def run(self) -> None:
        while not self.stopped.wait(self.poll_interval):
            self.fetch()


def follow(url: str, token: Optional[str] = None, poll_interval: float = 5.0) -> FlagClient:
    """A FlagClient kept up to date from the Configuration service at `url` (asked once now,
    then every `poll_interval` seconds). Its `.follower` thread can be stopped with
    `.follower.stopped.set()`."""
    if poll_interval <= 0:
        raise ValueError("poll_interval must be positive")
    client = FlagClient()
    follower = _Follower(client, url, token, poll_interval)
    follower.fetch()
    follower.start()
    client.follower = follower
    return client
