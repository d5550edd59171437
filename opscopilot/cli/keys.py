"""`opscopilot keys`: create, list and revoke API keys."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import typer

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


app = typer.Typer(help="API keys (bearer tokens) and their roles.", no_args_is_help=True)


async def _with_session(fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    from opscopilot.cli.runtime import bootstrap

    _, db = await asyncio.to_thread(bootstrap, application_name="cli")
    try:
        async with db.sessions() as session:
            result = await fn(session)
            await session.commit()
            return result
    finally:
        await db.dispose()


@app.command()
def create(
    role: str = typer.Option("viewer", help="viewer | operator | admin"),
    user: str = typer.Option("admin", help="The user the key belongs to (created if new)."),
    name: str = typer.Option("default", help="A label for the key."),
    site: list[str] = typer.Option([], help="Limit the key to these sites (repeatable)."),
) -> None:
    """Create a key; it is shown once."""
    from opscopilot.access.service import create_key

    created = asyncio.run(
        _with_session(
            lambda s: create_key(s, user=user, role=role, name=name, sites=list(site))  # type: ignore[arg-type]
        )
    )
    typer.echo(created.key)
    typer.echo(f"id {created.id}  role {created.role}  user {created.user}", err=True)


@app.command("list")
def list_() -> None:
    """List keys (never the secrets)."""
    from rich.console import Console
    from rich.table import Table

    from opscopilot.access.service import list_keys

    rows = asyncio.run(_with_session(lambda s: list_keys(s)))
    table = Table("id", "prefix", "user", "role", "sites", "created", "revoked")
    for key, user in rows:
        table.add_row(
            str(key.id),
            key.prefix,
            user.external_id,
            key.role,
            ",".join(key.sites) or "all",
            key.created_at.isoformat(timespec="seconds"),
            key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "",
        )
    Console().print(table)


@app.command()
def revoke(key: str = typer.Argument(..., help="Key id or prefix.")) -> None:
    """Revoke a key at once."""
    from opscopilot.access.service import revoke_key

    row = asyncio.run(_with_session(lambda s: revoke_key(s, key_id_or_prefix=key)))
    typer.echo(f"revoked {row.id}")
