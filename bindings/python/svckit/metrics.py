"""Prometheus metrics in svckit's registry (text format 0.0.4), beside the metrics svckit's own
bus and client count there.

    tasks = svckit.metrics.counter("tasks_created_total", "Tasks created.", ["priority"])
    tasks.labels(priority="high").inc()
    svckit.metrics.render()            # what /metrics serves (svckit.fastapi.instrument adds it)

The HTTP series (svckit.fastapi's middleware) have prometheus-fastapi-instrumentator's names
and labels, so the monolith's dashboards keep working: http_requests_total{handler,method,status},
http_request_duration_seconds{handler,method}, http_request_size_bytes{handler},
http_response_size_bytes{handler}, http_requests_inprogress{handler,method}.
"""
from typing import Iterable, Optional, Sequence

from . import _svckit

_core = _svckit.metrics
Registry = _core.Registry
Counter, Gauge, Histogram = _core.Counter, _core.Gauge, _core.Histogram
HttpMetrics = _core.HttpMetrics
CONTENT_TYPE = _core.CONTENT_TYPE

__all__ = ["Registry", "Counter", "Gauge", "Histogram", "HttpMetrics", "CONTENT_TYPE",
           "default_registry", "counter", "gauge", "histogram", "render"]


def default_registry() -> Registry:
    """The process's registry: svckit's own metrics (bus, client, process) count here."""
    return Registry.default()


def counter(name: str, help: str, labels: Iterable[str] = ()) -> Counter:
    return default_registry().counter(name, help, list(labels))


def gauge(name: str, help: str, labels: Iterable[str] = ()) -> Gauge:
    return default_registry().gauge(name, help, list(labels))


def histogram(name: str, help: str, labels: Iterable[str] = (),
              buckets: Optional[Sequence[float]] = None) -> Histogram:
    """Buckets default to prometheus_client's (0.005 s ... 10 s)."""
    return default_registry().histogram(name, help, list(labels),
                                        None if buckets is None else list(buckets))


def render() -> str:
    return default_registry().render()
