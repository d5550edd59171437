"""`opscopilot ingest-docs PATH...`: SOPs and manuals into searchable, citable chunks."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from opscopilot.ingest.documents import DocumentLoad


def register(app: typer.Typer) -> None:
    app.command("ingest-docs")(ingest_docs)


def ingest_docs(
    paths: list[Path] = typer.Argument(..., exists=True, help="Files or folders (recursive)."),
    site: str | None = typer.Option(None, help="Plant the documents belong to (default: all)."),
) -> None:
    """Load Markdown, text and PDF files; a changed file replaces its chunks."""
    from rich.console import Console
    from rich.table import Table

    from opscopilot.ingest.documents import collect_files

    files = collect_files(paths)
    if not files:
        typer.secho("no Markdown, text or PDF files found", fg="red", err=True)
        raise typer.Exit(2)
    loads = asyncio.run(_load(files, site))
    table = Table("file", "title", "status", "chunks", "note")
    for load in loads:
        table.add_row(
            Path(load.path).name, load.title or "", load.status, str(load.chunks), load.reason or ""
        )
    Console().print(table)
    if any(load.status == "skipped" for load in loads):
        raise typer.Exit(1)


async def _load(files: list[Path], site: str | None) -> list[DocumentLoad]:
    from opscopilot.cli.runtime import bootstrap
    from opscopilot.ingest.documents import ingest_document

    _settings, db = await asyncio.to_thread(bootstrap, application_name="cli")
    try:
        loads = []
        for path in files:
            # one transaction per file: a bad file does not undo the good ones
            async with db.transaction() as session:
                loads.append(await ingest_document(session, path=path, site=site))
        return loads
    finally:
        await db.dispose()
