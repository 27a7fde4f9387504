#!/usr/bin/env python3
"""Checks Kubernetes manifests (docs/deploy.md): each kustomization given is built with
`kubectl kustomize`, every object is validated against the Kubernetes API's schemas (npm's
kubernetes-models 4.5.1, which has autoscaling/v2 and policy/v1, and the Prometheus Operator's
ServiceMonitor CRD from @kubernetes-models/prometheus-operator: tools/npm/check-k8s.cjs), then
against what svckit's lifecycle needs:

  - every Deployment: startup, liveness and readiness probes on /health/startup, /health/live and
    /ready of a port it declares; non-root, no privilege escalation, a read-only root
    filesystem, every capability dropped; requests and limits; terminationGracePeriodSeconds
    longer than SHUTDOWN_DELAY + 2 x DRAIN_TIMEOUT as its ConfigMap sets them (servers drain,
    then bus consumers finish, each within DRAIN_TIMEOUT);
  - for each Deployment, a Service selecting it, a HorizontalPodAutoscaler and a
    PodDisruptionBudget on it, and a ServiceMonitor on its Service's port.

    /usr/bin/python3 tools/check_manifests.py deploy/k8s/aether/overlays/dev [...]

Exit 1 and one line per problem when something is wrong. KUBECTL names the kubectl to use.
"""
import json
import os
import pathlib
import re
import subprocess
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHECKER = ROOT / "tools" / "npm" / "check-k8s.cjs"
PROBES = {"startupProbe": "/health/startup", "livenessProbe": "/health/live", "readinessProbe": "/ready"}


def build(kustomization):
    kubectl = os.environ.get("KUBECTL", "kubectl")
    done = subprocess.run([kubectl, "kustomize", str(kustomization)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{kustomization}: kubectl kustomize failed: {done.stderr.strip()}")
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def seconds(text):
    """A svckit duration (250ms, 5s, 2m, or bare seconds) in seconds."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", str(text).strip())
    if not m:
        return None
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def settings_of(pod, container, objects):
    """The environment the container starts with, from its ConfigMaps and env."""
    config_maps = {o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"}
    values = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef")
        if ref:
            values.update(config_maps.get(ref["name"], {}))
    for e in container.get("env", []):
        if "value" in e:
            values[e["name"]] = e["value"]
    return values


def check_deployment(d, objects):
    name = d["metadata"]["name"]
    problems = []
    pod = d["spec"]["template"]["spec"]
    labels = d["spec"]["template"]["metadata"].get("labels", {})
    security = pod.get("securityContext", {})
    for container in pod["containers"]:
        where = f"Deployment {name}, container {container['name']}"
        ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
        for probe, path in PROBES.items():
            get = container.get(probe, {}).get("httpGet")
            if not get:
                problems.append(f"{where}: no {probe} (httpGet {path})")
            elif get.get("path") != path:
                problems.append(f"{where}: {probe} asks {get.get('path')}, svckit answers it on {path}")
            elif get.get("port") not in ports and get.get("port") not in ports.values():
                problems.append(f"{where}: {probe} on port {get.get('port')}, which it does not declare")
        own = container.get("securityContext", {})
        if not (own.get("runAsNonRoot", security.get("runAsNonRoot")) is True):
            problems.append(f"{where}: may run as root (runAsNonRoot)")
        if own.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation is not false")
        if own.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{where}: the root filesystem is writable (readOnlyRootFilesystem)")
        if "ALL" not in own.get("capabilities", {}).get("drop", []):
            problems.append(f"{where}: capabilities are not all dropped")
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            if not {"cpu", "memory"} <= set(resources.get(kind, {})):
                problems.append(f"{where}: no cpu and memory {kind}")
        env = settings_of(pod, container, objects)
        delay, drain = seconds(env.get("SHUTDOWN_DELAY", "5s")), seconds(env.get("DRAIN_TIMEOUT", "30s"))
        grace = pod.get("terminationGracePeriodSeconds", 30)
        if delay is None or drain is None:
            problems.append(f"{where}: SHUTDOWN_DELAY or DRAIN_TIMEOUT is not a duration")
        elif grace <= delay + 2 * drain:
            # The App drains its servers (DRAIN_TIMEOUT), then its bus consumers (DRAIN_TIMEOUT
            # again), then stops its modules.
            problems.append(f"{where}: terminationGracePeriodSeconds {grace} does not cover "
                            f"SHUTDOWN_DELAY + 2 x DRAIN_TIMEOUT ({delay:g} s + 2 x {drain:g} s): "
                            "the pod would be killed mid-drain")
    services = [s for s in objects if s["kind"] == "Service" and
                s["metadata"].get("namespace") == d["metadata"].get("namespace") and
                matches(s["spec"].get("selector"), labels)]
    if not services:
        problems.append(f"Deployment {name}: no Service selects it")
    if not any(h["kind"] == "HorizontalPodAutoscaler" and h["spec"]["scaleTargetRef"].get("name") == name
               and h["spec"]["scaleTargetRef"].get("kind") == "Deployment" for h in objects):
        problems.append(f"Deployment {name}: no HorizontalPodAutoscaler")
    if not any(p["kind"] == "PodDisruptionBudget" and
               matches(p["spec"].get("selector", {}).get("matchLabels"), labels) for p in objects):
        problems.append(f"Deployment {name}: no PodDisruptionBudget")
    for s in services:
        port_names = {p.get("name") for p in s["spec"].get("ports", [])}
        monitored = [m for m in objects if m["kind"] == "ServiceMonitor" and
                     matches(m["spec"].get("selector", {}).get("matchLabels"), s["metadata"].get("labels", {}))]
        if not monitored:
            problems.append(f"Service {s['metadata']['name']}: no ServiceMonitor scrapes it")
        for m in monitored:
            for e in m["spec"].get("endpoints", []):
                if e.get("port") not in port_names:
                    problems.append(f"ServiceMonitor {m['metadata']['name']}: port {e.get('port')} "
                                    f"is not one of Service {s['metadata']['name']}'s")
    return problems


def check(kustomization):
    objects = build(kustomization)
    return objects, problems_of(objects)


def problems_of(objects):
    """What is wrong with `objects` (built manifests): the schemas' findings, then svckit's."""
    problems = []
    schema = subprocess.run(["node", str(CHECKER)], input=json.dumps(objects), capture_output=True,
                            text=True)
    if schema.returncode != 0:
        problems += [line for line in schema.stdout.splitlines() if not line.startswith("check-k8s:")]
        if not problems:
            problems.append(f"the schema check failed: {schema.stderr.strip()[-500:]}")
    for d in objects:
        if d["kind"] == "Deployment":
            problems += check_deployment(d, objects)
    return problems


def main(paths):
    failed = False
    for path in paths:
        objects, problems = check(path)
        for p in problems:
            print(f"{path}: {p}")
        failed |= bool(problems)
        kinds = sorted({o["kind"] for o in objects})
        print(f"{path}: {len(objects)} objects ({', '.join(kinds)}): "
              f"{'problems above' if problems else 'valid'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
