"""AETHER-AI as containers (docs/deploy.md): the images `./dev.sh images aether` built, each
service in its own container on one podman network of this test's, RabbitMQ from Debian's
package in its own, the gateway the only one reachable (on a loopback port); every container
as Kubernetes runs it (user 10001, a read-only root filesystem, no capabilities, no new
privileges). Probed end to end through the gateway, then stopped with SIGTERM.

    CONTAINERS_CONF=deploy/containers/containers.conf /usr/bin/python3 -m pytest -q tests/containers
"""
import json
import os
import pathlib
import random
import socket
import subprocess
import time

import jwt
import pytest
import requests

SOURCE = pathlib.Path(__file__).resolve().parents[2]
os.environ.setdefault("CONTAINERS_CONF", str(SOURCE / "deploy" / "containers" / "containers.conf"))
SECRET = "containers-test-" + "k" * 32
SERVICES = ["security", "task-manager", "analytics", "integration-hub", "ai-gateway", "code-assistant"]
# The gateway's routes in the containers: aether.json's, each to its service's container.
ROUTE_SERVICE = {"security": "security", "tasks": "task-manager", "ai": "ai-gateway", "code": "code-assistant",
                 "analytics": "analytics", "integrations": "integration-hub", "webhooks": "integration-hub"}


