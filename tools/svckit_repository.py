"""`svckit new NAME --system SYSTEM` in svckit's repository (tools/svckit; docs/svckit-new.md):
the service under services/SYSTEM/NAME from the same templates as a project of its own, then
wired in where a system's services are:

  - the build: services/SYSTEM/CMakeLists.txt adds its directory and links its module into the
    system's combined process; its unit test and black-box test are ctest tests (CI runs them);
  - the local run: services/SYSTEM/local_system.cpp installs its module (./dev.sh run SYSTEM);
  - the gateway: a route for /api/v1/NAME in the system's local routes file (Kubernetes' routes
    take it from there; the separate-process run, whose ports dev.sh lists, does not have it);
  - Kubernetes: deploy/k8s/systems.json lists it, and tools/manifests.py writes its manifests.
"""
import json
import re
import shutil
import subprocess
import sys

# The routes file of each system's local run.
LOCAL_ROUTES = {"aether": "aether.json", "raptorflow": "raptorflow-local.json",
                "apartment": "apartment-local.json"}


def add_service(root, name, system, flags, force, render_tree, values_for, templates, refused):
    services = root / "services"
    if not (services.is_dir() and (root / "templates" / "service").is_dir() and
            (root / "tools" / "manifests.py").is_file()):
        raise refused(f"{root} is not svckit's repository: --system adds a service to one of its "
                      "systems; without it, svckit new makes a project of its own")
    systems = sorted(p.parent.name for p in services.glob("*/local_system.cpp"))
    if system not in systems:
        raise refused(f"no system '{system}' here (there are: {', '.join(systems)})")
    home = services / system / name
    taken = [m.group(1) for f in services.rglob("CMakeLists.txt")
             for m in re.finditer(r"add_executable\(([\w-]+)", f.read_text())]
    if (home.exists() or name in taken) and not force:
        raise refused(f"'{name}' is taken in this repository (services/{system}/{name} or a "
                      "program of that name): choose another")

    values = values_for(name, system, flags)
    snake, camel = values["snake"], values["camel"]
    api = values["api"]
    config = root / "services" / "gateway" / "config"
    for routes_file in sorted(config.glob(f"{system}*.json")):
        for route in json.loads(routes_file.read_text())["routes"]:
            clash = [p for p in route["paths"] if p != "/" and
                     (p == api or p.startswith(api + "/") or api.startswith(p.rstrip("/") + "/"))]
            if route["name"] == name or clash:
                raise refused(f"'{name}' is taken in this repository: {routes_file.name} has the "
                              f"route '{route['name']}' ({', '.join(route['paths'])}), which "
                              f"{api} would meet; choose another")

    rendered = render_tree(templates / "service", values)
    own = {f"{snake}.hpp": f"{name}.hpp"}

    def local(text):  # the project's file names, as they are here
        for theirs, ours in own.items():
            text = text.replace(f'#include "{theirs}"', f'#include "{ours}"')
        return text

    files = {
        home / f"{name}.hpp": rendered[f"src/{snake}.hpp"],
        home / f"{name}.cpp": local(rendered[f"src/{snake}.cpp"]),
        home / "main.cpp": local(rendered["src/main.cpp"]),
        home / "tests" / f"{snake}_test.cpp": local(rendered[f"tests/{snake}_test.cpp"]),
        home / "tests" / "test_service.py": rendered["tests/test_service.py"],
        home / "CMakeLists.txt": cmake_lists(name, snake, flags),
    }
    if flags["grpc"]:
        files[home / f"{snake}.proto"] = rendered[f"proto/{snake}.proto"]
    # Every edit made first, then written: a failure leaves the repository as it was.
    cmake = services / system / "CMakeLists.txt"
    combined = services / system / "local_system.cpp"
    routes = config / LOCAL_ROUTES[system]
    systems = root / "deploy" / "k8s" / "systems.json"
    files[cmake] = wired_build(cmake, system, name, snake)
    files[combined] = wired_local_system(combined, name, snake, camel)
    files[routes] = wired_routes(routes, name, api)
    files[systems] = wired_kubernetes(systems, system, name, flags)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    clang_format = shutil.which("clang-format")
    if clang_format:
        sources = [str(p) for p in files if p.suffix in (".cpp", ".hpp")]
        subprocess.run([clang_format, "-i", "--style=file", *sources], cwd=root, check=True)
    subprocess.run([sys.executable, str(root / "tools" / "manifests.py")], check=True,
                   stdout=subprocess.DEVNULL)
    print(f"svckit new: {name} in services/{system}/{name}, wired into the build, "
          f"services/{system}/local_system.cpp, the gateway's routes ({api}) and deploy/k8s/{system}")
    print(f"  ./dev.sh run {system}    # serves it with the rest of {system}, behind the gateway")


