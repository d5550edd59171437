"""The async engine and session factory, built once per process in a lifespan or bootstrap."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from opscopilot.core.settings import Settings
from opscopilot.store.admission import AdmittingQueuePool
from opscopilot.store.urls import asyncpg_url, libpq_url


def resolve_database_url(settings: Settings) -> str:
    """The configured server, or the embedded one (started or reused) when none is set."""
    if settings.db.url:
        return settings.db.url
    from opscopilot.store.embedded import start_embedded

    return start_embedded(settings.db.embedded_dir)


def make_engine(
    url: str, settings: Settings, *, application_name: str = "opscopilot"
) -> AsyncEngine:
    db = settings.db
    engine = create_async_engine(
        asyncpg_url(url),
        echo=db.echo,
        poolclass=AdmittingQueuePool.configured(
            queue_wait_s=db.queue_wait_s, queue_max=db.queue_max
        ),
        pool_size=db.pool_size,
        max_overflow=db.max_overflow,
        pool_timeout=db.pool_timeout,
        connect_args={
            "timeout": db.connect_timeout,
            "command_timeout": db.statement_timeout_ms / 1000,
            "server_settings": {
                "application_name": application_name,
                "statement_timeout": str(db.statement_timeout_ms),
            },
        },
    )
    check_on_checkout(engine, ping_after_idle_s=db.ping_after_idle_s)
    return engine


_CHECKED_IN_AT = "opscopilot_checked_in_at"


def check_on_checkout(engine: AsyncEngine, *, ping_after_idle_s: float) -> None:
    """Survive a Postgres restart under load: a pooled connection is replaced before use when
    its socket was closed (a restart or a terminated backend closes every one), or, idle
    longer than `ping_after_idle_s`, when a ping fails (a peer gone without closing).

    Instead of `pool_pre_ping`, which on asyncpg costs three round trips (BEGIN, ping,
    ROLLBACK) on every checkout: two or three times per request, more than the request's
    own queries."""
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkin")
    def _checked_in(_: Any, record: ConnectionPoolEntry) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _check(dbapi_connection: Any, record: ConnectionPoolEntry, _: Any) -> None:
        driver = record.driver_connection
        if driver is None or driver.is_closed():
            raise exc.DisconnectionError("the server closed the connection")
        checked_in_at = record.info.get(_CHECKED_IN_AT)
        if checked_in_at is None or time.monotonic() - checked_in_at < ping_after_idle_s:
            return  # fresh from connect, or in use moments ago
        try:
            dbapi_connection.ping()
        except Exception as error:
            raise exc.DisconnectionError(f"ping failed: {error!r}") from error


SessionFactory = async_sessionmaker[AsyncSession]


@dataclass
class Database:
    """What a process needs of the store: the URL, the engine and a session factory."""

    url: str
    engine: AsyncEngine
    sessions: SessionFactory

    @property
    def libpq_url(self) -> str:
        return libpq_url(self.url)

    @cached_property
    def reads(self) -> SessionFactory:
        """Sessions whose statements commit one by one (autocommit): for work that only
        reads, or writes in a single statement. No BEGIN / ROLLBACK round trips."""
        autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        return async_sessionmaker(autocommit, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


def open_database(settings: Settings, *, application_name: str = "opscopilot") -> Database:
    url = resolve_database_url(settings)
    engine = make_engine(url, settings, application_name=application_name)
    return Database(
        url=url,
        engine=engine,
        sessions=async_sessionmaker(engine, expire_on_commit=False),
    )
