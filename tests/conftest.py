"""Shared fixtures: one real PostgreSQL + pgvector per test session (the embedded one, or
`OPSCOPILOT_TEST_DATABASE_URL`), migrated to head, with clean tables for each test."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from opscopilot.core.settings import Settings
from opscopilot.store.engine import Database, make_engine

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    external = os.environ.get("OPSCOPILOT_TEST_DATABASE_URL")
    if external:
        yield external
        return
    from opscopilot.store.embedded import start_embedded, stop_embedded

    root = Path(tempfile.mkdtemp(prefix="opscopilot-tests-"))
    data_dir = root / "pgdata"
    url = start_embedded(data_dir)
    _non_durable(url)
    try:
        yield url
    finally:
        stop_embedded(data_dir)
        shutil.rmtree(root, ignore_errors=True)


def _non_durable(url: str) -> None:
    """This throwaway server's data dies with the session, so it skips the disk flushes
    (postgresql.org/docs/current/non-durability.html): a commit costs ~0.5 ms instead of
    ~9 ms here. Crash and durability tests run their own servers, with the defaults."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for name in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(f"ALTER SYSTEM SET {name} = off")
        conn.execute("SELECT pg_reload_conf()")


# Real workers in tests defer the periodic tasks due now: keep the scheduled run and the
# briefing tick twelve hours away, so a test never meets a real tick (tests defer their own).
QUIET_CRON = f"0 {(datetime.now(UTC).hour + 12) % 24} * * *"


def make_settings(url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "log_json": False,
        "db": {"url": url, "pool_size": 5, "max_overflow": 5, "auto_upgrade": False},
        "jobs": {
            "in_process_worker": False,
            "stalled_after_s": 2,
            "heartbeat_s": 0.5,
            "retry_stalled_cron": "* * * * * */2",
            "shutdown_timeout_s": 2,
        },
        "notify": {"backoff_base_s": 0.05, "backoff_max_s": 0.5, "relay_poll_s": 0.05},
    }
    schedule = overrides.pop("schedule", {})
    assert isinstance(schedule, dict)
    values["schedule"] = {"summary_cron": QUIET_CRON, "briefing_cron": QUIET_CRON, **schedule}
    values.update(overrides)
    # Settings reads `environment` only under its alias (the deployment's ENVIRONMENT).
    values["ENVIRONMENT"] = values.pop("environment")
    return Settings(_env_file=None, **values)  # type: ignore[arg-type, call-arg]


@pytest.fixture(scope="session")
def migrated(pg_url: str) -> str:
    from opscopilot.store import migrate

    migrate.upgrade(pg_url)
    return pg_url


@pytest.fixture(scope="session")
def settings(migrated: str) -> Settings:
    return make_settings(migrated)


@pytest.fixture(scope="session")
async def db(settings: Settings) -> AsyncIterator[Database]:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    assert settings.db.url
    engine = make_engine(settings.db.url, settings, application_name="tests")
    database = Database(
        url=settings.db.url,
        engine=engine,
        sessions=async_sessionmaker(engine, expire_on_commit=False),
    )
    yield database
    await engine.dispose()


# What the original `TRUNCATE <public tables> RESTART IDENTITY CASCADE` plus `TRUNCATE
# jobs.procrastinate_jobs CASCADE` empty: those tables and, transitively, every table
# referencing them. Learnt once per session.
_CLOSURE_SQL = """
WITH RECURSIVE closure(oid) AS (
    SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND (
        (n.nspname = 'public' AND c.relname <> 'alembic_version'
         AND c.relname NOT LIKE 'checkpoint%')
        OR (n.nspname = 'jobs' AND c.relname = 'procrastinate_jobs'))
    UNION
    SELECT con.conrelid FROM pg_constraint con JOIN closure ON con.confrelid = closure.oid
    WHERE con.contype = 'f'
)
SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname),
       n.nspname = 'public',
       coalesce((SELECT array_agg(s.oid::regclass::text) FROM pg_depend d
                 JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
                 WHERE d.refobjid = c.oid AND d.deptype IN ('a', 'i')), '{}')
FROM closure JOIN pg_class c ON c.oid = closure.oid JOIN pg_namespace n ON n.oid = c.relnamespace
"""
_TABLES: list[str] = []
_PUBLIC_SEQUENCES: list[str] = []


async def truncate_all(database: Database) -> None:
    """Empty every table a test may have written, and restart the public identities.

    TRUNCATE gives each table and index new files whether it held rows or not, which cost
    a few hundred ms per test for ~40 tables; a test writes a few of them, so only the
    non-empty ones are truncated. The end state is the same as truncating them all."""
    async with database.engine.begin() as conn:
        if not _TABLES:
            for name, public, sequences in await conn.execute(text(_CLOSURE_SQL)):
                _TABLES.append(name)
                if public:
                    _PUBLIC_SEQUENCES.extend(sequences)
        # Held to the commit, as TRUNCATE would: nothing writes between the probe and it.
        await conn.execute(text(f"LOCK TABLE {', '.join(_TABLES)} IN EXCLUSIVE MODE"))
        probe = " UNION ALL ".join(f"SELECT '{t}' WHERE EXISTS (SELECT FROM {t})" for t in _TABLES)
        written = [r[0] for r in await conn.execute(text(probe))]
        if written:
            await conn.execute(text(f"TRUNCATE {', '.join(written)} CASCADE"))
        for sequence in _PUBLIC_SEQUENCES:
            await conn.execute(text(f"ALTER SEQUENCE {sequence} RESTART"))


@pytest.fixture
async def clean_db(db: Database) -> Database:
    await truncate_all(db)
    return db


@pytest.fixture
async def app(settings: Settings, clean_db: Database) -> AsyncIterator[FastAPI]:
    from opscopilot.api.app import create_app

    application = create_app(settings, database=clean_db)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def _key(database: Database, role: str, user: str, sites: list[str] | None = None) -> str:
    from opscopilot.access.service import create_key

    async with database.sessions() as session:
        created = await create_key(session, user=user, role=role, sites=sites)  # type: ignore[arg-type]
        await session.commit()
    return created.key


@pytest.fixture
async def admin_headers(clean_db: Database) -> dict[str, str]:
    return {"Authorization": f"Bearer {await _key(clean_db, 'admin', 'admin-user')}"}


@pytest.fixture
async def operator_headers(clean_db: Database) -> dict[str, str]:
    return {"Authorization": f"Bearer {await _key(clean_db, 'operator', 'operator-user')}"}


@pytest.fixture
async def viewer_headers(clean_db: Database) -> dict[str, str]:
    return {"Authorization": f"Bearer {await _key(clean_db, 'viewer', 'viewer-user')}"}


@pytest.fixture
def key_factory(clean_db: Database):  # type: ignore[no-untyped-def]
    """Make a bearer header for any role, user and sites."""

    async def make(role: str, user: str, sites: list[str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {await _key(clean_db, role, user, sites)}"}

    return make
