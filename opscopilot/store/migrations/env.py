"""Alembic environment: runs on a sync psycopg connection (procrastinate's schema SQL is
multi-statement, which asyncpg's prepared statements cannot run)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from opscopilot.store.migrate import include_object
from opscopilot.store.models import Base
from opscopilot.store.urls import psycopg_sqlalchemy_url

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        from opscopilot.core.settings import get_settings
        from opscopilot.store.engine import resolve_database_url

        url = resolve_database_url(get_settings())
    return psycopg_sqlalchemy_url(url)


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        include_schemas=False,
        compare_type=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
