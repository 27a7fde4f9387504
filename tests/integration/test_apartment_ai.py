"""AI Processing (seed 004, services/apartment/ai-processing): classify and predict-risk over real
sockets, the risk model's answers against python3-xgboost's on the same rows, bad input, and a
model it cannot serve stopping start-up."""
import http.server
import json
import pathlib
import random
import threading
import time

import numpy as np
import pytest
import requests
import xgboost

from conftest import authed

MODEL_DIR = pathlib.Path(__file__).parents[2] / "services" / "apartment" / "ai-processing" / "model"


@pytest.fixture
def ai(start_service):
    return start_service("ai-processing")


def classify(ai, message, **extra):
    return authed.post(ai.url + "/api/v1/classify", json={"message": message, **extra}, timeout=5)


def test_classifies_with_the_evidence(ai):
    r = classify(ai, "Water is leaking from the ceiling and flooding the bathroom!")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["category"], body["urgency"], body["method"]) == ("plumbing", "emergency", "rules")
    assert 0 < body["confidence"] <= 1
    flooding = [e for e in body["evidence"] if e["term"] == "flooding"]
    assert {e["counts_for"] for e in flooding} == {"plumbing", "urgency:emergency"}
    message = "Water is leaking from the ceiling and flooding the bathroom!"
    assert message[flooding[0]["start"]:flooding[0]["end"]] == "flooding"
    negated = classify(ai, "There is no leak, the tap just drips a little, no rush").json()
    assert negated["urgency"] == "low"
    assert any(e["term"] == "leak" and e["negated"] for e in negated["evidence"])


def test_seed_health_path_reports_readiness(ai):
    r = requests.get(ai.url + "/api/v1/health", timeout=5)
    assert r.status_code == 200
    assert r.json()["status"] == "UP"


def risk(ai, **body):
    return authed.post(ai.url + "/api/v1/predict-risk", json=body, timeout=5)


def test_risk_answers_equal_python_xgboost_on_the_same_rows(ai):
    booster = xgboost.Booster()
    booster.load_model(str(MODEL_DIR / "risk_model.json"))
    features = json.loads(booster.attr("svckit_features"))
    rng = random.Random(7)
    categories = ["plumbing", "electrical", "hvac", "appliance", "structural", "pest", "cleaning",
                  "noise", "security", "billing", "lease", "amenity", "package", "other"]
    words = ["water", "leak", "flooding", "smoke", "the", "kitchen", "sparks", "mold", "door", "please"]
    rows, answers, bodies = [], [], []
    for _ in range(150):
        body = {
            "category": rng.choice(categories),
            "urgency": rng.choice(["low", "medium", "high", "emergency"]),
            "confidence": round(rng.random(), 3),
            "message": " ".join(rng.choice(words) for _ in range(rng.randint(0, 40))),
            "unit": rng.choice(["101", "1204", "7C", "B-3", "Penthouse"]),
            "prior_requests_90d": rng.randint(0, 8),
            "open_requests_unit": rng.randint(0, 4),
            "submitted_at": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
                            f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z",
        }
        bodies.append(body)
        r = risk(ai, **body)
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["model_version"] == "risk-2026.12.1"
        rows.append([answer["features"][f] for f in features])
        answers.append(answer)
    expected = booster.inplace_predict(np.array(rows, dtype=np.float32))
    for answer, want in zip(answers, expected):
        assert answer["risk_score"] == pytest.approx(float(want), abs=1e-6)
    # The factors are the three largest contributions as XGBoost attributes them: Saabas's
    # (approx_contribs) by default, TreeSHAP's (pred_contribs) when asked.
    matrix = xgboost.DMatrix(np.array(rows, dtype=np.float32), feature_names=features)
    approximate = booster.predict(matrix, pred_contribs=True, approx_contribs=True)
    shap = booster.predict(matrix, pred_contribs=True)

    def top_three(answer, contributions):
        top = sorted(range(len(features)), key=lambda i: -abs(contributions[i]))[:3]
        assert [f["feature"] for f in answer["factors"]] == [features[i] for i in top]
        for f, i in zip(answer["factors"], top):
            assert f["contribution"] == pytest.approx(float(contributions[i]), abs=1e-5)
    for answer, row in zip(answers, approximate):
        assert answer["attribution"] == "approximate"
        top_three(answer, row)
    for k in range(0, len(bodies), 10):
        answer = risk(ai, **bodies[k], explain="shap").json()
        assert answer["attribution"] == "shap"
        top_three(answer, shap[k])
    bands = {a["band"] for a in answers}
    assert {"low", "critical"} <= bands


