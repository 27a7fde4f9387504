"""The request being served, as svckit's FastAPI middleware saw it: its request id and its
traceparent (this hop's span). svckit.Client calls and bus publishes made while serving it carry
both, so one trace runs from the edge through the monolith into the C++ services."""
import contextvars
from typing import Optional, Tuple

request_id: "contextvars.ContextVar[Optional[str]]" = contextvars.ContextVar(
    "svckit_request_id", default=None)
traceparent: "contextvars.ContextVar[Optional[str]]" = contextvars.ContextVar(
    "svckit_traceparent", default=None)


def current() -> Tuple[Optional[str], Optional[str]]:
    """(request id, traceparent) of the request being served, or (None, None)."""
    return request_id.get(), traceparent.get()