def podman(*args, check=True, timeout=120):
    done = subprocess.run(["podman", *map(str, args)], capture_output=True, text=True, timeout=timeout)
    assert not check or done.returncode == 0, f"podman {' '.join(map(str, args))}: {done.stderr}"
    return done


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class System:
    def __init__(self, tmp_path):
        self.tag = f"svckit-test-{os.getpid()}-{random.randrange(1 << 16)}"
        subnet = random.randrange(100, 250)
        self.network = self.tag
        podman("network", "create", "--subnet", f"10.{subnet}.{random.randrange(1, 250)}.0/24", self.network)
        self.containers = []
        self.tmp = tmp_path
        self.port = free_port()

    def run(self, name, image, *args, env=None, read_only=True):
        options = ["--name", f"{self.tag}-{name}", "--network", self.network, "--network-alias", name,
                   "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
        if read_only:
            options += ["--read-only", "--tmpfs", "/tmp", "--tmpfs", "/var/lib/svckit:rw,U"]
        for k, v in (env or {}).items():
            options += ["--env", f"{k}={v}"]
        podman("run", "--detach", *options, *args, image)
        self.containers.append(f"{self.tag}-{name}")
        return f"{self.tag}-{name}"

    def logs(self, container):
        return podman("logs", container, check=False).stdout[-3000:]

    def remove(self):
        for c in self.containers:
            podman("rm", "--force", "--time", "5", c, check=False)
        podman("network", "rm", "--force", self.network, check=False)


@pytest.fixture
def system(tmp_path):
    for image in ["localhost/svckit-rabbitmq:latest", "svckit/gateway:dev", *[f"svckit/{s}:dev" for s in SERVICES]]:
        assert podman("image", "exists", image, check=False).returncode == 0, \
            f"no image {image}: ./dev.sh images aether makes them"
    s = System(tmp_path)
    yield s
    s.remove()


def routes():
    local = json.loads((SOURCE / "services" / "gateway" / "config" / "aether.json").read_text())
    upstreams = {s: {"targets": [f"http://{s}:8000"], "health_check": {"path": "/ready", "interval_seconds": 1}}
                 for s in sorted(set(ROUTE_SERVICE.values()))}
    return {"upstreams": upstreams,
            "routes": [{**r, "upstream": ROUTE_SERVICE[r["name"]]} for r in local["routes"]],
            "cors": local["cors"]}


def wait_for(check, what, timeout=90):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
            if value:
                return value
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def test_aether_as_containers_end_to_end(system):
    conf = system.tmp / "rabbitmq.conf"
    conf.write_text("loopback_users = none\nlisteners.tcp.default = 5672\n")
    conf.chmod(0o644)
    system.run("rabbitmq", "localhost/svckit-rabbitmq:latest", "--volume", f"{conf}:/etc/rabbitmq/rabbitmq.conf:ro,Z",
               read_only=False)
    common = {"JWT_SECRET_KEY": SECRET, "BUS_URL": "amqp://guest:guest@rabbitmq:5672/", "SHUTDOWN_DELAY": "0",
              "LOG_LEVEL": "info"}
    for service in SERVICES:
        env = dict(common, SERVICE_NAME=service)
        if service == "security":
            env.update(SECURITY_ADMIN_EMAIL="admin@aether.local", SECURITY_ADMIN_PASSWORD="containers-admin-1",
                       SECURITY_BCRYPT_COST="10")
        if service == "code-assistant":
            env.update(AI_GATEWAY_GRPC="ai-gateway:50051")
        if service == "ai-gateway":
            env.update(GRPC_PORT="50051")
        system.run(service, f"svckit/{service}:dev", env=env)
    routes_file = system.tmp / "routes.json"
    routes_file.write_text(json.dumps(routes()))
    routes_file.chmod(0o644)
    gateway = system.run("gateway", "svckit/gateway:dev", "--publish", f"127.0.0.1:{system.port}:8000",
                         "--volume", f"{routes_file}:/etc/svckit/routes.json:ro,Z",
                         env=dict(common, GATEWAY_ROUTES="/etc/svckit/routes.json", METRICS_PORT="9100",
                                  TRUSTED_PROXIES="10.0.0.0/8"))
    url = f"http://127.0.0.1:{system.port}"
    try:
        wait_for(lambda: requests.get(url + "/ready", timeout=2).status_code == 200, "the gateway's readiness")
        # Each container's HEALTHCHECK (the program's --health-check) says healthy.
        for c in system.containers[1:]:
            check = podman("healthcheck", "run", c, check=False)
            assert check.returncode == 0, (c, check.stdout, check.stderr, system.logs(c))

        login = wait_for(lambda: requests.post(url + "/api/v1/auth/login", timeout=10, json={
            "email": "admin@aether.local", "password": "containers-admin-1"}), "a login")
        assert login.status_code == 200, login.text
        admin = {"Authorization": "Bearer " + login.json()["access_token"]}
        ids = []
        for i in range(3):
            r = requests.post(url + "/api/v1/tasks", json={"title": f"in a container {i}"}, headers=admin, timeout=10)
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        assert requests.get(f"{url}/api/v1/tasks/{ids[0]}", headers=admin, timeout=10).json()["task"]["title"] == "in a container 0"
        # The Task Manager's events reach Analytics over RabbitMQ, container to container.
        developer = {"Authorization": "Bearer " + jwt.encode(
            {"sub": "dev-1", "roles": ["developer"], "type": "access", "iat": int(time.time()),
             "exp": int(time.time()) + 600}, SECRET, algorithm="HS256")}

        def created():
            rows = requests.get(url + "/api/v1/analytics/usage", headers=developer, timeout=5).json()["usage"]
            return sum(r["count"] for r in rows if r["metric"] == "task.created") == 3
        wait_for(created, "three task.created events in Analytics")
        # Client mistakes stay the client's, at the edge and behind it.
        assert requests.post(url + "/api/v1/tasks", data=b"{", headers={**admin, "Content-Type": "application/json"},
                             timeout=10).status_code == 400
        assert requests.get(url + "/api/v1/tasks", timeout=10).status_code == 401
        # /docs: Swagger UI from the image's own copy (SWAGGER_UI_DIR), no network needed.
        page = requests.get(url + "/docs", timeout=10)
        assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text, page.text[:300]
        bundle = requests.get(url + "/docs/swagger-ui-bundle.js", timeout=10)
        assert bundle.status_code == 200 and len(bundle.content) > 500_000, bundle.status_code
    finally:
        for c in system.containers[1:]:
            print(c, system.logs(c)[-800:])

    # SIGTERM (the images' STOPSIGNAL): each drains and exits 0.
    for c in reversed(system.containers[1:]):
        podman("stop", "--time", "30", c)
        state = json.loads(podman("inspect", c).stdout)[0]["State"]
        assert state["ExitCode"] == 0, (c, state, system.logs(c))


def test_images_carry_what_their_program_needs_and_no_more(system):
    sizes = {}
    for image in ["localhost/svckit-runtime:latest", *[f"svckit/{s}:dev" for s in SERVICES + ["gateway"]]]:
        sizes[image] = int(podman("image", "inspect", "--format", "{{.Size}}", image).stdout)
    print({k: f"{v / 1e6:.0f} MB" for k, v in sizes.items()})
    base = sizes["localhost/svckit-runtime:latest"]

    def libraries(image):
        listing = podman("run", "--rm", "--network=none", "--entrypoint", "/bin/sh", image, "-c",
                         "ls /usr/lib/x86_64-linux-gnu").stdout
        return set(listing.split())
    plain, grpc = libraries("svckit/task-manager:dev"), libraries("svckit/ai-gateway:dev")
    assert not any(l.startswith("libgrpc") for l in plain), "the Task Manager does not use gRPC"
    assert any(l.startswith("libgrpc++") for l in grpc), "the AI Gateway serves gRPC"
    assert not any(l.startswith("libgrpc") for l in libraries("localhost/svckit-runtime:latest"))
    # The program's layer is the program and its libraries: tens of megabytes, not a toolchain.
    for image, size in sizes.items():
        assert size - base < 80e6, (image, size - base)
    # Non-root by default, and the program is what runs.
    config = json.loads(podman("image", "inspect", "svckit/task-manager:dev").stdout)[0]["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["/usr/local/bin/task-manager"]
    assert config["StopSignal"] == "SIGTERM"
