"""One statement run on the session's asyncpg connection itself, for the hottest read.

Item search reads ~100 candidate rows per query. Through the ORM session's `execute` the
statement is built, keyed, compiled from cache and its rows wrapped and processed, which
cost 1.1 to 1.4 ms of CPU per search more than asyncpg's own `fetch` on the same
connection (measured on bench/search's 100,000 items: 5.2 against 6.6 ms a search, the
whole search). So the statement is compiled once per SQL text by SQLAlchemy (to asyncpg's
positional parameters) and run by the driver; its errors are raised as SQLAlchemy's
`DBAPIError`, as any other statement's, so callers and the API's error handlers see no
difference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from asyncpg.exceptions import InterfaceError, InternalClientError, PostgresError
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

# The asyncpg errors SQLAlchemy's asyncpg dialect raises as DBAPI errors (its translation
# map): server errors, client interface errors (a closed connection), protocol states.
_DRIVER_ERRORS = (PostgresError, InterfaceError, InternalClientError)


@lru_cache(maxsize=512)
def positional(sql: str, dialect: Dialect) -> tuple[str, tuple[str, ...]]:
    """`sql` with named parameters (`:name`) as the dialect's positional SQL, and the names
    in order (a name used twice is listed twice)."""
    compiled = text(sql).compile(dialect=dialect)
    return str(compiled), tuple(compiled.positiontup or ())


async def fetch_records(
    session: AsyncSession, sql: str, params: Mapping[str, Any]
) -> Sequence[Any]:
    """The rows of `sql` (named parameters from `params`) as asyncpg records, read on the
    session's connection: inside its transaction when one is open, autocommit otherwise
    (a read needs none). Pending ORM changes are flushed first, as `execute` would."""
    if session.autoflush and (session.new or session.dirty or session.deleted):
        await session.flush()
    conn = await session.connection()
    statement, names = positional(sql, conn.dialect)
    args = [params[name] for name in names]
    driver = (await conn.get_raw_connection()).driver_connection
    if driver is None:
        raise sa_exc.InvalidRequestError("the session's connection is closed")
    try:
        records: list[Any] = await driver.fetch(statement, *args)
    except _DRIVER_ERRORS as error:  # as the dialect wraps them; others pass as they do there
        lost = driver.is_closed()
        if lost:  # the pool must not hand this connection out again
            await conn.invalidate(error)
        raise sa_exc.DBAPIError.instance(
            statement, args, error, Exception, connection_invalidated=lost, dialect=conn.dialect
        ) from error
    return records
