"""Run records (`inference_jobs` rows): one serialisation of the input, stored and hashed.

JSON goes in as text serialised by orjson: the driver's default encoder (json.dumps) costs
~15 ms on a 100-item batch, more than the rest of the request.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from opscopilot.inference.runner import RunResult


@dataclass(frozen=True)
class Canonical:
    """An input serialised once (sorted keys): stored as is, and hashed."""

    json: str
    digest: str


def canonical(input: dict[str, Any]) -> Canonical:
    """Sorted keys, so equal inputs have equal hashes whatever order a client sent."""
    data = orjson.dumps(input, option=orjson.OPT_SORT_KEYS)
    return Canonical(data.decode(), hashlib.sha256(data).hexdigest())


_COLUMNS = (
    "id, model_name, model_version, input, input_hash, output, status, error, latency_ms, "
    "shadow, primary_job_id, site, actor, started_at, finished_at"
)
_VALUES = (
    ":id, :model_name, :model_version, CAST(:input AS jsonb), :input_hash, "
    "CAST(:output AS jsonb), :status, :error, :latency_ms, :shadow, :primary_job_id, :site, "
    ":actor, :started_at, :finished_at"
)
_INSERT_JOB = text(f"INSERT INTO inference_jobs ({_COLUMNS}) VALUES ({_VALUES})")
# The same, committed without waiting for the WAL flush; the setting rides in the
# statement (a CTE) rather than costing a SET LOCAL round trip of its own.
_INSERT_JOB_ASYNC_COMMIT = text(
    "WITH relaxed AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true)) "
    f"INSERT INTO inference_jobs ({_COLUMNS}) SELECT {_VALUES} FROM relaxed"
)


async def record(
    session: AsyncSession,
    *,
    target: tuple[str, str],
    input: Canonical,
    status: str,
    output: dict[str, Any] | None = None,
    error: str | None = None,
    latency_ms: float | None = None,
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
    shadow: bool = False,
    primary_job_id: uuid.UUID | None = None,
    site: str | None = None,
    actor: str | None = None,
    durable: bool = True,
    connection: AsyncConnection | None = None,
) -> uuid.UUID:
    """Insert one run. Durable rows join the session's transaction (the caller commits).
    `durable=False` rows (finished inline and shadow runs) are written at once in their
    own one-statement transaction, committed without waiting for the WAL flush (~7 ms
    here): after a database crash the last fraction of a second of such rows may be
    missing, never half-written; the caller already has its answer. `connection` (from
    `autocommit_connection`, checked out while the model ran) writes a non-durable row
    without waiting for a checkout; it is closed here."""
    job_id = uuid.uuid4()
    params = {
        "id": job_id, "model_name": target[0], "model_version": target[1],
        "input": input.json, "input_hash": input.digest,
        "output": None if output is None else orjson.dumps(output).decode(),
        "status": status, "error": error, "latency_ms": latency_ms, "shadow": shadow,
        "primary_job_id": primary_job_id, "site": site, "actor": actor,
        "started_at": started_at, "finished_at": finished_at,
    }  # fmt: skip
    engine = session.bind
    if durable and connection is not None:
        raise ValueError("a durable row joins the session's transaction, not a connection")
    if connection is None and (durable or not isinstance(engine, AsyncEngine)):
        await session.execute(_INSERT_JOB, params)
        if not durable:
            await session.commit()
        return job_id
    if connection is None:
        assert isinstance(engine, AsyncEngine)
        connection = await autocommit_connection(engine)
    try:
        await connection.execute(_INSERT_JOB_ASYNC_COMMIT, params)
    finally:
        await connection.close()
    return job_id


async def autocommit_connection(engine: AsyncEngine) -> AsyncConnection:
    """A pooled connection in autocommit mode (no BEGIN / COMMIT round trips around a
    one-statement write); the caller closes it."""
    conn = await engine.connect()
    try:
        return await conn.execution_options(isolation_level="AUTOCOMMIT")
    except BaseException:
        await conn.close()
        raise


def finished_values(result: RunResult) -> dict[str, Any]:
    finished = datetime.now(UTC)
    return {
        "status": result.status,
        "output": result.output,
        "error": result.error,
        "latency_ms": result.latency_ms,
        "started_at": finished - timedelta(milliseconds=result.latency_ms),
        "finished_at": finished,
    }
