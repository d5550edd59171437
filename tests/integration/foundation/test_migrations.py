"""Migrations go from empty to head and back to base, and the models match the schema."""

from concurrent.futures import ThreadPoolExecutor

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from opscopilot.store import migrate
from opscopilot.store.models import Base
from opscopilot.store.urls import psycopg_sqlalchemy_url


def _scratch_db(url: str, name: str) -> str:
    admin = create_engine(
        psycopg_sqlalchemy_url(url), poolclass=pool.NullPool, isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def test_upgrade_downgrade_roundtrip(pg_url: str) -> None:
    url = _scratch_db(pg_url, "oc_migrations")
    assert migrate.current_revision(url) is None
    migrate.upgrade(url)
    assert migrate.current_revision(url) == migrate.head_revision(url)
    migrate.downgrade(url, "base")
    assert migrate.current_revision(url) is None
    engine = create_engine(psycopg_sqlalchemy_url(url), poolclass=pool.NullPool)
    with engine.connect() as conn:
        left = conn.execute(
            text(
                "SELECT count(*) FROM pg_tables WHERE schemaname IN ('public', 'jobs') "
                "AND tablename <> 'alembic_version'"
            )
        ).scalar()
    engine.dispose()
    assert left == 0
    migrate.upgrade(url)
    assert not migrate.is_behind(url)


def test_processes_starting_together_upgrade_an_empty_database_once(pg_url: str) -> None:
    # As `serve --workers 3` on a fresh database: each worker upgrades at start.
    url = _scratch_db(pg_url, "oc_migrations_race")
    with ThreadPoolExecutor(3) as pool_:
        upgraded = list(pool_.map(migrate.upgrade_if_behind, [url] * 3))
    assert sorted(upgraded) == [False, False, True]
    assert not migrate.is_behind(url)


def test_models_and_migrations_do_not_drift(migrated: str) -> None:
    engine = create_engine(psycopg_sqlalchemy_url(migrated), poolclass=pool.NullPool)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"include_object": migrate.include_object, "compare_type": True}
        )
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    assert diff == []