def test_risk_derives_the_features_it_was_trained_on(ai):
    answer = risk(ai, category="plumbing", urgency="emergency", confidence=0.9,
                  message="a burst pipe, flooding, no smoke", unit="1204", prior_requests_90d=2,
                  submitted_at="2026-12-05T23:30:00+01:00").json()
    assert answer["features"] == {
        "category_code": 0, "urgency_level": 3, "confidence": pytest.approx(0.9), "severity_terms": 2,
        "message_words": 6, "prior_requests_90d": 2, "open_requests_unit": 0, "hour_of_day": 22,
        "is_weekend": 1, "unit_floor": 12}
    assert answer["band"] == "critical"


@pytest.mark.parametrize("path,body,status,field", [
    ("/api/v1/classify", {}, 422, "message"),
    ("/api/v1/classify", {"message": ""}, 422, "message"),
    ("/api/v1/classify", {"message": "x" * 4001}, 422, "message"),
    ("/api/v1/classify", {"message": 42}, 422, "message"),
    ("/api/v1/classify", {"message": None}, 422, "message"),
    ("/api/v1/classify", [1, 2], 422, None),
    ("/api/v1/predict-risk", {"category": "gardening", "urgency": "low"}, 422, "category"),
    ("/api/v1/predict-risk", {"category": "plumbing", "urgency": "soon"}, 422, "urgency"),
    ("/api/v1/predict-risk", {"category": "plumbing", "urgency": "low", "confidence": 1.5}, 422, "confidence"),
    ("/api/v1/predict-risk", {"category": "plumbing", "urgency": "low", "prior_requests_90d": -1}, 422,
     "prior_requests_90d"),
    ("/api/v1/predict-risk", {"category": "plumbing", "urgency": "low", "submitted_at": "yesterday"}, 422,
     "submitted_at"),
    ("/api/v1/predict-risk", {"category": "plumbing", "urgency": "low", "unit": ""}, 422, "unit"),
    ("/api/v1/predict-risk", {"category": "plumbing", "urgency": "low", "confidence": "high"}, 422,
     "confidence"),
    ("/api/v1/predict-risk", {"category": "plumbing", "urgency": "low", "explain": "lime"}, 422, "explain"),
])
def test_bad_input_is_422_naming_the_field(ai, path, body, status, field):
    r = authed.post(ai.url + path, json=body, timeout=5)
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/problem+json")
    if field:
        assert r.json()["errors"][0]["field"] == field


def test_malformed_and_unauthenticated_requests(ai):
    url = ai.url + "/api/v1/classify"
    assert authed.post(url, data="{not json", headers={"Content-Type": "application/json"},
                       timeout=5).status_code == 400
    assert authed.post(url, data="message=hi", headers={"Content-Type": "text/plain"},
                       timeout=5).status_code == 415
    deep = authed.post(url, data=b'{"message": ' + b"[" * 100000 + b"]" * 100000 + b"}",
                       headers={"Content-Type": "application/json"}, timeout=5)
    assert deep.status_code == 400, deep.text
    assert requests.post(url, json={"message": "leak"}, timeout=5).status_code == 401
    assert authed.get(url, timeout=5).status_code == 405
    # Still serving.
    assert classify(ai, "a leak").status_code == 200


@pytest.mark.parametrize("problem", ["missing", "not a model", "other features"])
def test_a_model_it_cannot_serve_stops_start_up(start_service, tmp_path, problem):
    path = tmp_path / "model.json"
    if problem == "not a model":
        path.write_text('{"learner": 1}')
    elif problem == "other features":
        path.write_text((MODEL_DIR / "risk_model.json").read_text().replace("unit_floor", "unit_level"))
    with pytest.raises(RuntimeError, match="exited with 2") as raised:
        start_service("ai-processing", RISK_MODEL_FILE=str(path))
    assert "RISK_MODEL_FILE" in str(raised.value)


