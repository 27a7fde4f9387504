#!/usr/bin/env python3
"""Writes deploy/k8s/<system>/: each system's Kubernetes manifests (kustomize), rendered from the
same service templates `svckit new` uses (templates/service/deploy/k8s), and the AETHER-AI
migration's routes (seed 000 §8.2-8.3) for Kubernetes and for the local system.

    /usr/bin/python3 tools/manifests.py            # rewrites them
    /usr/bin/python3 tools/manifests.py --check    # exit 1 when a file is not what it writes

deploy/k8s/<system>/
  base/<service>/       one service: Deployment, Service, HPA, PDB, ServiceMonitor, settings
  base/                 the system: every service, the gateway's routes
  overlays/dev, prod    an environment: namespace, image tags, replicas, resources
  phases/phase-N        (AETHER-AI) production with phase N's routes: kubectl apply -k
"""
import copy
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import importlib.machinery  # noqa: E402
import importlib.util  # noqa: E402

_loader = importlib.machinery.SourceFileLoader("svckit_command", str(ROOT / "tools" / "svckit"))
_spec = importlib.util.spec_from_loader("svckit_command", _loader)
svckit = importlib.util.module_from_spec(_spec)
_loader.exec_module(svckit)

OUT = ROOT / "deploy" / "k8s"
CONFIG = ROOT / "services" / "gateway" / "config"
GATEWAY = {"routes": True, "metrics_port": True,
           "settings": ["GATEWAY_ROUTES=/etc/svckit/routes/routes.json", "METRICS_PORT=9100",
                        # Behind the cluster's ingress: its addresses say who the client is.
                        "TRUSTED_PROXIES=10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"]}
ROLLBACK = {"window_seconds": 60, "min_requests": 50, "max_error_rate": 0.01,
            "max_latency_increase": 0.2}

# Each system: its services (settings beyond the documented defaults; "gateway": the system's
# gateway, with GATEWAY below), its gateway's routes file and where upstreams whose name is not a
# service's are in the cluster. `svckit new NAME --system SYSTEM` adds services here.
SYSTEMS_FILE = OUT / "systems.json"
SYSTEMS = json.loads(SYSTEMS_FILE.read_text())

# AETHER-AI's migration, seed 000 §8.2: the share of each route's users the new services take
# in each phase; the rest stay on the monolith. Phase 1 extracts the Security Service; phase 2
# the Task Manager and Analytics (20%); phase 3 the AI and code services (50%); phase 4 the
# Integration Hub (80%); phase 5 leaves the monolith 5%.
AETHER_ROUTES = [  # (name, service, the route's fields in services/gateway/config/aether.json)
    ("security", "security"), ("tasks", "task-manager"), ("ai", "ai-gateway"),
    ("code", "code-assistant"), ("analytics", "analytics"), ("integrations", "integration-hub"),
    ("webhooks", "integration-hub")]
AETHER_PHASES = {
    1: {"security": 100},
    2: {"security": 100, "tasks": 20, "analytics": 20},
    3: {"security": 100, "tasks": 50, "analytics": 50, "ai": 50, "code": 50},
    4: {"security": 100, "tasks": 80, "analytics": 80, "ai": 80, "code": 80, "integrations": 80,
        "webhooks": 80},
    5: {"security": 100, "tasks": 95, "analytics": 95, "ai": 95, "code": 95, "integrations": 95,
        "webhooks": 95},
}
AETHER_CURRENT_PHASE = 2  # what deploy/k8s/aether/base and the local migration run start at


def aether_routes(phase, target_of, monolith):
    """AETHER-AI's routes file in `phase`: every route split between its service and the
    monolith at the phase's share (shadowed and with rollback armed while both serve it), and a
    last route sending whatever no service has taken to the monolith. A route of aether.json that
    the migration does not list (a service added since) goes to the service of its name."""
    local = json.loads((CONFIG / "aether.json").read_text())
    fields = {r["name"]: r for r in local["routes"]}
    table = AETHER_ROUTES + [(r["name"], r["name"]) for r in local["routes"]
                             if r["name"] not in dict(AETHER_ROUTES)]
    services = sorted({service for _, service in table})
    upstreams = {s: {"targets": [target_of(s)], "health_check": {"path": "/ready", "interval_seconds": 2}}
                 for s in services}
    upstreams["monolith"] = {"targets": [monolith]}
    routes = []
    for name, service in table:
        route = copy.deepcopy(fields[name])
        share = AETHER_PHASES[phase].get(name, 0 if name in dict(AETHER_ROUTES) else 100)
        route["upstream"] = service
        if share < 100:
            route["split"] = {"legacy": "monolith", "weight": share, "sticky": True}
            if 0 < share:
                route["shadow"] = {"percent": 5, "ignore_fields": ["id", "created_at", "updated_at"]}
                route["rollback"] = dict(ROLLBACK)
        routes.append(route)
    routes.append({"name": "monolith", "paths": ["/"], "upstream": "monolith", "auth": "public"})
    return {"upstreams": upstreams, "routes": routes, "cors": local.get("cors", {})}


