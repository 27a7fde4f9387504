"""svckit.Client: the C++ services' resilient HTTP client.

    tasks = svckit.Client("http://task-manager:8001", timeout=5.0)
    r = tasks.get("/api/v1/tasks/42", headers={"Authorization": token})
    r.status, r.headers["content-type"], r.json()

Idempotent calls (GET, HEAD, PUT, DELETE, OPTIONS, or idempotent=True) are retried with backoff
and jitter on connect errors, 502/503/504 and 429 (honouring Retry-After) while the retry budget
allows; a circuit breaker stops calls to an upstream that keeps failing. Every call carries an
X-Request-ID and a traceparent: the served request's (svckit.context) or new ones. An answer of
any status is returned; a call that got none raises UpstreamError (TimeoutError for a timeout).
"""
from typing import Any, Mapping, Optional, Union

from . import _svckit, context

Response = _svckit.client.Response

__all__ = ["Client", "Response"]


class Client:
    """One upstream (a base URL) with its connection pool, retry budget and breaker.
    Thread-safe: share one per upstream."""

    def __init__(self, base_url: str, *, name: str = "", timeout: float = 10.0,
                 connect_timeout: float = 2.0, attempt_timeout: float = 0.0,
                 max_attempts: int = 3, initial_backoff: float = 0.05, max_backoff: float = 2.0,
                 breaker: bool = True, breaker_failures: int = 5, breaker_open: float = 5.0,
                 ca_file: str = "", cert_file: str = "", key_file: str = "",
                 max_response_bytes: int = 8 << 20):
        self.base_url = base_url
        self._client = _svckit.client.Client(
            base_url, name, timeout, connect_timeout, attempt_timeout, max_attempts,
            initial_backoff, max_backoff, breaker, breaker_failures, breaker_open, ca_file,
            cert_file, key_file, max_response_bytes)

    def request(self, method: str, path: str, *, json: Any = None,
                body: Union[bytes, str, None] = None, headers: Optional[Mapping[str, str]] = None,
                timeout: Optional[float] = None, idempotent: Optional[bool] = None,
                request_id: Optional[str] = None, traceparent: Optional[str] = None) -> Response:
        """Calls `method path` (path and query, after the base URL's path). `json` is sent as
        application/json, `body` as is. Waits with the GIL released."""
        if request_id is None:
            request_id = context.request_id.get()
        if traceparent is None:
            traceparent = context.traceparent.get()
        return self._client.request(method.upper(), path, body, json, dict(headers or {}),
                                    timeout, idempotent, request_id, traceparent)

    def get(self, path: str, **kwargs) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs) -> Response:
        return self.request("POST", path, json=json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs) -> Response:
        return self.request("PUT", path, json=json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs) -> Response:
        return self.request("PATCH", path, json=json, **kwargs)

    def delete(self, path: str, **kwargs) -> Response:
        return self.request("DELETE", path, **kwargs)

    @property
    def breaker_state(self) -> str:
        """"closed", "open" or "half_open"."""
        return self._client.breaker_state

    def __repr__(self) -> str:
        return f"<svckit.Client {self.base_url} breaker={self.breaker_state}>"
