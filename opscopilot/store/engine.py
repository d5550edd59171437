"""The async engine and session factory, built once per process in a lifespan or bootstrap."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from opscopilot.core.settings import Settings
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
    return create_async_engine(
        asyncpg_url(url),
        echo=settings.db.echo,
        pool_size=settings.db.pool_size,
        max_overflow=settings.db.max_overflow,
        pool_timeout=settings.db.pool_timeout,
        # Survive a Postgres restart under load: stale pooled connections are replaced.
        pool_pre_ping=True,
        connect_args={
            "timeout": settings.db.connect_timeout,
            "command_timeout": settings.db.statement_timeout_ms / 1000,
            "server_settings": {
                "application_name": application_name,
                "statement_timeout": str(settings.db.statement_timeout_ms),
            },
        },
    )


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
