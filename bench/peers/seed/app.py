"""
The seed's design, written from its README (shared/seed): FastAPI, the tool started with
asyncio's subprocess, its stdout and stderr read line by line into the run's log file and its
memory, and `GET /runs/{run_id}/logs` as Server-Sent Events with one event per line. The bench
(bench/peers.ts) runs the same tool through it and through OSS Runner in one invocation, so "how
much faster than the design we started from" is measured each run, not quoted.

Only what the bench needs of the seed's API: POST /set/{name}, GET /runs/{run_id},
GET /runs/{run_id}/logs, GET /health. The whitelist comes from PEER_CATALOG (JSON: name -> argv).
"""

import asyncio
import json
import os
import uuid
from datetime import datetime, timezone

from fastapi import FastAPI, HTTPException
from fastapi.responses import StreamingResponse

LOG_DIR = os.environ.get("LOG_DIR", "./logs")
CATALOG: dict[str, list[str]] = json.loads(os.environ.get("PEER_CATALOG", "{}"))

app = FastAPI(title="OSS Runner (the seed's design)")


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


class Run:
    """A run record, its lines so far, and a condition its readers wait on for more."""

    def __init__(self, name: str, cmd: list[str]):
        self.run_id = str(uuid.uuid4())
        self.name = name
        self.cmd = cmd
        self.status = "running"
        self.exit_code: int | None = None
        self.created_at = now()
        self.finished_at: str | None = None
        self.lines: list[str] = []
        self.done = False
        self.changed = asyncio.Condition()

    def record(self) -> dict:
        return {
            "run_id": self.run_id,
            "name": self.name,
            "cmd": self.cmd,
            "status": self.status,
            "exit_code": self.exit_code,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
        }


RUNS: dict[str, Run] = {}


async def supervise(run: Run) -> None:
    """The RunnerService: runs the tool, appends each line to the log file and the run, wakes readers."""
    proc = await asyncio.create_subprocess_exec(*run.cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None
    with open(os.path.join(LOG_DIR, f"{run.run_id}.log"), "w", encoding="utf-8") as log:
        while True:
            raw = await proc.stdout.readline()
            if not raw:
                break
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            log.write(line + "\n")
            run.lines.append(line)
            async with run.changed:
                run.changed.notify_all()
    run.exit_code = await proc.wait()
    run.status = "succeeded" if run.exit_code == 0 else "failed"
    run.finished_at = now()
    run.done = True
    async with run.changed:
        run.changed.notify_all()


@app.get("/health")
async def health() -> dict:
    return {"status": "ok", "runs": len(RUNS)}


@app.post("/set/{name}")
async def start(name: str) -> dict:
    cmd = CATALOG.get(name)
    if cmd is None:
        raise HTTPException(status_code=404, detail=f"unknown tool {name}")
    run = Run(name, cmd)
    RUNS[run.run_id] = run
    asyncio.create_task(supervise(run))
    return {"run": run.record()}


@app.get("/runs/{run_id}")
async def get_run(run_id: str) -> dict:
    run = RUNS.get(run_id)
    if run is None:
        raise HTTPException(status_code=404, detail="unknown run")
    return {"run": run.record()}


@app.get("/runs/{run_id}/logs")
async def logs(run_id: str) -> StreamingResponse:
    run = RUNS.get(run_id)
    if run is None:
        raise HTTPException(status_code=404, detail="unknown run")

    async def events():
        sent = 0
        while True:
            while sent < len(run.lines):
                yield f"id: {sent}\ndata: {run.lines[sent]}\n\n"
                sent += 1
            if run.done:
                break
            async with run.changed:
                if sent == len(run.lines) and not run.done:
                    await run.changed.wait()
        yield f"event: end\ndata: {json.dumps(run.record())}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
