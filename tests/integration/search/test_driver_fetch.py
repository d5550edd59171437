"""Item search's statement runs on the session's asyncpg connection itself: it must still
behave like any statement of the session (its transaction, its pending changes, and
SQLAlchemy's errors, so that the API's handlers answer 422 / 503 as for the others)."""

from __future__ import annotations

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from opscopilot.store.driver import fetch_records
from opscopilot.store.engine import Database
from opscopilot.store.models import ManufacturingItem


async def test_named_parameters_and_a_name_used_twice(clean_db: Database) -> None:
    async with clean_db.reads() as session:
        rows = await fetch_records(
            session,
            "SELECT CAST(:a AS int) + :b AS s, CAST(:a AS text) || 'x' AS t, 2 AS u",
            {"a": 40, "b": 2},
        )
    assert [(r["s"], r["t"], r["u"]) for r in rows] == [(42, "40x", 2)]


async def test_it_sees_the_sessions_transaction_and_pending_changes(clean_db: Database) -> None:
    sql = "SELECT count(*) AS n FROM manufacturing_items WHERE sku = :sku"
    async with clean_db.sessions() as session:
        session.add(ManufacturingItem(sku="T-1", name="Flushed in the transaction"))
        await session.flush()
        session.add(ManufacturingItem(sku="T-2", name="Pending, not flushed"))
        assert [r["n"] for r in await fetch_records(session, sql, {"sku": "T-1"})] == [1]
        assert [r["n"] for r in await fetch_records(session, sql, {"sku": "T-2"})] == [1]
        await session.rollback()
    async with clean_db.reads() as session:
        assert [r["n"] for r in await fetch_records(session, sql, {"sku": "T-1"})] == [0]


async def test_a_failing_statement_raises_sqlalchemys_error(clean_db: Database) -> None:
    async with clean_db.reads() as session:
        with pytest.raises(sa_exc.DBAPIError) as raised:
            await fetch_records(session, "SELECT 1 / :zero AS x", {"zero": 0})
        assert getattr(raised.value.orig, "sqlstate", None) == "22012"
        assert not raised.value.connection_invalidated
        # the connection is fine and stays in use
        assert [r["x"] for r in await fetch_records(session, "SELECT 1 AS x", {})] == [1]


async def test_a_lost_connection_is_invalidated_and_the_next_session_works(
    clean_db: Database,
) -> None:
    async with clean_db.reads() as session:
        (record,) = await fetch_records(session, "SELECT pg_backend_pid() AS pid", {})
        pid = record["pid"]
        async with clean_db.reads() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(sa_exc.DBAPIError) as raised:
            await fetch_records(session, "SELECT 1 AS x", {})
        assert raised.value.connection_invalidated
    async with clean_db.reads() as session:
        assert [r["x"] for r in await fetch_records(session, "SELECT 1 AS x", {})] == [1]
