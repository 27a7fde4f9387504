"""The Kubernetes manifests of deploy/k8s (tools/manifests.py writes them from the service
templates) and AETHER-AI's migration routes: built with kubectl's kustomize, validated against the
Kubernetes API's schemas and svckit's lifecycle (tools/check_manifests.py), and the routes taken
by the real gateway."""
import copy
import json
import os
import pathlib
import subprocess
import sys

import pytest
import requests

from conftest import make_token

SOURCE = pathlib.Path(os.environ.get("SVCKIT_SOURCE_DIR", pathlib.Path(__file__).parents[2]))
sys.path.insert(0, str(SOURCE / "tools"))
import check_manifests  # noqa: E402

OVERLAYS = sorted(str(p.parent.relative_to(SOURCE)) for kind in ("overlays", "phases")
                  for p in (SOURCE / "deploy" / "k8s").glob(f"*/{kind}/*/kustomization.yaml"))


def test_the_manifests_are_what_the_templates_make():
    done = subprocess.run([sys.executable, SOURCE / "tools" / "manifests.py", "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_every_system_has_dev_and_prod_and_aether_its_five_phases():
    assert {"deploy/k8s/aether/overlays/dev", "deploy/k8s/aether/overlays/prod", "deploy/k8s/raptorflow/overlays/prod",
            "deploy/k8s/apartment/overlays/dev"} <= set(OVERLAYS)
    assert [o for o in OVERLAYS if "/phases/" in o] == [f"deploy/k8s/aether/phases/phase-{n}" for n in range(1, 6)]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_overlay_fits_the_api_schemas_and_the_lifecycle(overlay):
    objects, problems = check_manifests.check(SOURCE / overlay)
    assert problems == []
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    assert len(deployments) >= 6
    for kind, version in [("HorizontalPodAutoscaler", "autoscaling/v2"), ("PodDisruptionBudget", "policy/v1"),
                          ("ServiceMonitor", "monitoring.coreos.com/v1")]:
        found = [o for o in objects if o["kind"] == kind]
        assert len(found) == len(deployments) and {o["apiVersion"] for o in found} == {version}


@pytest.fixture(scope="module")
def prod():
    objects, problems = check_manifests.check(SOURCE / "deploy/k8s/aether/overlays/prod")
    assert problems == []
    return objects


def mutated(objects, kind, name, change):
    objects = copy.deepcopy(objects)
    target = next(o for o in objects if o["kind"] == kind and o["metadata"]["name"].startswith(name))
    change(target)
    return objects


def container(deployment):
    return deployment["spec"]["template"]["spec"]["containers"][0]


# Each a mistake the checker must name (a checker that passes everything would pass the overlays too).
MISTAKES = {
    "probe path": ("Deployment", "task-manager",
                   lambda d: container(d)["readinessProbe"]["httpGet"].update(path="/healthz"),
                   "readinessProbe asks /healthz"),
    "no liveness probe": ("Deployment", "security", lambda d: container(d).pop("livenessProbe"), "no livenessProbe"),
    "root": ("Deployment", "analytics",
             lambda d: d["spec"]["template"]["spec"]["securityContext"].update(runAsNonRoot=False), "may run as root"),
    "writable root": ("Deployment", "analytics",
                      lambda d: container(d)["securityContext"].update(readOnlyRootFilesystem=False), "writable"),
    "escalation": ("Deployment", "gateway",
                   lambda d: container(d)["securityContext"].pop("allowPrivilegeEscalation"), "allowPrivilegeEscalation"),
    "grace": ("Deployment", "ai-gateway",
              lambda d: d["spec"]["template"]["spec"].update(terminationGracePeriodSeconds=20), "killed mid-drain"),
    "limits": ("Deployment", "code-assistant", lambda d: container(d)["resources"].pop("limits"), "no cpu and memory limits"),
    "hpa v2beta shape": ("HorizontalPodAutoscaler", "task-manager",
                         lambda h: h["spec"]["metrics"][0]["resource"].update(target=None, targetAverageUtilization=70),
                         "HorizontalPodAutoscaler task-manager"),
    "hpa elsewhere": ("HorizontalPodAutoscaler", "security",
                      lambda h: h["spec"]["scaleTargetRef"].update(name="nobody"), "Deployment security: no HorizontalPodAutoscaler"),
    "old pdb api": ("PodDisruptionBudget", "analytics", lambda p: p.update(apiVersion="policy/v1beta9"), "no schema"),
    "pdb selects nothing": ("PodDisruptionBudget", "gateway",
                            lambda p: p["spec"]["selector"]["matchLabels"].update({"app.kubernetes.io/name": "x"}),
                            "Deployment gateway: no PodDisruptionBudget"),
    "monitor port number": ("ServiceMonitor", "integration-hub",
                            lambda m: m["spec"]["endpoints"][0].update(port=8000), "port must be string"),
    "monitor port name": ("ServiceMonitor", "gateway",
                          lambda m: m["spec"]["endpoints"][0].update(port="http-metrics"), "port http-metrics"),
    "wrong type": ("Deployment", "security", lambda d: d["spec"].update(replicas="three"), "replicas must be integer"),
    "container port text": ("Deployment", "security",
                            lambda d: container(d)["ports"][0].update(containerPort="8000"), "containerPort must be integer"),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_the_checker_names_each_mistake(prod, mistake):
    kind, name, change, expected = MISTAKES[mistake]
    problems = check_manifests.problems_of(mutated(prod, kind, name, change))
    assert any(expected in p for p in problems), problems


def test_a_kustomization_that_does_not_build_is_an_error(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - missing.yaml\n")
    with pytest.raises(SystemExit) as failed:
        check_manifests.check(tmp_path)
    assert "kubectl kustomize failed" in str(failed.value)


PHASE_SHARES = {1: 0, 2: 20, 3: 50, 4: 80, 5: 95}


@pytest.mark.parametrize("phase", sorted(PHASE_SHARES))
def test_each_phase_routes_file_is_taken_by_the_gateway(start_service, phase):
    routes = SOURCE / "services" / "gateway" / "config" / f"aether-phase-{phase}.json"
    parsed = json.loads(routes.read_text())
    tasks = next(r for r in parsed["routes"] if r["name"] == "tasks")
    assert tasks.get("split", {}).get("weight", 100) == PHASE_SHARES[phase]
    if 0 < PHASE_SHARES[phase] < 100:
        assert tasks["rollback"]["max_error_rate"] == 0.01 and tasks["rollback"]["max_latency_increase"] == 0.2
    assert parsed["routes"][-1] == {"name": "monolith", "paths": ["/"], "upstream": "monolith", "auth": "public"}
    # Kubernetes' copy is the same but for where the upstreams are.
    k8s = json.loads((SOURCE / "deploy/k8s/aether/phases" / f"phase-{phase}" / "routes.json").read_text())
    assert k8s["routes"] == parsed["routes"]
    gw = start_service("gateway", GATEWAY_ROUTES=routes, wait_ready=False)
    gw.wait_log("listening")
    assert requests.get(gw.url + "/health/live", timeout=5).status_code == 200


def test_phase_two_sends_a_fifth_of_the_users_to_the_task_manager(start_service, tmp_path):
    """The local migration run: the services, a stand-in monolith, the gateway on phase 2's
    routes (AETHER_PHASE=2 ./dev.sh run aether does the same on fixed ports)."""
    services = start_service("task-manager", DATA_DIR=tmp_path / "tm")
    legacy = subprocess.Popen([sys.executable, SOURCE / "tools" / "aether_monolith.py", "0"], stdout=subprocess.PIPE, text=True)
    try:
        legacy_url = legacy.stdout.readline().strip().split()[-1]
        routes = json.loads((SOURCE / "services/gateway/config/aether-phase-2.json").read_text())
        for name, upstream in routes["upstreams"].items():
            upstream["targets"] = [legacy_url if name == "monolith" else services.url]
        path = tmp_path / "routes.json"
        path.write_text(json.dumps(routes))
        gw = start_service("gateway", GATEWAY_ROUTES=path)
        sides = {"task-manager": 0, "monolith": 0}
        session = requests.Session()
        for i in range(400):
            token = make_token(sub=f"user-{i}")
            r = session.get(gw.url + "/api/v1/tasks", headers={"Authorization": "Bearer " + token}, timeout=5)
            assert r.status_code == 200, r.text
            sides["monolith" if r.json().get("served_by") == "aether-monolith" else "task-manager"] += 1
        share = sides["task-manager"] / 400
        print(f"phase 2: {sides}")
        assert 0.14 <= share <= 0.26, sides
        # What no service has taken goes to the monolith.
        r = session.get(gw.url + "/api/v1/themes", timeout=5)
        assert r.json()["served_by"] == "aether-monolith"
    finally:
        legacy.terminate()
        legacy.wait(timeout=10)
