"""`opscopilot db`: upgrade, current, backup and restore (the wheel's pg_dump/pg_restore)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import typer

app = typer.Typer(help="Database schema and backups.", no_args_is_help=True)


def _url() -> str:
    from opscopilot.core.settings import get_settings
    from opscopilot.store.engine import resolve_database_url

    return resolve_database_url(get_settings())


@app.command()
def upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply migrations up to REVISION (default head)."""
    from opscopilot.store import migrate

    url = _url()
    migrate.upgrade(url, revision)
    typer.echo(f"database at {migrate.current_revision(url)}")


@app.command()
def downgrade(revision: str = typer.Argument(..., help="Target revision, or 'base'.")) -> None:
    """Revert migrations down to REVISION."""
    from opscopilot.store import migrate

    url = _url()
    migrate.downgrade(url, revision)
    typer.echo(f"database at {migrate.current_revision(url)}")


@app.command()
def current() -> None:
    """Print the applied and the newest revision."""
    from opscopilot.store import migrate

    url = _url()
    typer.echo(f"current: {migrate.current_revision(url)}  head: {migrate.head_revision(url)}")


def _tool(name: str) -> str:
    from opscopilot.store.embedded import pg_bin

    path = pg_bin(name)
    return str(path) if path.exists() else name


@app.command()
def backup(file: Path = typer.Argument(..., help="Where to write the dump.")) -> None:
    """Dump every schema (data, queue, checkpoints) to FILE in pg_dump's custom format."""
    from opscopilot.store.urls import libpq_url

    result = subprocess.run(
        [_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(file), libpq_url(_url())],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        typer.secho(f"backup failed: {result.stderr.strip()}", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo(f"wrote {file} ({file.stat().st_size} bytes)")


@app.command()
def restore(
    file: Path = typer.Argument(..., exists=True, readable=True, help="A dump from `db backup`."),
    force: bool = typer.Option(False, help="Replace the data of a database that is not empty."),
) -> None:
    """Restore FILE into the configured (or embedded) database."""
    from sqlalchemy import create_engine, inspect, pool

    from opscopilot.store.urls import libpq_url, psycopg_sqlalchemy_url

    url = _url()
    engine = create_engine(psycopg_sqlalchemy_url(url), poolclass=pool.NullPool)
    with engine.connect() as conn:
        not_empty = inspect(conn).has_table("alembic_version")
    engine.dispose()
    if not_empty and not force:
        typer.secho(
            "the target database is not empty; pass --force to replace its data", fg="red", err=True
        )
        raise typer.Exit(1)
    args = [_tool("pg_restore"), "--no-owner", "--exit-on-error", "--single-transaction"]
    if not_empty:
        args += ["--clean", "--if-exists"]
    result = subprocess.run(
        [*args, "--dbname", libpq_url(url), str(file)], capture_output=True, text=True
    )
    if result.returncode != 0:
        typer.secho(f"restore failed: {result.stderr.strip()}", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo(f"restored {file}")
