"""The monolith's stack serving GET /api/v1/tasks/{id} from PostgreSQL: FastAPI on uvicorn
(uvloop + httptools), psycopg2 with a ThreadedConnectionPool, the bearer token checked with
PyJWT — what the Task Manager's route replaces, for benchmarks/pg_load.py.

    DATABASE_URL=postgresql://... JWT_SECRET=... POOL_SIZE=4 \\
      python3 -m uvicorn fastapi_tasks_pg:app --app-dir benchmarks --workers 2
"""
import os
import threading

import jwt
import psycopg2.pool
from fastapi import FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse

app = FastAPI()
_size = int(os.environ.get("POOL_SIZE", "4"))
_pool = psycopg2.pool.ThreadedConnectionPool(1, _size, os.environ["DATABASE_URL"])
# psycopg2's pool raises when empty; requests wait for a connection instead, as svckit's do.
_free = threading.BoundedSemaphore(_size)
_secret = os.environ["JWT_SECRET"]
_columns = ("id", "title", "description", "priority", "status", "category", "due_date",
            "created_by", "created_at", "updated_at", "completed_at")
_select = f"SELECT {', '.join(_columns)} FROM tasks WHERE id = %s"


@app.get("/api/v1/tasks/{task_id}")
def get_task(task_id: str, authorization: str = Header(default="")):
    if not authorization.startswith("Bearer "):
        raise HTTPException(401, "missing bearer token")
    try:
        jwt.decode(authorization[7:], _secret, algorithms=["HS256"])
    except jwt.PyJWTError:
        raise HTTPException(401, "invalid token")
    with _free:
        conn = _pool.getconn()
        try:
            with conn.cursor() as cur:
                cur.execute(_select, (task_id,))
                row = cur.fetchone()
            conn.rollback()  # end the read's transaction, as a request's session would
        finally:
            _pool.putconn(conn)
    if row is None:
        return JSONResponse({"status": 404, "title": "Not Found"}, status_code=404)
    return {"task": dict(zip(_columns, row))}
