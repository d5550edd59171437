"""`opscopilot ingest FILE`: a CSV / JSON / JSONL / XLSX file as one batch, streaming."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from opscopilot.ingest.schemas import BatchRead

SHOWN_ERRORS = 10
STATEMENT_TIMEOUT_MS = 6 * 3600 * 1000


def ingest(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    source_type: str = typer.Option(
        ..., "--source-type", help="erp | accounting | inventory | sales | mes | quality"
    ),
    source_id: str = typer.Option(..., "--source-id", help="The sending system, e.g. erp_001."),
    mapping: str | None = typer.Option(
        None, help="Mapping name or file (default: the source's own, else generic)."
    ),
    site: str | None = typer.Option(None, help="Site of records that name none."),
    kind: str | None = typer.Option(
        None, help="Record kind of the file (default: from the mapping or the columns)."
    ),
    batch_reference: str | None = typer.Option(
        None, "--batch-reference", help="Default: the file name and a hash of its content."
    ),
    actor: str = typer.Option("cli", help="Who is recorded as having sent the batch."),
    as_json: bool = typer.Option(False, "--json", help="Print the batch as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Ingest FILE as one batch: all accepted rows or none; rejected rows are listed."""
    from opscopilot.core.errors import OpsCopilotError
    from opscopilot.ingest.kinds import SOURCE_TYPES

    if source_type not in SOURCE_TYPES:
        raise typer.BadParameter(
            f"unknown source type {source_type!r}; valid: {', '.join(SOURCE_TYPES)}",
            param_hint="--source-type",
        )
    started = datetime.now(UTC)
    try:
        batch = asyncio.run(
            _run(file, source_type, source_id, mapping, site, kind, batch_reference, actor, quiet)
        )
    except OpsCopilotError as exc:
        typer.secho(f"error: {exc.message}", fg="red", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(batch.model_dump_json(exclude={"payload"}))
    else:
        from rich.console import Console

        processed = batch.started_at is not None and batch.started_at >= started
        _summary(Console(), batch, processed=processed)
    if batch.status != "success":
        raise typer.Exit(1)


async def _run(
    file: Path,
    source_type: str,
    source_id: str,
    mapping: str | None,
    site: str | None,
    kind: str | None,
    batch_reference: str | None,
    actor: str,
    quiet: bool,
) -> BatchRead:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    from opscopilot.cli.runtime import bootstrap
    from opscopilot.core.settings import get_settings
    from opscopilot.ingest.service import ingest_file

    # One batch is one transaction: a large file's merge may run longer than the statement
    # timeout that protects API requests, so this process gets its own, longer one.
    db_settings = get_settings().db
    db_settings.statement_timeout_ms = max(db_settings.statement_timeout_ms, STATEMENT_TIMEOUT_MS)
    settings, db = await asyncio.to_thread(bootstrap, application_name="ingest")
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=quiet,
        transient=True,
    )
    task = progress.add_task(file.name, total=file.stat().st_size)
    try:
        with progress:
            return await ingest_file(
                db,
                path=file,
                source_type=source_type,
                source_id=source_id,
                actor=actor,
                settings=settings,
                mapping=mapping,
                site=site,
                kind=kind,
                batch_reference=batch_reference,
                progress=lambda done: progress.update(task, completed=done),
            )
    finally:
        await db.dispose()


def _summary(console: Console, batch: BatchRead, *, processed: bool) -> None:
    from rich.table import Table

    style = "green" if batch.status == "success" else "red"
    console.print(
        f"batch [bold]{batch.id}[/] ({batch.source_id} / {batch.batch_reference}): "
        f"[{style}]{batch.status}[/]"
        + ("" if processed else "  (already ingested; not processed again)")
    )
    if batch.duplicate_of:
        console.print(f"same content as batch {batch.duplicate_of}")
    counts = Table("received", "inserted", "updated", "unchanged", "rejected")
    counts.add_row(*(str(n) for n in (batch.received, batch.inserted, batch.updated,
                                      batch.unchanged, batch.rejected)))  # fmt: skip
    console.print(counts)
    if batch.error:
        console.print(f"[red]{batch.error}[/]")
    if batch.errors:
        errors = Table("kind", "row", "field", "reason", title="first rejected rows")
        for e in batch.errors[:SHOWN_ERRORS]:
            errors.add_row(e.kind, str(e.row), e.field, e.reason)
        console.print(errors)
        if batch.rejected > SHOWN_ERRORS:
            console.print(f"... and {batch.rejected - SHOWN_ERRORS} more")
