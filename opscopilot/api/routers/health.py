"""Liveness (the process answers) and readiness (the store answers, within a deadline)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from opscopilot import __version__
from opscopilot.api.deps import State
from opscopilot.store.migrate import head_revision

router = APIRouter(prefix="/api/v1/health", tags=["health"])

READY_DEADLINE_S = 1.5


class DatabaseHealth(BaseModel):
    ok: bool
    revision: str | None = None
    head: str | None = None
    server_version: str | None = None
    pgvector: str | None = None
    latency_ms: float | None = None
    error: str | None = None


class Health(BaseModel):
    status: str
    version: str
    database: DatabaseHealth
    jobs: dict[str, int] | None = None
    embedded: bool


class Live(BaseModel):
    status: str


@router.get("/live", response_model=Live)
async def live() -> Live:
    return Live(status="ok")


async def _probe(state: State) -> tuple[DatabaseHealth, dict[str, int]]:
    started = time.perf_counter()
    async with state.db.engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT current_setting('server_version') AS v, "
                    "(SELECT extversion FROM pg_extension WHERE extname = 'vector') AS vec"
                )
            )
        ).one()
        revision = (
            await conn.execute(text("SELECT version_num FROM alembic_version LIMIT 1"))
        ).scalar()
        jobs_rows = (
            await conn.execute(
                text("SELECT status::text, count(*) FROM jobs.procrastinate_jobs GROUP BY status")
            )
        ).all()
    db = DatabaseHealth(
        ok=True,
        revision=revision,
        head=head_revision(state.db.url),
        server_version=row.v,
        pgvector=row.vec,
        latency_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return db, {status: int(n) for status, n in jobs_rows}


@router.get(
    "",
    response_model=Health,
    responses={503: {"model": Health, "description": "the database is unreachable"}},
)
async def ready(state: State) -> Any:
    try:
        async with asyncio.timeout(READY_DEADLINE_S):
            db, jobs = await _probe(state)
    except Exception as exc:  # any failure to reach the store means "not ready"
        reason = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        body = Health(
            status="unavailable",
            version=__version__,
            database=DatabaseHealth(ok=False, error=f"database unreachable: {reason}"),
            embedded=state.embedded,
        )
        return JSONResponse(body.model_dump(mode="json"), status_code=503)
    behind = db.revision != db.head
    return Health(
        status="degraded" if behind else "ok",
        version=__version__,
        database=db,
        jobs=jobs,
        embedded=state.embedded,
    )
