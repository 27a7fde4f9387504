"""The examples do what their docs say."""
import requests


def test_hello(start_service):
    svc = start_service("hello")
    assert requests.get(svc.url + "/api/v1/hello/world").json() == {"message": "hello, world"}
    assert requests.get(svc.url + "/api/v1/hello/a%20b").json() == {"message": "hello, a b"}
    assert requests.post(svc.url + "/api/v1/echo", json={"text": "hi"}).json() == {"text": "hi"}
    bad = requests.post(svc.url + "/api/v1/echo", json={"text": 1})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "text"
    assert requests.post(svc.url + "/api/v1/echo", data="hi").status_code == 415
    assert requests.get(svc.url + "/ready").json()["service"] == "hello"


def test_notes(start_service):
    svc = start_service("notes")
    created = requests.post(svc.url + "/api/v1/notes", json={"body": "remember the milk"})
    assert created.status_code == 201
    note_id = created.json()["id"]
    assert requests.get(f"{svc.url}/api/v1/notes/{note_id}").json() == {"body": "remember the milk"}
    missing = requests.get(svc.url + "/api/v1/notes/999")
    assert missing.status_code == 404 and missing.headers["Content-Type"] == "application/problem+json"
    assert requests.post(svc.url + "/api/v1/notes", json={"body": ""}).status_code == 422
    assert requests.post(svc.url + "/api/v1/notes", json={"body": "x" * 1001}).status_code == 422
