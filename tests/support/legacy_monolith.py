"""A stand-in for the legacy Python monolith (seed 000 §8: it keeps running while services are
split off, and must use them): a FastAPI app that adopts svckit in a few lines —

  - auth:   bearer tokens minted by the C++ Security Service, checked by svckit.fastapi.require;
  - events: task events published to the bus the C++ Analytics service consumes, and the C++
            Task Manager's task events consumed;
  - calls:  the Task Manager through svckit.Client (retries carry calls through its restarts);
  - metrics and tracing: svckit.fastapi.instrument.

Settings: JWT_SECRET_KEY (and the other auth settings), BUS_URL, TASK_MANAGER_URL.
Run: PYTHONPATH=build/python:tests/support python3 -m uvicorn legacy_monolith:app
"""
import os
import threading

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

import svckit
import svckit.fastapi

app = FastAPI(title="legacy monolith (stand-in)")
svckit.fastapi.instrument(app)

bus = svckit.bus.connect(source="legacy-monolith")
# A restart of the Task Manager is expected during migration: enough retries to cross one, and
# a breaker that does not open on the connection errors of a restart.
task_manager = svckit.Client(os.environ["TASK_MANAGER_URL"], name="task-manager", timeout=15.0,
                             max_attempts=10, initial_backoff=0.05, max_backoff=0.5,
                             breaker_failures=100)

_received = []
_lock = threading.Lock()


def _on_task_event(event):
    with _lock:
        _received.append(event)


bus.subscribe("legacy-monolith", "task.#", _on_task_event)


@app.get("/api/v1/me")
async def me(who=Depends(svckit.fastapi.require())):
    return {"id": who.id, "email": who.email, "roles": who.roles, "permissions": who.permissions}


@app.post("/legacy/tasks", status_code=201)
def create_task(body: dict, who=Depends(svckit.fastapi.require("tasks:write"))):
    # A plain def: FastAPI runs it on its thread pool, and the publish waits for the broker's
    # confirm there with the GIL released.
    event_id = bus.publish("task.created", {"task_id": str(body.get("id", "")),
                                            "title": str(body.get("title", "")),
                                            "user_id": who.id})
    return {"event_id": event_id}


@app.get("/legacy/events")
def received_events():
    with _lock:
        return list(_received)


@app.get("/legacy/tasks/{task_id}")
def get_task(task_id: str, request: Request, who=Depends(svckit.fastapi.require("tasks:read"))):
    r = task_manager.get(f"/api/v1/tasks/{task_id}",
                         headers={"Authorization": request.headers["authorization"]})
    return JSONResponse(r.json(), status_code=r.status,
                        headers={"X-Upstream-Attempts": str(r.attempts)})


@app.get("/ready")
def ready():
    return JSONResponse({"bus": bus.connected}, status_code=200 if bus.connected else 503)
