"""`opscopilot search`: find items and document passages, and re-embed after a model change."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import typer

if TYPE_CHECKING:
    from opscopilot.store.engine import Database

T = TypeVar("T")

app = typer.Typer(help="Item and document search.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="search")


async def _with_db(fn: Callable[[Database], Awaitable[T]]) -> T:
    from opscopilot.cli.runtime import bootstrap

    _settings, db = await asyncio.to_thread(bootstrap, application_name="cli")
    try:
        return await fn(db)
    finally:
        await db.dispose()


@app.command()
def items(
    query: str = typer.Argument(..., help='What you would type, e.g. "gasket acme 50mm".'),
    limit: int = typer.Option(10, min=1, max=100),
    site: list[str] = typer.Option(None, help="Only items used at this site (repeatable)."),
) -> None:
    """Items for a query, best first, with why each was found."""
    from rich.console import Console
    from rich.table import Table

    from opscopilot.store.search import ItemHit, search_items

    async def run(db: Database) -> list[ItemHit]:
        async with db.session() as session:
            return await search_items(
                session, query=query, limit=limit, sites=tuple(site) if site else None
            )

    table = Table("sku", "name", "supplier", "score", "matched")
    for hit in asyncio.run(_with_db(run)):
        item = hit.values
        table.add_row(
            item["sku"], item["name"], item["supplier_name"] or "", f"{hit.score:.3f}",
            hit.matched,
        )  # fmt: skip
    Console().print(table)


@app.command()
def docs(
    query: str = typer.Argument(..., help='e.g. "how do I put a lot on quality hold"'),
    limit: int = typer.Option(5, min=1, max=50),
    site: str | None = typer.Option(None),
) -> None:
    """Document passages for a question, with their references."""
    from opscopilot.store.search import DocHit, search_documents

    async def run(db: Database) -> list[DocHit]:
        async with db.session() as session:
            return await search_documents(session, query=query, limit=limit, site=site)

    for hit in asyncio.run(_with_db(run)):
        typer.secho(f"[{hit.score:.3f}] {hit.reference}", bold=True)
        typer.echo(f"  {hit.text[:300]}{'...' if len(hit.text) > 300 else ''}\n")


@app.command()
def reembed(
    model: str | None = typer.Option(None, help="Default: settings ingest.embedding_model."),
    now: bool = typer.Option(False, "--now", help="Embed here and wait, not in a worker."),
) -> None:
    """Embed the items and chunks that have no vector for the model yet."""
    if now:

        async def run(db: Database) -> int:
            from opscopilot.store.search import reembed_all
            from opscopilot.store.vectors import current_model

            return await reembed_all(db, model=model or current_model())

        typer.echo(f"embedded {asyncio.run(_with_db(run))}")
        return

    async def queue(db: Database) -> int | None:
        from opscopilot.core.settings import get_settings
        from opscopilot.jobs.app import build_app
        from opscopilot.jobs.search import defer_reembed

        jobs = build_app(db.libpq_url, get_settings())
        async with jobs.open_async():
            return await defer_reembed(jobs, model=model)

    job_id = asyncio.run(_with_db(queue))
    typer.echo(f"queued job {job_id}" if job_id else "a re-embed job is already queued")
