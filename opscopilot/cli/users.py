"""`opscopilot users`: the people behind keys and Slack ids, with their role and sites."""

from __future__ import annotations

import asyncio

import typer

from opscopilot.cli.keys import _with_session

app = typer.Typer(help="Users: role, sites and Slack id.", no_args_is_help=True)


@app.command("set")
def set_(
    user: str = typer.Argument(..., help="The user's id (created if new)."),
    role: str | None = typer.Option(None, help="viewer | operator | admin"),
    site: list[str] = typer.Option([], help="Limit the user to these sites (repeatable)."),
    all_sites: bool = typer.Option(False, "--all-sites", help="Lift the site limit."),
    slack_id: str | None = typer.Option(None, help="The user's Slack id (U...); '' unlinks."),
    name: str | None = typer.Option(None, help="Display name."),
) -> None:
    """Create or change a user; their keys and Slack questions act with this role and sites."""
    from opscopilot.access.roles import ROLES
    from opscopilot.access.service import set_user

    if role is not None and role not in ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}", param_hint="--role")
    sites = [] if all_sites else (list(site) or None)
    row = asyncio.run(
        _with_session(
            lambda s: set_user(
                s,
                external_id=user,
                role=role,
                sites=sites,
                slack_user_id=slack_id,
                name=name,
            )
        )
    )
    where = ",".join(row.sites) or "all sites"
    typer.echo(f"{row.external_id}: {row.role} of {where}; slack {row.slack_user_id or '-'}")


@app.command("list")
def list_() -> None:
    """List users."""
    from rich.console import Console
    from rich.table import Table

    from opscopilot.access.service import list_users

    rows = asyncio.run(_with_session(lambda s: list_users(s)))
    table = Table("user", "name", "role", "sites", "slack")
    for row in rows:
        table.add_row(
            row.external_id, row.name or "", row.role, ",".join(row.sites) or "all",
            row.slack_user_id or "",
        )  # fmt: skip
    Console().print(table)
