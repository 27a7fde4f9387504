"""A FastAPI app (the monolith's shape) adopting svckit: tokens checked by svckit's verifier with
the C++ services' settings, the standard HTTP metrics, request ids and traces, events on the bus.

    PYTHONPATH=build/python JWT_SECRET_KEY=... python3 -m uvicorn fastapi_app:app --app-dir examples/python
"""
from fastapi import Depends, FastAPI

import svckit
import svckit.fastapi

app = FastAPI()
svckit.fastapi.instrument(app)         # /metrics, X-Request-ID, traceparent → svckit.context
bus = svckit.bus.connect()             # BUS_URL: inproc:// here, amqp://... beside the services


@app.get("/api/v1/me")
async def me(who=Depends(svckit.fastapi.require())):                # 401 without a valid token
    return {"id": who.id, "roles": who.roles}


@app.post("/api/v1/reports", status_code=202)
def order_report(body: dict, who=Depends(svckit.fastapi.require("tasks:write"))):   # 403 without
    event_id = bus.publish("report.requested", {"user_id": who.id, "kind": str(body.get("kind"))})
    return {"event_id": event_id}
