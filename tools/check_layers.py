#!/usr/bin/env python3
"""Fails when an include in the SDK points up the layers (docs/architecture.md):

    base       context, settings, config, error, ids, task, blocking_pool, json_writer,
               entity_cache, log, trace, resilience, model
    protocols  http, grpc, bus, sql          base only; never one another
    policies   auth, metrics, health         base and protocols; never one another
    app        everything

A file of include/svckit/<module>/ or src/<module>/ (or a top-level base header) may include its
own module, and modules of lower layers; a protocol or a policy may not include a module of its
own layer. KNOWN lists the edges that are still there and are to go (issue 21): a new one fails,
and so does a KNOWN one that is gone (take it off the list).

    tools/check_layers.py            from the repository root
"""
import pathlib
import re
import sys

BASE = {"context", "settings", "config", "error", "ids", "task", "blocking_pool", "json_writer",
        "entity_cache", "log", "trace", "resilience", "model", "wakeup"}
LAYERS = {**{m: 0 for m in BASE}, "http": 1, "grpc": 1, "bus": 1, "sql": 1,
          "auth": 2, "metrics": 2, "health": 2, "app": 3, "svckit": 4}
NAMES = ["base", "protocols", "policies", "app", "svckit.hpp"]

# module -> module edges that break the rule today, each with the file that makes it.
KNOWN = {
    ("http", "metrics"),   # the client counts http_client_* itself: to report through an observer
    ("bus", "metrics"),    # bus_* counters: the same
    ("bus", "sql"),        # ProcessedEvents (bus + sql): to move into a module above both
    ("grpc", "app"),       # the gRPC server is an App-hosted server: to move to app
    ("grpc", "auth"),      # its auth interceptor: to move to auth, plugged in as an interceptor
    ("grpc", "health"),    # its health service: the same, in health
    ("grpc", "metrics"),   # grpc_server_* counters: through an observer
}

INCLUDE = re.compile(r'^\s*#\s*include\s+[<"]svckit/([a-z_]+)(/|\.hpp)', re.M)


def module_of(path: pathlib.Path):
    parts = path.parts
    root = parts.index("svckit") + 1 if "include" in parts else parts.index("src") + 1
    rest = parts[root:]
    return rest[0] if len(rest) > 1 else rest[0].removesuffix(".hpp").removesuffix(".cpp")


def main():
    files = sorted(pathlib.Path("include/svckit").rglob("*.hpp")) + \
        sorted(p for p in pathlib.Path("src").rglob("*") if p.suffix in (".cpp", ".hpp"))
    seen, bad = set(), []
    for f in files:
        mine = module_of(f)
        if mine not in LAYERS:
            bad.append(f"{f}: module '{mine}' has no layer: add it to tools/check_layers.py")
            continue
        for m in INCLUDE.finditer(f.read_text()):
            theirs = m.group(1)
            if theirs not in LAYERS or theirs == mine:
                continue
            up = LAYERS[theirs] > LAYERS[mine]
            sideways = LAYERS[theirs] == LAYERS[mine] and LAYERS[mine] in (1, 2)
            if not (up or sideways):
                continue
            seen.add((mine, theirs))
            if (mine, theirs) not in KNOWN:
                line = f.read_text().count("\n", 0, m.start()) + 1
                how = "up" if up else "sideways"
                bad.append(f"{f}:{line}: {mine} ({NAMES[LAYERS[mine]]}) includes {theirs} "
                           f"({NAMES[LAYERS[theirs]]}): {how} the layers")
    for gone in sorted(KNOWN - seen):
        bad.append(f"{gone[0]} no longer includes {gone[1]}: take it off KNOWN in tools/check_layers.py")
    for b in bad:
        print(b)
    if not bad:
        print(f"layers: {len(files)} files, {len(seen)} known edges left to remove")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
