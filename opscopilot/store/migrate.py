"""Alembic, driven from code: upgrade, downgrade, current revision and drift check."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

from opscopilot.store.urls import psycopg_sqlalchemy_url


def include_object(obj: Any, name: Any, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Autogenerate and drift checks skip what other libraries manage with their own SQL."""
    if type_ != "table":
        return True
    # The LangGraph checkpointer creates and migrates its own tables (checkpoint*).
    return getattr(obj, "schema", None) != "jobs" and not str(name).startswith("checkpoint")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("opscopilot.store") / "migrations"))
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    cfg.attributes["url"] = url
    return cfg


# pg_advisory_lock key held while migrating ("opsc"): any number of processes may start at once.
MIGRATION_LOCK_KEY = 0x6F707363


@contextmanager
def migration_lock(url: str) -> Iterator[None]:
    """Held by one process at a time, across the whole database: `serve --workers N`, a
    worker and a migration job starting together on an empty database would otherwise each
    create alembic_version and the tables, and all but one fail."""
    engine = create_engine(psycopg_sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    with migration_lock(url):
        command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    with migration_lock(url):
        command.downgrade(alembic_config(url), revision)


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def current_revision(url: str) -> str | None:
    engine = create_engine(psycopg_sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def is_behind(url: str) -> bool:
    return current_revision(url) != head_revision(url)


def upgrade_if_behind(url: str) -> bool:
    """Upgrade at process start when the database is behind; True when it upgraded."""
    if not is_behind(url):
        return False
    with migration_lock(url):
        # Another process may have upgraded while this one waited for the lock.
        if not is_behind(url):
            return False
        command.upgrade(alembic_config(url), "head")
    return True
