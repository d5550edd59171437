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
    try:
        yield url
    finally:
        stop_embedded(data_dir)
        shutil.rmtree(root, ignore_errors=True)


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


_TABLES: list[str] = []


async def truncate_all(database: Database) -> None:
    async with database.engine.begin() as conn:
        if not _TABLES:
            rows = await conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version' AND tablename NOT LIKE 'checkpoint%'"
                )
            )
            _TABLES.extend(r[0] for r in rows)
        await conn.execute(text(f"TRUNCATE {', '.join(_TABLES)} RESTART IDENTITY CASCADE"))
        await conn.execute(text("TRUNCATE jobs.procrastinate_jobs CASCADE"))


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
