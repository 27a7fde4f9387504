"""svckit for FastAPI apps: the monolith adopts svckit's auth, metrics and tracing in a few lines.

    from fastapi import Depends, FastAPI
    import svckit.fastapi

    app = FastAPI()
    svckit.fastapi.instrument(app)       # metrics middleware, request ids, traceparent, /metrics

    @app.post("/api/v1/tasks")
    async def create(task: dict, who=Depends(svckit.fastapi.require("tasks:write"))):
        ...                                   # who: svckit.auth.Principal

require() answers 401 (`WWW-Authenticate: Bearer error="invalid_token"` with the reason) for a
missing or refused token and 403 (`error="insufficient_scope"`) without the permission — as the
C++ services do. The middleware records http_requests_total & co. with
prometheus-fastapi-instrumentator's names, echoes or makes X-Request-ID, continues the caller's
traceparent, and puts both in svckit.context for svckit.Client calls and bus publishes.
"""
import time
from typing import Optional

from fastapi import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match

from . import _svckit
from . import auth as _auth
from . import context
from . import metrics as _metrics

__all__ = ["Authenticate", "require", "SvckitMiddleware", "instrument", "metrics_response"]

_trace = _svckit.trace
_default_verifier: Optional[_auth.Verifier] = None


def _verifier() -> _auth.Verifier:
    global _default_verifier
    if _default_verifier is None:
        _default_verifier = _auth.verifier_from_env()
    return _default_verifier


def _quoted(text: str) -> str:
    return "".join(c for c in text if c.isprintable() and c not in '"\\')[:200]


class Authenticate:
    """A FastAPI dependency: the caller's bearer token verified by svckit, and `permission`
    required when given. Returns the svckit.auth.Principal (also in request.state.principal)."""

    def __init__(self, permission: Optional[str] = None,
                 verifier: Optional[_auth.Verifier] = None):
        self.permission = permission
        self.verifier = verifier

    async def __call__(self, request: Request) -> _auth.Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPException(401, "a bearer token is required",
                                headers={"WWW-Authenticate": 'Bearer realm="svckit"'})
        try:
            who = (self.verifier or _verifier()).authenticate(token.strip())
        except _svckit.AuthError as e:
            raise HTTPException(401, f"invalid token: {e.reason}", headers={
                "WWW-Authenticate":
                    f'Bearer error="invalid_token", error_description="{_quoted(e.reason)}"'})
        if self.permission and not who.has(self.permission):
            raise HTTPException(403, f"the token does not grant '{self.permission}'", headers={
                "WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{self.permission}"'})
        request.state.principal = who
        return who


def require(permission: Optional[str] = None,
            verifier: Optional[_auth.Verifier] = None) -> Authenticate:
    """Depends(require("tasks:write")): authenticated, with that permission."""
    return Authenticate(permission, verifier)


def _route_template(scope) -> str:
    app = scope.get("app")
    for route in getattr(app, "routes", ()):
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return getattr(route, "path", "none")
    return "none"  # raw paths would let clients explode the series' cardinality


class SvckitMiddleware:
    """ASGI middleware: the standard HTTP metrics, request id and trace context."""

    def __init__(self, app, registry: Optional[_metrics.Registry] = None):
        self.app = app
        self.http = (registry or _metrics.default_registry()).http_metrics()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {}
        for name, value in scope.get("headers", ()):
            headers.setdefault(name.lower(), value.decode("latin-1"))
        request_id = headers.get(b"x-request-id")
        if not request_id or not _trace.sane_request_id(request_id):
            request_id = _trace.new_request_id()
        _, _, traceparent = _trace.continue_trace(headers.get(b"traceparent"),
                                                  headers.get(b"tracestate"))
        try:
            request_bytes = max(0, int(headers.get(b"content-length", "0")))
        except ValueError:
            request_bytes = 0
        handler = _route_template(scope)
        method = scope["method"]
        status, response_bytes = 500, 0
        echoed = request_id.encode()

        async def send_with_id(message):
            nonlocal status, response_bytes
            if message["type"] == "http.response.start":
                status = message["status"]
                out = [h for h in message.get("headers", ()) if h[0].lower() != b"x-request-id"]
                out.append((b"x-request-id", echoed))
                message = {**message, "headers": out}
            elif message["type"] == "http.response.body":
                response_bytes += len(message.get("body", b""))
            await send(message)

        request_token = context.request_id.set(request_id)
        trace_token = context.traceparent.set(traceparent)
        self.http.started(handler, method)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.http.finished(handler, method, status, time.perf_counter() - started,
                               request_bytes, response_bytes)
            context.traceparent.reset(trace_token)
            context.request_id.reset(request_token)


def metrics_response(registry: Optional[_metrics.Registry] = None) -> Response:
    """The registry in Prometheus text format, as a response."""
    return Response((registry or _metrics.default_registry()).render(),
                    media_type=_metrics.CONTENT_TYPE)


def instrument(app, registry: Optional[_metrics.Registry] = None,
               metrics_path: str = "/metrics") -> None:
    """Adds SvckitMiddleware and a `metrics_path` route to a FastAPI (or Starlette) app."""
    app.add_middleware(SvckitMiddleware, registry=registry)

    async def metrics_endpoint(request: Request) -> Response:
        return metrics_response(registry)

    app.add_route(metrics_path, metrics_endpoint, include_in_schema=False)