def cmake_lists(name, snake, flags):
    proto = ""
    links = "svckit::svckit"
    if flags["grpc"]:
        proto = (f"svckit_protos({snake}_proto_sources ROOT ${{CMAKE_CURRENT_SOURCE_DIR}} PROTOS {snake}.proto)\n"
                 f"add_library({snake}_proto STATIC ${{{snake}_proto_sources}})\n"
                 f"target_include_directories({snake}_proto PUBLIC ${{SVCKIT_PROTO_OUT}})\n"
                 f"target_link_libraries({snake}_proto PUBLIC svckit::grpc)\n\n")
        links += f" {snake}_proto"
    return (f"# {name}: made by `svckit new {name} --system ...` (docs/svckit-new.md).\n{proto}"
            f"add_library({snake}_module STATIC {name}.cpp)\n"
            f"target_include_directories({snake}_module PUBLIC ${{CMAKE_CURRENT_SOURCE_DIR}})\n"
            f"target_link_libraries({snake}_module PUBLIC {links})\n\n"
            f"add_executable({name} main.cpp)\n"
            f"target_link_libraries({name} PRIVATE {snake}_module)\n\n"
            "if(SVCKIT_BUILD_TESTS)\n"
            "  find_package(GTest REQUIRED)\n"
            "  find_package(Python3 REQUIRED COMPONENTS Interpreter)\n"
            f"  add_executable({snake}_test tests/{snake}_test.cpp)\n"
            f"  target_link_libraries({snake}_test PRIVATE {snake}_module svckit::testing GTest::gtest_main)\n"
            f"  add_test(NAME {snake}_unit COMMAND {snake}_test)\n"
            f"  add_test(NAME {snake}_service COMMAND ${{Python3_EXECUTABLE}} -m pytest -q -p no:cacheprovider\n"
            f"    ${{CMAKE_CURRENT_SOURCE_DIR}}/tests/test_service.py)\n"
            f"  set_tests_properties({snake}_service PROPERTIES ENVIRONMENT \"SERVICE_BINARY=$<TARGET_FILE:{name}>\")\n"
            "endif()\n")


def wired_build(path, system, name, snake):
    text = path.read_text()
    subdirectories = list(re.finditer(r"^add_subdirectory\([^)]*\)\n", text, re.M))
    if not subdirectories:
        raise RuntimeError(f"{path}: no add_subdirectory() to add {name} after")
    if f"add_subdirectory({name})" not in text:
        end = subdirectories[-1].end()
        text = text[:end] + f"add_subdirectory({name})\n" + text[end:]
    combined = re.search(rf"target_link_libraries\({system} PRIVATE([^)]*)\)", text)
    if not combined:
        raise RuntimeError(f"{path}: no target_link_libraries({system} PRIVATE ...) for the combined process")
    if f"{snake}_module" not in combined.group(1).split():
        text = text[:combined.end() - 1] + f"\n  {snake}_module" + text[combined.end() - 1:]
    return text


def wired_local_system(path, name, snake, camel):
    text = path.read_text()
    include = f'#include "{name}.hpp"\n'
    if include not in text:
        includes = list(re.finditer(r'^#include "[^"]+"\n', text, re.M))
        text = text[:includes[-1].end()] + include + text[includes[-1].end():]
    run = re.search(r"svckit::run<([^>]*)>\(", text)
    if not run:
        raise RuntimeError(f"{path}: no svckit::run<...>(...) to add {camel} to")
    if f"{snake}_service::{camel}" not in text:
        text = text[:run.end(1)] + f", {snake}_service::{camel}" + text[run.end(1):]
    return text


def wired_routes(path, name, api):
    """A route for `api`, before any catch-all one, to the upstream the other routes share (the
    system's combined process). Written into the file's text (its layout kept), then read back to
    be sure it says what was meant."""
    text = path.read_text()
    routes = json.loads(text)
    upstream = next(r["upstream"] for r in routes["routes"] if r["upstream"] != "monolith")
    route = {"name": name, "paths": [api], "upstream": upstream, "auth": "authenticated"}
    line = "    " + json.dumps(route)
    catch_all = re.search(r'\n(\s*)\{"name": "[^"]+", "paths": \["/"\]', text)
    if catch_all:
        text = text[:catch_all.start()] + "\n" + line + "," + text[catch_all.start():]
    else:
        start = text.index('"routes"')
        at = start + re.search(r"\n  \]", text[start:]).start()
        text = text[:at] + ",\n" + line + text[at:]
    if route not in json.loads(text)["routes"]:
        raise RuntimeError(f"{path}: the route could not be added")
    return text


def wired_kubernetes(path, system, name, flags):
    systems = json.loads(path.read_text())
    systems[system]["services"].setdefault(name, {"grpc": True} if flags["grpc"] else {})
    return json.dumps(systems, indent=2) + "\n"
