"""`svckit new` as a user runs it: the installed command (the install test's prefix) generates
projects outside the repository; each is built against the installed svckit and runs its own
tests (unit tests on svckit::testing, black-box tests on the binary), its alert rules' promtool
tests and its manifests' schema check. A change to the SDK or the templates that breaks a
generated project fails here.

    SVCKIT_PREFIX=build/install-check/prefix /usr/bin/python3 -m pytest -q tests/install/test_svckit_new.py
"""
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

PREFIX = pathlib.Path(os.environ.get("SVCKIT_PREFIX", "build/install-check/prefix")).resolve()
SOURCE = pathlib.Path(__file__).resolve().parents[2]
SVCKIT = PREFIX / "bin" / "svckit"


def run(*command, cwd=None, env=None):
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, f"{command} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def new(*args, cwd):
    return subprocess.run([str(SVCKIT), "new", *args], cwd=cwd, capture_output=True, text=True)


def build_and_test(project):
    """Configures, builds and runs the project's tests as its README says; the seconds taken."""
    env = dict(os.environ)
    env.pop("CCACHE_DIR", None)  # a cold build: no compiler cache
    started = time.monotonic()
    run("cmake", "-S", project, "-B", project / "build", "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
        f"-DCMAKE_PREFIX_PATH={PREFIX}", f"-DPython3_EXECUTABLE={sys.executable}", env=env)
    run("cmake", "--build", project / "build", env=env)
    tests = run("ctest", "--test-dir", project / "build", "--output-on-failure", env=env)
    seconds = time.monotonic() - started
    assert "100% tests passed" in tests.stdout, tests.stdout
    print(f"{project.name}: generated project built and tested in {seconds:.1f} s")
    return seconds


@pytest.fixture(scope="module")
def installed():
    assert SVCKIT.exists(), f"no svckit command at {SVCKIT}: the install test installs it"
    return SVCKIT


@pytest.mark.parametrize("name,flags", [("inventory", ["--db", "--bus"]),
                                        ("stock-levels", ["--grpc", "--db", "--bus"]),
                                        # a C library function's name: the code's namespace is index_service
                                        ("index", [])])
