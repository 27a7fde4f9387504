"""The Grafana dashboards of deploy/grafana: what tools/dashboards.py writes, and every query names
a metric the services really expose — scraped from the AETHER-AI services on PostgreSQL and
RabbitMQ with trace export on, behind a gateway with a split and shadowed route."""
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

import pytest
import requests

from conftest import make_token
from waiting import until  # tests/support

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "support"))
from otlp_collector import Collector  # noqa: E402
from rabbitmq_broker import Broker  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "deploy" / "grafana").glob("*.json"))
USER = {"Authorization": "Bearer " + make_token(permissions=["tasks:read", "tasks:write"])}


def test_the_dashboards_are_what_the_generator_writes():
    assert {d.stem for d in DASHBOARDS} == {"aether", "raptorflow", "apartment"}
    r = subprocess.run([sys.executable, str(ROOT / "tools/dashboards.py"), "--check"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def queried_metrics():
    names = set()
    for d in DASHBOARDS:
        for panel in json.loads(d.read_text())["panels"]:
            for target in panel.get("targets", []):
                names |= set(re.findall(r"\b([a-z_][a-z0-9_]*)\{", target["expr"]))
    return names


def exposed(text):
    """Every series name a /metrics page has: histograms with their _bucket, _sum and _count."""
    names = set()
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            names.add(m.group(1))
            if m.group(2) in ("histogram", "summary"):
                names |= {m.group(1) + s for s in ("_bucket", "_sum", "_count")}
    return names


@pytest.fixture
def broker():
    base = tempfile.mkdtemp(prefix="svckit-rabbitmq-")  # the rabbitmq user must reach it
    os.chmod(base, 0o755)
    b = Broker(base, 5693).start()  # a port of its own among the tests (its dist port: +20000)
    yield b
    b.stop()
    shutil.rmtree(base, ignore_errors=True)


def test_every_query_names_a_metric_the_services_expose(start_service, postgres_server, broker, tmp_path):
    collector = Collector().start()
    try:
        aether = start_service("aether", DATABASE_URL=postgres_server.create_database("dashboards"),
                               BUS_URL=broker.url, OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint,
                               OTEL_BSP_SCHEDULE_DELAY="50")
        routes = tmp_path / "routes.json"
        routes.write_text(json.dumps({
            "upstreams": {"aether": {"targets": [aether.url]}, "legacy": {"targets": [aether.url]}},
            "routes": [{"name": "tasks", "paths": ["/api/v1/tasks"], "upstream": "aether", "auth": "authenticated",
                        "split": {"legacy": "legacy", "weight": 50}, "shadow": {"percent": 100}}]}))
        gateway = start_service("gateway", GATEWAY_ROUTES=routes)
        for i in range(10):
            assert requests.post(gateway.url + "/api/v1/tasks", json={"title": f"t{i}"}, headers=USER,
                                 timeout=10).status_code == 201
        # Spans exported, and RabbitMQ's queue depths measured (every 5 s).
        until(lambda: {"svckit_trace_spans_exported_total", "bus_queue_depth"} <= exposed(
            requests.get(aether.url + "/metrics", timeout=5).text), timeout=20)
        pages = requests.get(aether.url + "/metrics", timeout=5).text + requests.get(
            f"http://127.0.0.1:{gateway.metrics_port}/metrics", timeout=5).text
    finally:
        collector.stop()
    missing = queried_metrics() - exposed(pages)
    assert not missing, f"queried but exposed by no service: {sorted(missing)}"
