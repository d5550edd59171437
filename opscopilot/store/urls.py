"""One database URL, spelled for each driver: SQLAlchemy+asyncpg, and libpq for psycopg."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url


def _base(url: str) -> URL:
    u = make_url(url.replace("postgres://", "postgresql://", 1))
    if not u.drivername.startswith("postgresql"):
        raise ValueError(f"not a PostgreSQL URL: {u.drivername}")
    return u


def asyncpg_url(url: str) -> str:
    return _base(url).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def psycopg_sqlalchemy_url(url: str) -> str:
    return _base(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """A conninfo URI for psycopg (procrastinate, the LangGraph checkpointer, pg_dump)."""
    return _base(url).set(drivername="postgresql").render_as_string(hide_password=False)


def redacted(url: str) -> str:
    return _base(url).render_as_string(hide_password=True)
