"""svckit for Python: the C++ services' SDK, for the monolith while it is strangled.

    import svckit
    verifier = svckit.auth.verifier_from_env()          # JWT_SECRET_KEY, JWKS_URL, ... as the services read them
    claims = verifier.verify(token)                     # dict, or svckit.AuthError with .reason
    bus = svckit.bus.connect()                          # BUS_URL (amqp://... or inproc://)
    bus.publish("task.created", {"task_id": 42})        # a CloudEvent, confirmed by the broker
    tasks = svckit.Client("http://task-manager:8001")   # timeouts, retries, breaker, request ids
    r = tasks.get("/api/v1/tasks/42")

Modules: svckit.auth, svckit.bus, svckit.flags (feature flags), svckit.metrics, svckit.fastapi (FastAPI integration),
svckit.context (the request id and trace of the request being served). Errors all derive from
svckit.Error: AuthError (ForbiddenError), BusError, TimeoutError, UpstreamError, ConfigError.
Blocking calls release the GIL; everything is thread-safe.
"""
import atexit as _atexit

from . import _svckit
from ._svckit import (AuthError, BusError, ConfigError, Error, ForbiddenError, TimeoutError,
                      UpstreamError)
from . import auth, bus, context, flags, metrics
from .client import Client, Response

__version__ = "0.1.0"
__all__ = ["Client", "Response", "Error", "AuthError", "ForbiddenError", "BusError",
           "TimeoutError", "UpstreamError", "ConfigError", "auth", "bus", "context", "flags", "metrics"]

# Open buses are closed (what they queued is sent) and svckit's threads stop before the
# interpreter finalises: no thread of svckit's asks for the GIL of an interpreter going away.
_atexit.register(_svckit._shutdown)