def test_bad_rules_stop_start_up(start_service, tmp_path):
    rules = json.loads((MODEL_DIR / "classification_rules.json").read_text())
    rules["categories"]["plumbing"]["leak"] = "heavy"
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(rules))
    with pytest.raises(RuntimeError, match="exited with 2") as raised:
        start_service("ai-processing", CLASSIFIER_RULES_FILE=str(path))
    assert "CLASSIFIER_RULES_FILE" in str(raised.value) and "'leak'" in str(raised.value)


class ModelStandIn(http.server.ThreadingHTTPServer):
    """An OpenAI-compatible chat completions API whose next answer the test sets."""

    def __init__(self):
        self.content = ""
        self.status = 200
        self.delay = 0.0
        self.calls = []
        super().__init__(("127.0.0.1", 0), self.Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            self.server.calls.append((self.path, body))
            time.sleep(self.server.delay)
            answer = json.dumps({"choices": [{"message": {"role": "assistant", "content": self.server.content}}]})
            data = answer.encode()
            self.send_response(self.server.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)


@pytest.fixture
def model():
    m = ModelStandIn()
    yield m
    m.shutdown()


def test_a_language_model_classifies_and_the_rules_stand_in_when_it_cannot(start_service, model):
    models = json.dumps([{"id": "gpt", "provider": "openai", "base_url": model.url + "/v1", "model": "gpt-4o-mini"}])
    ai = start_service("ai-processing", AI_MODELS=models, CLASSIFIER_MODEL="gpt", CLASSIFIER_MODEL_TIMEOUT="500ms")
    leak = "Water is leaking from the ceiling and flooding the bathroom!"

    model.content = '```json\n{"category": "structural", "urgency": "high", "confidence": 0.93}\n```'
    c = classify(ai, leak).json()
    assert (c["method"], c["model"], c["category"], c["urgency"], c["confidence"]) == \
        ("llm", "gpt", "structural", "high", 0.93)
    assert c["evidence"] and c.get("fallback") is None  # what the rules found, for the record
    path, sent = model.calls[-1]
    assert path == "/v1/chat/completions" and sent["temperature"] == 0
    assert sent["messages"][0]["role"] == "system" and sent["messages"][-1] == {"role": "user", "content": leak}

    # Whatever the model answers is checked; when it is not an answer, the rules answer and say why.
    for content, why in [("It is a plumbing problem.", "no JSON object"),
                         ('{"category": "gardening", "urgency": "high"}', "no known category"),
                         ('{"category": "plumbing", "urgency": "whenever"}', "no known urgency"),
                         ('{"category": "plumbing", "urgency": "low", "confidence": "very"}', None)]:
        model.content = content
        c = classify(ai, leak).json()
        if why is None:  # a confidence that is not a number: the usual 0.7
            assert (c["method"], c["confidence"]) == ("llm", 0.7)
            continue
        assert (c["method"], c["category"], c["urgency"]) == ("rules", "plumbing", "emergency"), content
        assert why in c["fallback"]
    model.status = 500
    c = classify(ai, leak).json()
    assert c["method"] == "rules" and "the model failed" in c["fallback"]
    model.status, model.delay = 200, 2.0  # slower than CLASSIFIER_MODEL_TIMEOUT
    began = time.monotonic()
    c = classify(ai, leak).json()
    assert c["method"] == "rules" and time.monotonic() - began < 1.8
    model.delay = 0
    calls = len(model.calls)
    c = classify(ai, leak, use_llm=False).json()
    assert c["method"] == "rules" and c.get("fallback") is None and len(model.calls) == calls


def test_a_classifier_model_that_is_not_configured_stops_start_up(start_service):
    with pytest.raises(RuntimeError, match="exited with 2") as raised:
        start_service("ai-processing", CLASSIFIER_MODEL="gpt")
    assert "CLASSIFIER_MODEL" in str(raised.value)
