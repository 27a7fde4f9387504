#!/usr/bin/env python3
"""Fails when an include in the SDK points up the layers (docs/architecture.md):

    base       context, settings, config, error, ids, hex, utf8, task, blocking_pool, json_writer,
               meter, hosted_server, entity_cache, log, trace, resilience, model
    protocols  http, grpc, bus, sql                 base only; never one another
    policies   auth, metrics, health, messaging, ai, flags base and protocols; never one another
    app        everything
    testing    app (svckit::testing, for tests)

A file of include/svckit/<module>/ or src/<module>/ (or a top-level base header) may include its
own module, and modules of lower layers; a protocol or a policy may not include a module of its
own layer. The CMake targets (src/CMakeLists.txt) link the same way: svckit::base <- http, sql,
bus, grpc <- auth, metrics, health, messaging <- app.

    tools/check_layers.py            from the repository root
"""
import pathlib
import re
import sys

BASE = {"context", "settings", "config", "error", "ids", "hex", "utf8", "task", "blocking_pool", "json_writer",
        "meter", "hosted_server", "entity_cache", "log", "trace", "resilience", "model", "wakeup", "json_reader", "json_schema",
        "trusted_proxies", "comma_list"}
LAYERS = {**{m: 0 for m in BASE}, "http": 1, "grpc": 1, "bus": 1, "sql": 1, "kv": 1,
          "auth": 2, "metrics": 2, "health": 2, "messaging": 2, "ai": 2, "flags": 2, "tracing": 2, "app": 3, "svckit": 4, "testing": 4}
NAMES = ["base", "protocols", "policies", "app", "svckit.hpp and testing"]

INCLUDE = re.compile(r'^\s*#\s*include\s+[<"]svckit/([a-z_]+)(/|\.hpp)', re.M)


def module_of(path: pathlib.Path):
    parts = path.parts
    root = parts.index("svckit") + 1 if "include" in parts else parts.index("src") + 1
    rest = parts[root:]
    return rest[0] if len(rest) > 1 else rest[0].removesuffix(".hpp").removesuffix(".cpp")


def main():
    files = sorted(pathlib.Path("include/svckit").rglob("*.hpp")) + \
        sorted(p for p in pathlib.Path("src").rglob("*") if p.suffix in (".cpp", ".hpp"))
    bad = []
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
            if up or sideways:
                line = f.read_text().count("\n", 0, m.start()) + 1
                how = "up" if up else "sideways"
                bad.append(f"{f}:{line}: {mine} ({NAMES[LAYERS[mine]]}) includes {theirs} "
                           f"({NAMES[LAYERS[theirs]]}): {how} the layers")
    bad += check_targets()
    for b in bad:
        print(b)
    if not bad:
        print(f"layers: {len(files)} files, every include and every target link points down")
    return 1 if bad else 0


def layer_of_target(target):
    module = target.removeprefix("svckit_")
    return 0 if module == "base" else LAYERS.get(module)


def check_targets():
    """Each svckit_<module> library links only libraries of lower layers."""
    text = pathlib.Path("src/CMakeLists.txt").read_text()
    bad = []
    links = re.findall(r"target_link_libraries\((svckit_[a-z]+)([^)]*)\)", text) + \
        [("svckit_" + name, rest) for name, rest in re.findall(r"svckit_module\(([a-z]+)([^)]*)\)", text)]
    if len(links) < 9:
        bad.append("src/CMakeLists.txt: fewer module targets than svckit has modules")
    for target, deps in links:
        mine = layer_of_target(target)
        if mine is None:
            bad.append(f"src/CMakeLists.txt: target {target} has no layer")
            continue
        for dep in re.findall(r"svckit_[a-z]+", deps):
            theirs = layer_of_target(dep)
            if theirs is None or theirs >= mine:
                bad.append(f"src/CMakeLists.txt: {target} links {dep}: not a lower layer")
    return bad


if __name__ == "__main__":
    sys.exit(main())
