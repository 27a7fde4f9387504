"""The monolith's stack today (FastAPI on uvicorn with uvloop and httptools), serving the same
/health body as svckit, for benchmarks/http_load.py."""
from fastapi import FastAPI
from fastapi.responses import JSONResponse

app = FastAPI()
BODY = {"checks": {}, "service": "task-manager", "status": "UP"}


@app.get("/health")
async def health():
    return JSONResponse(BODY)
