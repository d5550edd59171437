"""psycopg pools that shed load: the wait for a free connection is bounded, and running out
of it raises `ServiceUnavailable` (a 503 at the API, an error event in a chat) instead of
psycopg's `PoolTimeout`, which callers would report as an internal error, after 30 s.

The job queue (procrastinate) and the chat checkpointer (LangGraph) each own such a pool;
the API's SQLAlchemy pool bounds its own wait with `db.pool_timeout`.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from opscopilot.core.errors import ServiceUnavailable


class SheddingPool(AsyncConnectionPool[AsyncConnection[Any]]):
    """An `AsyncConnectionPool` whose exhausted wait (`timeout`) is a `ServiceUnavailable`
    saying `busy_message`; every other argument is the pool's own."""

    def __init__(self, *args: Any, busy_message: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.busy_message = busy_message

    async def getconn(self, timeout: float | None = None) -> AsyncConnection[Any]:
        try:
            return await super().getconn(timeout)
        except PoolTimeout as exc:
            raise ServiceUnavailable(self.busy_message) from exc
