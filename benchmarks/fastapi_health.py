"""The monolith's stack today, deployed as the seeds deploy it (`uvicorn main:app`: one worker,
uvicorn[standard] = uvloop + httptools), serving the same /health body as svckit, for
benchmarks/http_load.py. The handler returns a dict, as the seed's handlers do."""
from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
async def health():
    return {"checks": {}, "service": "task-manager", "status": "UP"}
