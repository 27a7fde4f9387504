"""Every service describes its own API (/openapi.json, OpenAPI 3.1) from the routes and models it
declares, and serves Swagger UI over it (/docs). The document is checked by a real OpenAPI
validator (npm's @seriousme/openapi-schema-validator, against the specification's own schemas),
against what the service really answers (jsonschema), and /docs is loaded in headless Chromium."""
import json
import time
import pathlib
import shutil
import subprocess

import jsonschema
import pytest
import requests as plain_requests

from conftest import authed as requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
VALIDATOR = ROOT / "tools" / "npm" / "validate-openapi.mjs"
API = "/api/v1/tasks"


def validate_with_npm(document, tmp_path, name="openapi.json"):
    path = tmp_path / name
    path.write_text(json.dumps(document))
    result = subprocess.run(["node", str(VALIDATOR), str(path)], capture_output=True, text=True, timeout=60,
                            cwd=VALIDATOR.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("valid 3.1"), result.stdout


def schema_of(document, ref_or_schema):
    """A response schema with its $refs resolvable: the document's components beside it."""
    return {**ref_or_schema, "$defs": {}, "components": document["components"]} if "$ref" not in ref_or_schema \
        else {"$ref": ref_or_schema["$ref"], "components": document["components"]}


def check(document, operation, status, body):
    content = operation["responses"][str(status)]["content"]
    media = "application/problem+json" if status >= 400 else "application/json"
    jsonschema.validate(body, schema_of(document, content[media]["schema"]),
                        cls=jsonschema.Draft202012Validator)


def test_the_task_manager_describes_its_api(task_manager, tmp_path):
    r = plain_requests.get(task_manager.url + "/openapi.json")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    doc = r.json()
    validate_with_npm(doc, tmp_path)
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"] == "task-manager"
    create = doc["paths"][API]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/NewTask"}
    assert create["responses"]["201"]["content"]["application/json"]["schema"] == \
        {"$ref": "#/components/schemas/TaskCreated"}
    assert create["x-permissions"] == ["tasks:write"] and create["security"] == [{"bearer": []}]
    assert {"400", "401", "403", "413", "415", "422"} <= set(create["responses"])
    one = doc["paths"][API + "/{id}"]["get"]
    assert one["parameters"] == [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
    assert "404" in one["responses"] and one["x-permissions"] == ["tasks:read"]
    listing = doc["paths"][API]["get"]
    status = next(p for p in listing["parameters"] if p["name"] == "status")
    assert status["schema"]["enum"] == ["pending", "in_progress", "completed"]
    new_task = doc["components"]["schemas"]["NewTask"]
    assert new_task["required"] == ["title"]
    assert new_task["properties"]["title"] == {"type": "string", "minLength": 1, "maxLength": 200}
    assert new_task["properties"]["due_date"]["format"] == "date-time"
    # The probes are there; the document and /docs themselves are not.
    assert "/ready" in doc["paths"] and "/openapi.json" not in doc["paths"] and "/docs" not in doc["paths"]


def test_what_the_task_manager_answers_matches_its_document(task_manager):
    doc = plain_requests.get(task_manager.url + "/openapi.json").json()
    paths = doc["paths"]
    r = requests.post(task_manager.url + API, json={"title": "Described", "priority": "high"})
    check(doc, paths[API]["post"], 201, r.json())
    task_id = r.json()["id"]
    check(doc, paths[API + "/{id}"]["get"], 200, requests.get(f"{task_manager.url}{API}/{task_id}").json())
    check(doc, paths[API]["get"], 200, requests.get(task_manager.url + API).json())
    check(doc, paths[API + "/stats"]["get"], 200, requests.get(task_manager.url + API + "/stats").json())
    r = requests.put(f"{task_manager.url}{API}/{task_id}", json={"status": "in_progress"})
    check(doc, paths[API + "/{id}"]["put"], 200, r.json())
    check(doc, paths[API + "/{id}/complete"]["post"], 200,
          requests.post(f"{task_manager.url}{API}/{task_id}/complete").json())
    # Errors are the documented problem+json.
    check(doc, paths[API + "/{id}"]["get"], 404, requests.get(f"{task_manager.url}{API}/nope").json())
    check(doc, paths[API]["post"], 422, requests.post(task_manager.url + API, json={"title": ""}).json())
    check(doc, paths[API]["post"], 401, plain_requests.post(task_manager.url + API, json={"title": "x"}).json())


def test_the_document_and_the_service_agree_on_every_rule(task_manager):
    """Each rule the schema states is one the service enforces, naming that field."""
    doc = plain_requests.get(task_manager.url + "/openapi.json").json()
    for name in ("NewTask", "TaskChanges"):
        schema = doc["components"]["schemas"][name]
        for field, rule in schema["properties"].items():
            bad = []
            if "enum" in rule:
                bad.append("not-one-of-them")
            if "maxLength" in rule:
                bad.append("x" * (rule["maxLength"] + 1))
            if rule.get("minLength", 0) > 0:
                bad.append("")
            if rule.get("format") == "date-time":
                bad.append("next tuesday")
            bad.append(12345)  # every field here is a string
            for value in bad:
                body = {"title": "ok", field: value}
                r = (requests.post(task_manager.url + API, json=body) if name == "NewTask" else
                     requests.put(f"{task_manager.url}{API}/any-id", json=body))
                assert r.status_code == 422, (name, field, value, r.text)
                assert r.json()["errors"][0]["field"] == field, (name, field, value, r.text)
            jsonschema.validate({"title": "ok"}, schema, cls=jsonschema.Draft202012Validator)


def test_every_aether_service_and_the_gateway_serve_a_valid_document(start_service, tmp_path):
    aether = start_service("aether")
    doc = plain_requests.get(aether.url + "/openapi.json").json()
    validate_with_npm(doc, tmp_path, "aether.json")
    for path in ("/api/v1/tasks", "/api/v1/auth/login", "/api/v1/ai/chat", "/api/v1/code/review",
                 "/api/v1/analytics/usage", "/api/v1/integrations", "/.well-known/jwks.json"):
        assert path in doc["paths"], (path, sorted(doc["paths"]))
    login = doc["paths"]["/api/v1/auth/login"]["post"]
    assert login["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Credentials"}
    assert "429" in login["responses"], "the login limit describes itself"


def test_the_apartment_system_serves_a_valid_document_its_answers_match(start_service, tmp_path):
    """The four services of seed 004 in one process: one valid document, and a submitted
    request, a classification and a retrieval that validate against their schemas."""
    from conftest import TEST_JWT_SECRET, free_port
    import jwt as pyjwt
    port = free_port()
    me = f"http://127.0.0.1:{port}"
    apartment = start_service("apartment", PORT=str(port), AI_PROCESSING_SERVICE_URL=me,
                              DECISION_SIMULATION_SERVICE_URL=me, EXECUTION_SERVICE_URL=me)
    doc = plain_requests.get(apartment.url + "/openapi.json").json()
    validate_with_npm(doc, tmp_path, "apartment.json")
    for path in ("/api/v1/requests", "/api/v1/requests/{id}/select-option", "/api/v1/residents/{id}/requests",
                 "/api/v1/classify", "/api/v1/predict-risk", "/api/v1/simulate", "/api/v1/decide",
                 "/api/v1/rag/retrieve", "/api/v1/rag/config", "/api/v1/execute", "/api/v1/notify",
                 "/api/v1/executions/{id}", "/api/v1/health", "/api/v1/auth/login"):
        assert path in doc["paths"], (path, sorted(doc["paths"]))
    schemas = doc["components"]["schemas"]
    now = int(time.time())
    token = pyjwt.encode({"sub": "r-1", "roles": ["resident"], "unit": "12", "type": "access", "iat": now,
                          "exp": now + 600}, TEST_JWT_SECRET, algorithm="HS256")
    auth = {"Authorization": f"Bearer {token}"}

    def check(answer, schema_name):
        schema = {"$ref": f"#/components/schemas/{schema_name}", "components": {"schemas": schemas}}
        jsonschema.validate(answer, schema, cls=jsonschema.Draft202012Validator)

    created = plain_requests.post(apartment.url + "/api/v1/requests", headers=auth, timeout=20,
                                  json={"message": "The toilet is clogged and overflowing"})
    assert created.status_code == 201, created.text
    check(created.json(), "ServiceRequest")
    check(plain_requests.post(apartment.url + "/api/v1/classify", headers=auth, json={"message": "a leak"}).json(),
          "Classification")
    check(plain_requests.post(apartment.url + "/api/v1/rag/retrieve", headers=auth, json={"query": "gas"}).json(),
          "Retrieval")


def test_what_every_aether_service_answers_matches_its_document(start_service, searchable_tmp):
    """Analytics, the Integration Hub, the AI Gateway and the Code Assistant answer what their
    models say, successes and problems alike."""
    from conftest import make_token
    workspace = searchable_tmp / "workspace"
    aether = start_service("aether", CODE_TEST_ROOT=str(workspace), CODE_TEST_COMMANDS="python3",
                           PATH="/usr/bin:/bin")
    doc = plain_requests.get(aether.url + "/openapi.json").json()
    paths = doc["paths"]
    token = make_token(permissions=["analytics:read", "integrations:read", "integrations:write", "ai:use",
                                    "ai:admin", "code:use", "code:run"])
    h = {"Authorization": f"Bearer {token}"}

    def call(method, path, status, body=None, documented=None):
        r = plain_requests.request(method, aether.url + path, json=body, headers=h, timeout=30)
        assert r.status_code == status, (path, r.text)
        check(doc, paths[documented or path][method.lower()], status, r.json())
        return r.json()

    call("POST", "/api/v1/analytics/events", 201, {"event_type": "page.view", "metadata": {"page": "/"}})
    call("POST", "/api/v1/analytics/events", 201, {"event_type": "job.failed", "user_id": "u1"})
    call("POST", "/api/v1/analytics/events", 422, {"event_type": "Bad Type"})
    assert call("GET", "/api/v1/analytics/usage", 200)["usage"]
    errors = call("GET", "/api/v1/analytics/errors", 200)
    assert errors["summary"]["total"] == 1 and errors["errors"][0]["user_id"] == "u1"
    call("GET", "/api/v1/analytics/health", 200)

    connected = call("POST", "/api/v1/integrations/connect", 201,
                     {"service": "github", "credentials": {"token": "t"}, "config": {"name": "repos"}})
    call("POST", "/api/v1/integrations/connect", 422, {"service": "github", "credentials": {"token": 1}})
    assert call("GET", "/api/v1/integrations/", 200, documented="/api/v1/integrations")["integrations"][0]["integration_id"] == \
        connected["integration_id"]
    call("POST", "/api/v1/integrations/slack/message", 422,
         {"integration_id": connected["integration_id"], "channel": "#g", "message": "hi"})

    call("POST", "/api/v1/ai/chat", 200, {"message": "hello", "context": [{"role": "user", "content": "hi"}],
                                          "options": {"temperature": 0.5}})
    call("POST", "/api/v1/ai/chat", 422, {"message": ""})
    call("GET", "/api/v1/ai/models", 200)
    call("GET", "/api/v1/ai/models/local", 200, documented="/api/v1/ai/models/{model}")
    call("GET", "/api/v1/ai/models/nope", 404, documented="/api/v1/ai/models/{model}")
    call("POST", "/api/v1/ai/switch", 200, {"model": "local"})

    call("POST", "/api/v1/code/review", 200, {"code": "def f():\n    pass\n", "language": "python"})
    call("POST", "/api/v1/code/refactor", 200, {"code": "x = 1\n", "instruction": "tidy"})
    generated = call("POST", "/api/v1/code/test/generate", 200, {"code": "def f():\n    pass\n",
                                                                 "language": "python"})
    assert generated["framework"] == "pytest"
    ran = call("POST", "/api/v1/code/test/run", 200, {"command": ["python3", "-V"]})
    assert ran["stdout"].startswith("Python 3") and ran["passed"] is True and "out" not in ran
    call("POST", "/api/v1/code/test/run", 422, {"command": ["python3"], "timeout_seconds": 0})


def test_the_gateway_serves_its_systems_merged_document(start_service, tmp_path):
    document = json.loads((ROOT / "services" / "gateway" / "config" / "aether.json").read_text())
    aether = start_service("aether", GRPC_PORT="0")
    document["upstreams"]["aether"]["targets"] = [aether.url]
    # One route the gateway does not send on unchanged: its operations are not the system's.
    document["routes"].append({"name": "stripped", "paths": ["/api/v1/analytics"], "upstream": "aether",
                               "strip_prefix": True})
    document["routes"] = [r for r in document["routes"] if r["name"] != "analytics"]
    routes = tmp_path / "aether.json"
    routes.write_text(json.dumps(document))
    gw = start_service("gateway", GATEWAY_ROUTES=routes)
    merged = plain_requests.get(gw.url + "/openapi.json", timeout=10).json()
    validate_with_npm(merged, tmp_path, "gateway.json")
    own = plain_requests.get(aether.url + "/openapi.json").json()
    assert merged["x-upstreams"] == ["aether"]
    assert merged["paths"]["/api/v1/tasks"] == own["paths"]["/api/v1/tasks"]
    assert merged["components"]["schemas"]["NewTask"] == own["components"]["schemas"]["NewTask"]
    assert "/api/v1/auth/login" in merged["paths"] and "/api/v1/ai/chat" in merged["paths"]
    # Routed only with a changed path, or not routed at all: not part of the system's API.
    assert not any(p.startswith("/api/v1/analytics") for p in merged["paths"])
    assert "/metrics" not in merged["paths"] and "/ready" not in merged["paths"]
    # The tasks route allows GET, POST, PUT and DELETE only: nothing else of it is listed.
    assert set(merged["paths"]["/api/v1/tasks/{id}"]) == {"get", "put", "delete"}
    # /docs through the gateway is Swagger UI over the merged document.
    assert "/openapi.json" in plain_requests.get(gw.url + "/docs", timeout=5).text


@pytest.mark.skipif(not shutil.which("chromium"), reason="chromium is installed by ./dev.sh")
def test_docs_render_the_operations_in_a_browser(task_manager, tmp_path):
    out = ROOT / "build" / "test-output"
    out.mkdir(parents=True, exist_ok=True)
    screenshot = out / "task-manager-docs.png"
    screenshot.unlink(missing_ok=True)
    browser = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=15000"]
    dom = subprocess.run(browser + ["--dump-dom", task_manager.url + "/docs"], capture_output=True,
                         text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    # Swagger UI fetched /openapi.json and drew an operation block for each route.
    assert html.count('class="opblock opblock-') >= 7, html[:2000]
    for summary in ("Create a task", "List tasks, newest first", "Complete a task"):
        assert summary in html
    assert 'data-path="/api/v1/tasks/{id}"' in html
    shot = subprocess.run(browser + ["--window-size=1280,1600", f"--screenshot={screenshot}",
                                     task_manager.url + "/docs"], capture_output=True, text=True, timeout=120)
    assert shot.returncode == 0 and screenshot.stat().st_size > 20000, shot.stderr[-2000:]


def test_docs_assets_are_only_the_known_files(task_manager):
    assert plain_requests.get(task_manager.url + "/docs/swagger-ui.css").status_code == 200
    assert plain_requests.get(task_manager.url + "/docs/swagger-ui-bundle.js").headers["Content-Type"] == \
        "text/javascript"
    for bad in ("/docs/..%2F..%2Fetc%2Fpasswd", "/docs/index.html", "/docs/%2e%2e", "/docs/swagger-ui.css%00"):
        assert plain_requests.get(task_manager.url + bad).status_code == 404, bad


def test_websocket_stream_and_file_routes_describe_themselves(start_service, tmp_path):
    """The realtime and file routes in valid documents: a WebSocket route's 101, an event
    stream's GET, a streamed upload's 413, and S3's "{key...}" written as OpenAPI's "{key}"."""
    chat = start_service("chat")
    doc = plain_requests.get(chat.url + "/openapi.json").json()
    validate_with_npm(doc, tmp_path, "chat.json")
    ws = doc["paths"]["/ws/{room}"]["get"]
    assert "101" in ws["responses"] and "426" in ws["responses"] and "401" in ws["responses"]
    assert "get" in doc["paths"]["/api/v1/rooms/{room}/events"]
    drop = start_service("drop")
    doc = plain_requests.get(drop.url + "/openapi.json").json()
    validate_with_npm(doc, tmp_path, "drop.json")
    assert "413" in doc["paths"]["/api/v1/drop/{name}"]["put"]["responses"]
    files = start_service("files", FILES_S3_KEYS="AKIAX:secret:alice")
    doc = plain_requests.get(files.url + "/openapi.json").json()
    validate_with_npm(doc, tmp_path, "files.json")
    put = doc["paths"]["/{bucket}/{key}"]["put"]
    assert [p["name"] for p in put["parameters"] if p["in"] == "path"] == ["bucket", "key"]
    notification = start_service("notification")
    doc = plain_requests.get(notification.url + "/openapi.json").json()
    validate_with_npm(doc, tmp_path, "notification.json")
    assert "101" in doc["paths"]["/api/v1/notifications/ws"]["get"]["responses"]
    assert "422" in doc["paths"]["/api/v1/notifications/preferences"]["put"]["responses"]
    assert "security" not in doc["paths"]["/api/v1/notifications/unsubscribe"]["post"]
    configuration = start_service("configuration")
    doc = plain_requests.get(configuration.url + "/openapi.json").json()
    validate_with_npm(doc, tmp_path, "configuration.json")
    assert "412" in doc["paths"]["/api/v1/flags"]["put"]["responses"]
    assert "404" in doc["paths"]["/ofrep/v1/evaluate/flags/{key}"]["post"]["responses"]