def test_a_generated_project_builds_against_the_installed_svckit_and_passes_its_tests(
        installed, tmp_path, name, flags):
    made = new(name, *flags, "--dir", tmp_path / name, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    project = tmp_path / name
    assert (project / "CMakeLists.txt").read_text().count("find_package(svckit REQUIRED)") == 1
    assert (project / "src" / "main.cpp").exists()
    assert ("--grpc" in flags) == (project / "proto").exists()
    sources = sorted(str(p) for p in project.rglob("*.[ch]pp"))
    run("clang-format", "--dry-run", "-Werror", *sources, cwd=project)
    run(sys.executable, SOURCE / "tools" / "check_gcc12_coroutines.py", *sources)
    build_and_test(project)
    # Its own alert rules pass their promtool tests; its dashboard is JSON.
    run("promtool", "test", "rules", "deploy/prometheus/tests/svckit_test.yml", cwd=project)
    # Its manifests build with kustomize and fit the Kubernetes API's schemas.
    for overlay in ("dev", "prod"):
        run(sys.executable, SOURCE / "tools" / "check_manifests.py", project / "deploy" / "k8s" / "overlays" / overlay)


def test_names_are_checked_and_nothing_is_overwritten_without_force(installed, tmp_path):
    for bad in ["Inventory", "stock_levels", "9lives", "a", "x-", "two--hyphens", "x" * 41,
                "../escape", "testing", "svckit", "item", "task", ""]:
        refused = new(bad, cwd=tmp_path)
        assert refused.returncode == 2, (bad, refused.stdout, refused.stderr)
        assert refused.stderr.startswith("svckit: "), refused.stderr
        assert refused.stderr.count("\n") == 1, "one line"
    assert list(tmp_path.iterdir()) == [], "a refused name writes nothing"

    assert new("orders", cwd=tmp_path).returncode == 0
    module = tmp_path / "orders" / "src" / "orders.cpp"
    module.write_text("// mine\n")
    again = new("orders", cwd=tmp_path)
    assert again.returncode == 2
    assert "exists" in again.stderr and "--force" in again.stderr
    assert module.read_text() == "// mine\n", "nothing written"
    assert new("orders", "--force", cwd=tmp_path).returncode == 0
    assert "svckit::Module" in (tmp_path / "orders" / "src" / "orders.hpp").read_text()
    # A file where the project's directory would be.
    (tmp_path / "taken").write_text("x")
    clash = new("taken", cwd=tmp_path)
    assert clash.returncode == 2 and "not a directory" in clash.stderr


def repository_copy(where):
    """The repository's files (as git has them, new ones included), copied to `where`."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=SOURCE, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, listed):
        source = SOURCE / os.fsdecode(name)
        if source.is_file():
            target = where / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return where


def test_in_the_repository_a_service_joins_its_system(tmp_path):
    """`svckit new shelf --system aether` in a copy of the repository: the service is built with
    the system, serves in its combined process, has a gateway route and manifests, and its tests
    are ctest's (what CI runs). The copy's build reuses the compiler cache of svckit's own."""
    repo = repository_copy(tmp_path / "repo")
    made = subprocess.run([sys.executable, repo / "tools" / "svckit", "new", "shelf", "--system", "aether",
                           "--db", "--bus"], cwd=repo, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    assert (repo / "services/aether/shelf/shelf.cpp").exists()
    routes = (repo / "services/gateway/config/aether.json").read_text()
    assert '{"name": "shelf", "paths": ["/api/v1/shelf"], "upstream": "aether", "auth": "authenticated"}' in routes
    run(sys.executable, repo / "tools" / "manifests.py", "--check")
    run(sys.executable, SOURCE / "tools" / "check_manifests.py", repo / "deploy/k8s/aether/overlays/prod")
    assert "shelf" in (repo / "deploy/k8s/aether/base/kustomization.yaml").read_text()
    # The copy formats and layers as the repository's CI demands.
    run("clang-format", "--dry-run", "-Werror", "services/aether/local_system.cpp", "services/aether/shelf/shelf.cpp",
        cwd=repo)
    # Taken now: a second time is refused, the repository untouched.
    again = subprocess.run([sys.executable, repo / "tools" / "svckit", "new", "shelf", "--system", "aether"],
                           cwd=repo, capture_output=True, text=True)
    assert again.returncode == 2 and "taken" in again.stderr

    # dev.sh's compiler-cache settings, whoever runs this: the copy's files are new to ccache.
    env = dict(os.environ, CCACHE_BASEDIR=str(repo), CCACHE_NOHASHDIR="1",
               CCACHE_SLOPPINESS="pch_defines,time_macros,include_file_mtime,include_file_ctime")
    build = repo / "build"
    started = time.monotonic()
    run("cmake", "-S", repo, "-B", build, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
        f"-DPython3_EXECUTABLE={sys.executable}", "-DSVCKIT_BUILD_BENCHMARKS=OFF", "-DSVCKIT_BUILD_PYTHON=OFF",
        env=env)
    run("cmake", "--build", build, "--target", "shelf", "shelf_test", "aether", env=env)
    print(f"the repository copy with shelf: configured and built in {time.monotonic() - started:.0f} s")
    tests = run("ctest", "--test-dir", build, "-R", "^shelf_", "--output-on-failure", env=env)
    assert "100% tests passed, 0 tests failed out of 2" in tests.stdout, tests.stdout
    # Its module serves in the system's combined process (./dev.sh run aether runs that).
    port = free_port()
    env = {"PATH": os.environ["PATH"], "HOST": "127.0.0.1", "PORT": str(port), "GRPC_PORT": "0",
           "DATA_DIR": str(tmp_path / "data"), "SHUTDOWN_DELAY": "0", "LOG_LEVEL": "warning",
           "JWT_SECRET_KEY": "k" * 48, "SECURITY_ADMIN_EMAIL": "a@b.c", "SECURITY_ADMIN_PASSWORD": "admin-password-1"}
    aether = subprocess.Popen([build / "bin" / "aether"], env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(url + "/ready", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert aether.poll() is None and time.monotonic() < deadline, "aether did not start"
            time.sleep(0.1)
        created = requests.post(url + "/api/v1/shelf", json={"name": "shelf one", "quantity": 2}, timeout=5)
        assert created.status_code == 201, created.text
        assert requests.get(url + created.headers["Location"], timeout=5).json()["name"] == "shelf one"
        assert "/api/v1/shelf" in requests.get(url + "/openapi.json", timeout=5).json()["paths"]
    finally:
        aether.send_signal(signal.SIGTERM)
        assert aether.wait(timeout=30) == 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
