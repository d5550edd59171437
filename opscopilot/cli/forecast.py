"""`opscopilot forecast`: one item's forecast, or the bulk forecast of every item with a
progress bar (run here, or `--queue`d to the workers and watched)."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from opscopilot.core.settings import Settings
    from opscopilot.forecasting.schemas import BulkCreate, ForecastCreate, ForecastRead, RunRead
    from opscopilot.store.engine import Database


def register(app: typer.Typer) -> None:
    app.command("forecast")(forecast)


def forecast(
    sku: str = typer.Argument(None, help="The item's sku (leave out with --all)."),
    forecast_type: str = typer.Option(
        "demand", "--type", "-t", help="demand | supply | quality | inventory"
    ),
    period: str = typer.Option(None, help="daily | weekly | monthly | quarterly"),
    horizon: int = typer.Option(None, min=1, help="Periods ahead (default: settings)."),
    lookback_days: int = typer.Option(None, "--lookback-days", min=1, help="History used."),
    site: str = typer.Option(None, help="Plant code (default: settings default_site)."),
    allow_naive: bool = typer.Option(False, "--allow-naive", help="Naive on short history."),
    every: bool = typer.Option(False, "--all", help="Forecast every item (a bulk run)."),
    queue: bool = typer.Option(False, "--queue", help="With --all: let the workers run it."),
    resume: str = typer.Option(None, help="Finish this bulk run's remaining partitions."),
    partition_size: int = typer.Option(50, min=1, max=1000, help="Items per partition."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Forecast one item (SKU), or every item of a type with --all."""
    from opscopilot.core.errors import OpsCopilotError
    from opscopilot.forecasting.schemas import BulkCreate, ForecastCreate

    try:
        if every or resume:
            bulk = BulkCreate(
                forecast_type=forecast_type, period=period or "weekly", horizon=horizon,
                site=site, partition_size=partition_size,
            )  # fmt: skip
            run = asyncio.run(_bulk(bulk, queue=queue, resume=resume, quiet=as_json))
            _print(run.model_dump_json() if as_json else None, run=run)
            if run.failed_partitions:
                raise typer.Exit(1)  # partial or failed: the error names the partitions
            return
        if not sku:
            raise typer.BadParameter("give a SKU, or --all for every item", param_hint="SKU")
        request = ForecastCreate(
            forecast_type=forecast_type, period=period or "monthly", entity_id=sku,
            horizon=horizon, lookback_days=lookback_days, site=site, allow_naive=allow_naive,
        )  # fmt: skip
        result = asyncio.run(_one(request))
    except OpsCopilotError as exc:
        typer.secho(f"error: {exc.message}", fg="red", err=True)
        raise typer.Exit(2) from None
    except ValueError as exc:  # pydantic: an unknown type or period, listing the valid ones
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(result.model_dump_json())
    else:
        _show(result)


async def _one(request: ForecastCreate) -> ForecastRead:
    from opscopilot.access.roles import SYSTEM
    from opscopilot.cli.runtime import bootstrap
    from opscopilot.forecasting.service import create_forecast

    settings, db = await asyncio.to_thread(bootstrap, application_name="forecast")
    try:
        async with db.sessions() as session:
            result = await create_forecast(
                session, request=request, principal=SYSTEM, settings=settings
            )
            await session.commit()
        return result
    finally:
        await db.dispose()


async def _bulk(bulk: BulkCreate, *, queue: bool, resume: str | None, quiet: bool) -> RunRead:
    from opscopilot.access.roles import SYSTEM
    from opscopilot.cli.runtime import bootstrap
    from opscopilot.forecasting import runs

    settings, db = await asyncio.to_thread(bootstrap, application_name="forecast")
    try:
        if queue:
            return await _queued(bulk, settings, db, resume=resume, quiet=quiet)
        if resume:
            run = await runs.resume_run(
                db.sessions, queue=None, run_id=uuid.UUID(resume), principal=SYSTEM
            )
        else:
            run = await runs.start_bulk_run(
                db.sessions, queue=None, request=bulk, principal=SYSTEM, settings=settings,
                trigger="cli",
            )  # fmt: skip
        progress, task = _progress(run, quiet)
        with progress:
            for part in run.partitions:
                if part.status != "done":
                    await runs.run_partition_here(
                        db.sessions, run_id=run.id, partition_no=part.partition_no,
                        settings=settings,
                    )  # fmt: skip
                progress.advance(task, part.items)
        async with db.sessions() as session:
            return await runs.get_run(session, run_id=run.id, principal=SYSTEM)
    finally:
        await db.dispose()


async def _queued(
    bulk: BulkCreate, settings: Settings, db: Database, *, resume: str | None, quiet: bool
) -> RunRead:
    """Defer the partitions to the workers and watch the run's progress."""
    from opscopilot.access.roles import SYSTEM
    from opscopilot.forecasting import runs
    from opscopilot.jobs.app import build_app

    jobs = build_app(db.libpq_url, settings)
    async with jobs.open_async():
        if resume:
            run = await runs.resume_run(
                db.sessions, queue=jobs, run_id=uuid.UUID(resume), principal=SYSTEM
            )
        else:
            run = await runs.start_bulk_run(
                db.sessions, queue=jobs, request=bulk, principal=SYSTEM, settings=settings,
                trigger="cli",
            )  # fmt: skip
    progress, task = _progress(run, quiet)
    with progress:
        while run.status == "running":
            await asyncio.sleep(1.0)
            async with db.sessions() as session:
                run = await runs.get_run(session, run_id=run.id, principal=SYSTEM)
            progress.update(task, completed=run.items_done)
    return run


def _progress(run: RunRead, quiet: bool) -> tuple[Progress, TaskID]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=quiet,
    )
    task = progress.add_task(
        f"{run.forecast_type} · {run.site}", total=run.items_total, completed=run.items_done
    )
    return progress, task


def _print(text: str | None, *, run: RunRead) -> None:
    if text is not None:
        typer.echo(text)
        return
    typer.echo(
        f"run {run.id}: {run.status}; {run.forecasts} forecasts, {run.skipped} items skipped "
        f"(too little history), {run.partitions_done}/{run.partitions_total} partitions"
    )
    if run.error:
        typer.echo(f"failed partitions {run.failed_partitions}: {run.error}", err=True)


def _show(result: ForecastRead) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(
        f"[bold]{result.entity_id}[/] · {result.forecast_type} · {result.period} · "
        f"site {result.site} · model [bold]{result.model}[/]"
        + (" · [yellow]fallback[/]" if result.fallback else "")
    )
    first = result.points[0] if result.points else {}
    levels = sorted(int(k[2:]) for k in first if k.startswith("lo"))
    table = Table("period", "forecast", *[f"{lv}% interval" for lv in levels])
    for p in result.points:
        bands = [f"{p[f'lo{lv}']:,.2f} – {p[f'hi{lv}']:,.2f}" for lv in levels]
        table.add_row(p["ds"], f"{p['yhat']:,.2f}", *bands)
    console.print(table)
    console.print(result.explanation)
