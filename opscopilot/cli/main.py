"""`opscopilot`: serve, worker, db, keys, version. Heavy imports stay inside commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from opscopilot.cli.db import app as db_app
from opscopilot.cli.ingest import ingest
from opscopilot.cli.jobs import app as jobs_app
from opscopilot.cli.keys import app as keys_app
from opscopilot.cli.slack import slack
from opscopilot.cli.users import app as users_app

if TYPE_CHECKING:
    from opscopilot.core.settings import Settings

app = typer.Typer(
    name="opscopilot",
    help="Manufacturing operations copilot.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(users_app, name="users")
app.add_typer(jobs_app, name="jobs")
app.command()(slack)
app.command()(ingest)

EXTRA_COMMAND_MODULES: list[str] = [
    "opscopilot.cli.chat",
    "opscopilot.cli.docs",
    "opscopilot.cli.search",
    "opscopilot.cli.forecast",
    "opscopilot.cli.demo",
]


@app.command()
def version() -> None:
    """Print the version."""
    from opscopilot import __version__

    typer.echo(__version__)


@app.command()
def serve(
    host: str = typer.Option(None, help="Address to bind (default: settings api.host)."),
    port: int = typer.Option(None, help="Port (default: settings api.port)."),
    workers: int = typer.Option(
        1, help="Processes; >1 needs a DATABASE_URL or shares the embedded one."
    ),
) -> None:
    """Run the API, the web chat and (on the embedded default) an in-process worker."""
    run_server(host=host, port=port, workers=workers)


def run_server(*, host: str | None, port: int | None, workers: int = 1) -> None:
    """What `serve` runs (and `demo` after loading): uvicorn on the app factory."""
    import uvicorn

    from opscopilot.core.logging import configure_logging
    from opscopilot.core.metrics import across_workers
    from opscopilot.core.settings import get_settings

    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    # Before the workers start: each picks prometheus_client's mode when it imports it.
    with across_workers(workers):
        uvicorn.run(
            "opscopilot.api.app:app_from_env",
            factory=True,
            host=host or settings.api.host,
            port=port or settings.api.port,
            workers=workers,
            log_config=None,
            **server_options(settings),
        )


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's connection handling from settings (see `api.keep_alive_s`)."""
    return {
        "timeout_keep_alive": max(1, round(settings.api.keep_alive_s)),
        "backlog": settings.api.backlog,
        "timeout_graceful_shutdown": int(settings.jobs.shutdown_timeout_s) + 5,
    }


@app.command()
def worker(
    concurrency: int = typer.Option(None, help="Jobs run at once (default: settings)."),
) -> None:
    """Run a job-queue worker: bulk forecasts, deliveries, inference jobs, schedules."""
    import asyncio

    from opscopilot.cli.runtime import run_worker

    asyncio.run(run_worker(concurrency))


def main() -> None:
    import importlib

    for module in EXTRA_COMMAND_MODULES:
        importlib.import_module(module).register(app)
    app()


if __name__ == "__main__":
    main()
