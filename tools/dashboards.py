#!/usr/bin/env python3
"""Writes the Grafana dashboards of deploy/grafana/, one per system, from the metric names svckit
exports (docs/metrics.md): RED per route, the bus, the gateway's splits and shadows, the database
pool, trace export. One template for every system; a system is its name and its Prometheus jobs.

    /usr/bin/python3 tools/dashboards.py            # rewrites deploy/grafana/*.json
    /usr/bin/python3 tools/dashboards.py --check    # exit 1 when a file is not what it writes

tests/integration/test_dashboards.py checks that every query names a metric the services expose.
"""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "deploy" / "grafana"

SYSTEMS = {
    "aether": "AETHER-AI",
    "raptorflow": "Raptorflow",
    "apartment": "Apartment management",
}

J = '{job=~"$job"}'
J5 = 'job=~"$job", status="5xx"'

# (row, [(title, unit, [(expr, legend)])])
ROWS = [
    ("HTTP: rate, errors, duration per route", [
        ("Requests/s by route", "reqps",
         [(f'sum by (handler) (rate(http_requests_total{J}[5m]))', "{{handler}}")]),
        ("5xx answers/s by route", "reqps",
         [(f'sum by (handler) (rate(http_requests_total{{{J5}}}[5m]))', "{{handler}}")]),
        ("p95 latency by route", "s",
         [(f'histogram_quantile(0.95, sum by (handler, le) '
           f'(rate(http_request_duration_seconds_bucket{J}[5m])))', "{{handler}}")]),
        ("Requests in progress", "short",
         [(f'sum by (job) (http_requests_inprogress{J})', "{{job}}")]),
    ]),
    ("Bus: throughput and dead letters", [
        ("Published/s by type", "ops",
         [(f'sum by (type) (rate(bus_messages_published_total{J}[5m]))', "{{type}}")]),
        ("Consumed/s by group and outcome", "ops",
         [(f'sum by (group, outcome) (rate(bus_messages_consumed_total{J}[5m]))',
           "{{group}} {{outcome}}")]),
        ("Dead-lettered in 10 min by group", "short",
         [(f'sum by (group) (increase(bus_messages_dead_lettered_total{J}[10m]))', "{{group}}")]),
        ("Queue depth by group", "short",
         [(f'max by (group) (bus_queue_depth{J})', "{{group}}")]),
    ]),
    ("Gateway: splits, shadows, upstreams", [
        ("Split requests/s by route and side", "reqps",
         [(f'sum by (route, side) (rate(gateway_split_requests_total{J}[5m]))', "{{route}} {{side}}")]),
        ("Shadow results/s by route", "reqps",
         [(f'sum by (route, result) (rate(gateway_shadow_requests_total{J}[5m]))',
           "{{route}} {{result}}")]),
        ("Routes rolled back", "short",
         [(f'max by (route) (gateway_route_rolled_back{J})', "{{route}}")]),
        ("Targets taking calls", "short",
         [(f'sum by (upstream) (gateway_target_up{J})', "{{upstream}}")]),
    ]),
    ("Database pool", [
        ("Connections in use and idle", "short",
         [(f'sum by (pool) (db_pool_in_use{J})', "{{pool}} in use"),
          (f'sum by (pool) (db_pool_idle{J})', "{{pool}} idle")]),
        ("Calls waiting for a connection", "short",
         [(f'sum by (pool) (db_pool_waiting{J})', "{{pool}}")]),
        ("p95 wait for a connection", "s",
         [(f'histogram_quantile(0.95, sum by (pool, le) (rate(db_pool_wait_seconds_bucket{J}[5m])))',
           "{{pool}}")]),
        ("Timeouts/s", "ops",
         [(f'sum by (pool) (rate(db_pool_timeouts_total{J}[5m]))', "{{pool}}")]),
    ]),
    ("Trace export", [
        ("Spans exported/s and dropped/s", "ops",
         [(f'sum (rate(svckit_trace_spans_exported_total{J}[5m]))', "exported"),
          (f'sum by (reason) (rate(svckit_trace_spans_dropped_total{J}[5m]))', "dropped {{reason}}")]),
    ]),
]

DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}


def dashboard(system, title):
    panels, y, next_id = [], 0, 1
    for row, charts in ROWS:
        panels.append({"type": "row", "title": row, "id": next_id, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        next_id += 1
        y += 1
        for i, (chart, unit, queries) in enumerate(charts):
            panels.append({
                "type": "timeseries", "title": chart, "id": next_id, "datasource": DATASOURCE,
                "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": y + 8 * (i // 2)},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
                "targets": [{"datasource": DATASOURCE, "expr": expr, "legendFormat": legend,
                             "refId": chr(ord("A") + k)} for k, (expr, legend) in enumerate(queries)],
            })
            next_id += 1
        y += 8 * ((len(charts) + 1) // 2)
    return {
        "title": f"{title} — svckit services",
        "uid": f"svckit-{system}",
        "tags": ["svckit", system],
        "schemaVersion": 38,
        "version": 1,
        "editable": True,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "type": "datasource",
                      "pluginId": "prometheus", "pluginName": "Prometheus"}],
        "templating": {"list": [{
            "name": "job", "label": "service", "type": "query", "datasource": DATASOURCE,
            "query": "label_values(up, job)", "refresh": 2, "multi": True, "includeAll": True,
            "current": {"text": "All", "value": "$__all"},
        }]},
        "panels": panels,
    }


def main():
    check = "--check" in sys.argv
    stale = []
    OUT.mkdir(parents=True, exist_ok=True)
    for system, title in SYSTEMS.items():
        text = json.dumps(dashboard(system, title), indent=2, ensure_ascii=False) + "\n"
        path = OUT / f"{system}.json"
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(path)
        else:
            path.write_text(text)
    for path in stale:
        print(f"{path} is not what tools/dashboards.py writes: run it", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
