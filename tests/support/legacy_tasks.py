"""A stand-in for the legacy monolith's task endpoints (seed 000 §4.2.3, what the Task Manager
replaces), for the gateway's strangler-fig tests: tasks kept in memory in the Task Manager's
answer shapes, and faults to inject (a wrong field, an error status, latency).

Run: python3 -m uvicorn legacy_tasks:app --app-dir tests/support
"""
import asyncio
import uuid

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse

app = FastAPI(title="legacy monolith: tasks (stand-in)")
_tasks = {}
_faults = {"mismatch": False, "status": 0, "delay_ms": 0}


async def _apply_faults():
    if _faults["delay_ms"]:
        await asyncio.sleep(_faults["delay_ms"] / 1000)
    if _faults["status"]:
        raise HTTPException(_faults["status"], "injected failure")


@app.post("/api/v1/tasks", status_code=201)
async def create(body: dict):
    await _apply_faults()
    task = {"id": str(uuid.uuid4()), "title": body.get("title", ""), "status": "pending",
            "priority": body.get("priority", "medium")}
    _tasks[task["id"]] = task
    return {"id": task["id"], "task": task}


@app.get("/api/v1/tasks/{task_id}")
async def get_task(task_id: str):
    await _apply_faults()
    if task_id not in _tasks:
        return JSONResponse({"status": 404, "title": "Not Found"}, status_code=404)
    task = dict(_tasks[task_id])
    if _faults["mismatch"]:
        task["title"] = task["title"] + " (legacy spelling)"
    return {"task": task}


@app.put("/legacy/tasks/{task_id}")
async def seed(task_id: str, task: dict):
    """Copies a task as the new service has it, so both sides can answer for it."""
    _tasks[task_id] = task
    return {"seeded": task_id}


@app.put("/legacy/faults")
async def faults(body: dict):
    _faults.update({k: body[k] for k in _faults if k in body})
    return _faults


@app.get("/ready")
async def ready():
    return {"status": "UP"}
