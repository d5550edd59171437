"""`opscopilot jobs`: look at the queue and prove a worker runs jobs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import typer

if TYPE_CHECKING:
    import procrastinate

T = TypeVar("T")


app = typer.Typer(help="The job queue.", no_args_is_help=True)


async def _with_jobs(fn: Callable[[procrastinate.App], Awaitable[T]]) -> T:
    from opscopilot.cli.runtime import bootstrap
    from opscopilot.jobs.app import build_app

    settings, db = await asyncio.to_thread(bootstrap, application_name="cli")
    await db.dispose()
    app_ = build_app(db.libpq_url, settings)
    async with app_.open_async():
        return await fn(app_)


@app.command()
def probe(
    marker: str = typer.Argument(..., help="Text the job writes to the audit log."),
    seconds: float = typer.Option(0.0, help="How long the job waits first."),
) -> None:
    """Queue a probe job; a worker runs it and records MARKER in the audit log."""
    job_id = asyncio.run(
        _with_jobs(
            lambda a: a.configure_task("maint.probe").defer_async(marker=marker, seconds=seconds)
        )
    )
    typer.echo(f"queued job {job_id}")


@app.command()
def status() -> None:
    """Jobs by status."""
    from opscopilot.jobs.app import queue_state

    counts = asyncio.run(_with_jobs(queue_state))
    for name, n in sorted(counts.items()):
        typer.echo(f"{name:12} {n}")
