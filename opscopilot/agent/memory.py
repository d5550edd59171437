"""Thread memory: LangGraph's Postgres checkpointer on its own psycopg pool.

The checkpointer speaks psycopg 3 (the rest of the app uses asyncpg), so it gets its own
small pool: autocommit (its setup runs CREATE INDEX CONCURRENTLY), dict rows, no prepared
statements (safe behind a transaction pooler), no pipeline mode (it breaks on connections
left idle while a model thinks). `setup()` runs once per process, under an advisory lock
so that replicas starting together do not race on the migration table.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg.rows import dict_row

from opscopilot.store.pools import SheddingPool
from opscopilot.store.urls import libpq_url

# Any fixed number: "the checkpointer's setup" across every process of the deployment.
SETUP_LOCK_KEY = 7_214_390_551
SETUP_LOCK_POLL_S = 0.2
# Two kept open, so that a burst of turns does not start by connecting one by one.
POOL_MIN = 2
POOL_MAX = 8
# Seconds a turn waits for a free connection (settings.db.checkpoint_pool_timeout): then the
# turn ends with an "unavailable" error event instead of queueing without bound.
POOL_TIMEOUT_S = 5.0


@asynccontextmanager
async def open_checkpointer(
    db_url: str, *, max_size: int = POOL_MAX, timeout: float = POOL_TIMEOUT_S
) -> AsyncIterator[object]:
    """An `AsyncPostgresSaver` over a pool that lives as long as the context."""
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    pool = SheddingPool(
        libpq_url(db_url),
        min_size=POOL_MIN,
        max_size=max(POOL_MIN, max_size),
        timeout=timeout,
        busy_message="the conversation memory is busy; try again shortly",
        open=False,
        kwargs={
            "autocommit": True,
            "row_factory": dict_row,
            # None, not 0: psycopg prepares every statement at 0, which a transaction
            # pooler (PgBouncer) breaks with "prepared statement does not exist".
            "prepare_threshold": None,
            "application_name": "opscopilot-checkpointer",
        },
        check=SheddingPool.check_connection,
        name="checkpointer",
    )
    async with pool:
        # Checkpoints hold messages and plain data only: loading refuses any other type
        # (what LANGGRAPH_STRICT_MSGPACK does, without depending on import order).
        serde = JsonPlusSerializer(allowed_msgpack_modules=None)
        saver = AsyncPostgresSaver(pool, serde=serde)  # type: ignore[arg-type]
        # The saver holds one process-wide lock around every query, which only a single
        # shared connection needs: over a pool each query has a connection of its own, and
        # the lock would serialise every thread's checkpoints behind one another.
        saver.lock = contextlib.nullcontext()  # type: ignore[assignment]
        async with pool.connection() as conn:
            await _take_setup_lock(conn)
            try:
                await saver.setup()
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK_KEY,))
        yield saver


async def _take_setup_lock(conn: Any) -> None:
    """Poll for the setup lock rather than wait in `pg_advisory_lock`: the holder's
    CREATE INDEX CONCURRENTLY waits for every open transaction to end, including a
    blocking lock call, and Postgres does not see that cycle as a deadlock."""
    while True:
        cur = await conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (SETUP_LOCK_KEY,))
        row = await cur.fetchone()
        if row and row["ok"]:
            return
        await asyncio.sleep(SETUP_LOCK_POLL_S)