def system_routes(system, spec):
    """The gateway's routes in the cluster: the local file's, with each upstream's targets the
    Service of the same name (port 80)."""
    if system == "aether":
        return aether_routes(AETHER_CURRENT_PHASE, lambda s: f"http://{s}", "http://aether-monolith")
    routes = json.loads((CONFIG / spec["routes"]).read_text())
    for name, upstream in routes["upstreams"].items():
        upstream["targets"] = [f"http://{spec['upstreams'].get(name, name)}"]
    # A service `svckit new --system` added has its route in the local run's file only.
    local = json.loads((CONFIG / f"{system}-local.json").read_text())
    routed = {r["name"] for r in routes["routes"]}
    for route in local["routes"]:
        if route["name"] in spec["services"] and route["name"] not in routed:
            routes["upstreams"][route["name"]] = {"targets": [f"http://{route['name']}"]}
            at = len(routes["routes"]) - (1 if routes["routes"][-1]["paths"] == ["/"] else 0)
            routes["routes"].insert(at, {**route, "upstream": route["name"]})
    return routes


def as_json(value):
    return json.dumps(value, indent=2) + "\n"


def yaml_list(items):
    return "".join(f"  - {i}\n" for i in items)


def system_files(system, spec):
    files = {}
    for service, options in spec["services"].items():
        options = {**options, **(GATEWAY if options.get("gateway") else {})}
        flags = {"grpc": options.get("grpc", False), "db": False, "bus": False}
        values = svckit.values_for(service, system, flags)
        values["routes"] = options.get("routes", False)
        values["metrics_port"] = options.get("metrics_port", False)
        values["settings"] = [f"- {json.dumps(s)}" for s in options.get("settings", [])]
        for path, text in svckit.render_tree(svckit.TEMPLATES / "service" / "deploy" / "k8s" / "base",
                                             values).items():
            files[f"base/{service}/{path}"] = text
        if values["routes"]:
            files[f"base/{service}/routes.json"] = as_json(system_routes(system, spec))
    header = (f"# {system}: every service of the system (tools/manifests.py writes this directory from\n"
              "# templates/service/deploy/k8s; docs/deploy.md). Written for kustomize 2.0 and later.\n")
    files["base/kustomization.yaml"] = (
        header + "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nbases:\n" +
        yaml_list(spec["services"]))
    images = "".join(f"  - name: svckit/{s}\n    newTag: {{tag}}\n" for s in spec["services"])
    for env, (namespace, tag) in {"dev": (f"{system}-dev", "dev"), "prod": (system, '"0.1.0"')}.items():
        files[f"overlays/{env}/kustomization.yaml"] = (
            f"# {system} in {env}: namespace {namespace}, images tagged {tag.strip(chr(34))}.\n"
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            f"namespace: {namespace}\nbases:\n  - ../../base\nimages:\n{images.format(tag=tag)}")
    if system == "aether":
        for phase in AETHER_PHASES:
            files[f"phases/phase-{phase}/kustomization.yaml"] = (
                f"# AETHER-AI in production with migration phase {phase}'s routes (seed 000 §8.2):\n"
                f"#   kubectl apply -k deploy/k8s/aether/phases/phase-{phase}\n"
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nbases:\n"
                "  - ../../overlays/prod\nconfigMapGenerator:\n  - name: gateway-routes\n"
                "    behavior: replace\n    files:\n      - routes.json\n")
            files[f"phases/phase-{phase}/routes.json"] = as_json(
                aether_routes(phase, lambda s: f"http://{s}", "http://aether-monolith"))
    return files


def programs():
    """Each service program of the systems and its directory (AETHER-AI's Analytics serves
    Raptorflow too: one program, one image)."""
    found = {}
    for system, spec in SYSTEMS.items():
        for service in spec["services"]:
            home = ROOT / "services" / ("gateway" if service == "gateway" else f"{system}/{service}")
            if home.is_dir():
                found.setdefault(service, (system, home))
    return found


def dockerfiles():
    """A Dockerfile beside each service program, from templates/system/Dockerfile."""
    template = ROOT / "templates" / "system" / "Dockerfile"
    files = {}
    for service, (system, home) in programs().items():
        values = svckit.values_for(service, system, {"grpc": False, "db": False, "bus": False})
        files[home / "Dockerfile"] = svckit.render(template.read_text(), values, str(template))
    return files


def local_migration_files():
    """services/gateway/config/aether-phase-N.json: the local system (every service in one process
    on 8100) beside the stand-in monolith on 8090 (`AETHER_PHASE=N ./dev.sh run aether`)."""
    return {f"aether-phase-{phase}.json": as_json(
        aether_routes(phase, lambda s: "http://127.0.0.1:8100", "http://127.0.0.1:8090"))
        for phase in AETHER_PHASES}


def main():
    check = "--check" in sys.argv
    wanted = {}
    for system, spec in SYSTEMS.items():
        for path, text in system_files(system, spec).items():
            wanted[OUT / system / path] = text
    for name, text in local_migration_files().items():
        wanted[CONFIG / name] = text
    wanted.update(dockerfiles())
    stale = [p for p, text in wanted.items() if not p.exists() or p.read_text() != text]
    # A file under deploy/k8s that nothing writes any more is stale too.
    stale += [p for p in OUT.rglob("*") if p.is_file() and p not in wanted and p != SYSTEMS_FILE]
    if check:
        for p in stale:
            print(f"{p.relative_to(ROOT)} is not what tools/manifests.py writes: run it", file=sys.stderr)
        return 1 if stale else 0
    for p in stale:
        if p in wanted:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(wanted[p])
        else:
            p.unlink()
    print(f"tools/manifests.py: {len(wanted)} files, {len(stale)} written or removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
