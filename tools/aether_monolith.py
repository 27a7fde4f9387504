#!/usr/bin/env python3
"""A stand-in for AETHER-AI's Python monolith (seed 000 §8): the legacy side of the gateway's
splits while the migration runs (`AETHER_PHASE=N ./dev.sh run aether`, docs/deploy.md).
It keeps tasks in memory in the Task Manager's shapes, so a user on either side of the tasks
route gets an answer, and says of everything else that it has not moved; every answer carries
"served_by": "aether-monolith", so a split can be seen. Prints its URL on its first line.

    python3 tools/aether_monolith.py PORT      (0: a free one)
"""
import json
import sys
import threading
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TASKS = {}
LOCK = threading.Lock()
NAME = "aether-monolith"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body):
        data = json.dumps({**body, "served_by": NAME}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > 1 << 20:
            return None
        try:
            value = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def answer(self):
        path = self.path.split("?", 1)[0].rstrip("/")
        if path in ("/health", "/ready"):
            return self.send(200, {"status": "UP"})
        if path == "/api/v1/tasks" and self.command == "GET":
            with LOCK:
                tasks = list(TASKS.values())
            return self.send(200, {"tasks": tasks, "total": len(tasks)})
        if path == "/api/v1/tasks" and self.command == "POST":
            body = self.body()
            if body is None or not isinstance(body.get("title"), str) or not body["title"].strip():
                return self.send(422, {"detail": "title: a non-empty string is required"})
            now = datetime.now(timezone.utc).isoformat()
            task = {"id": str(uuid.uuid4()), "title": body["title"], "status": "pending",
                    "priority": body.get("priority", "medium"), "created_at": now, "updated_at": now}
            with LOCK:
                TASKS[task["id"]] = task
            return self.send(201, {"task": task})
        if path.startswith("/api/v1/tasks/") and self.command == "GET":
            with LOCK:
                task = TASKS.get(path.rsplit("/", 1)[1])
            return self.send(200, {"task": task}) if task else self.send(404, {"detail": "no such task"})
        self.send(404, {"method": self.command, "path": self.path, "detail": "not moved to a service yet"})

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = answer


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print(f"{NAME} on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()
