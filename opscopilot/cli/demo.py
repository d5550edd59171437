"""`opscopilot demo`: the sample plant on the embedded default, forecast, and served.

It migrates the configured (or embedded) database like `serve` does, loads the demo plant
once (a later run finds it and skips, unless `--reload-data`), forecasts the demo items
with a progress bar, makes a fresh operator key for the local `demo` user, prints the URL,
the key and three questions the offline model answers from this data, then serves exactly
like `opscopilot serve`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from opscopilot.core.settings import Settings
    from opscopilot.store.engine import Database

DEMO_USER = "demo"
KEY_NAME = "demo"
# Each answered by the offline model from the demo plant (checked by tests/e2e/test_demo.py
# and the golden questions): a stock split over two locations, the planted forecast jump
# of GSK-040, and the stockout alerts its forecasts raise.
QUESTIONS = (
    "What's the stock of GSK-040?",
    "Why did the demand forecast for GSK-040 jump?",
    "Any active alerts?",
)


@dataclass(frozen=True)
class DemoReady:
    forecasts: int
    key: str


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    host: str = typer.Option(None, help="Address to bind (default: settings api.host)."),
    port: int = typer.Option(None, help="Port (default: settings api.port)."),
    reload_data: bool = typer.Option(
        False, "--reload-data", help="Load the sample plant again even if it is there."
    ),
    serve: bool = typer.Option(
        True, "--serve/--no-serve", help="Serve the web chat after loading (default)."
    ),
) -> None:
    """Load a sample plant, forecast it and serve the web chat: the quickest tour."""
    from rich.console import Console

    from opscopilot.core.settings import get_settings

    console = Console(soft_wrap=True)
    settings = get_settings()
    ready = asyncio.run(_prepare(console, reload_data=reload_data))
    bind_host = host or settings.api.host
    bind_port = port or settings.api.port
    shown_host = "127.0.0.1" if bind_host in ("0.0.0.0", "::", "") else bind_host
    url = f"http://{shown_host}:{bind_port}/"
    _print_tour(console, ready, url, serving=serve)
    if serve:
        from opscopilot.cli.main import run_server

        run_server(host=bind_host, port=bind_port)


async def _prepare(console: Console, *, reload_data: bool) -> DemoReady:
    from opscopilot.agent.demo_data import demo_plant_loaded, load_demo_plant
    from opscopilot.cli.runtime import bootstrap

    # bootstrap migrates with the same auto-upgrade `serve` runs at start.
    settings, db = await asyncio.to_thread(bootstrap, application_name="demo")
    try:
        loaded = reload_data or not await demo_plant_loaded(db)
        if loaded:
            with console.status("loading the demo plant (items, a year of sales, receipts, "
                                "inventory, SOPs)..."):  # fmt: skip
                summary = await load_demo_plant(db, settings, export_dir=str(_export_dir(settings)))
            console.print(
                f"loaded the demo plant: {summary.items} items, {summary.sales} sales, "
                f"{summary.receipts} receipts, {summary.quality} inspections, "
                f"{summary.documents} new documents"
            )
        else:
            console.print("the demo plant is already loaded (--reload-data loads it again)")
        forecasts = await _forecast_items(console, db, settings, every=reload_data)
        key = await _demo_key(db)
    finally:
        await db.dispose()
    return DemoReady(forecasts=forecasts, key=key)


def _export_dir(settings: Settings) -> Path:
    """Approved demo action requests are written as files next to the embedded data."""
    from opscopilot.store.embedded import default_data_dir

    return (settings.db.embedded_dir or default_data_dir()).parent / "demo-erp-exports"


async def _forecast_items(
    console: Console, db: Database, settings: Settings, *, every: bool
) -> int:
    """A monthly demand forecast of each demo item that has none yet (all with `every`).

    GSK-040 is left out: the loader gives it a forecast from before its demand jump and one
    after, and a newer one would hide the change the demo asks about.
    """
    from opscopilot.agent.demo_data import ITEMS, JUMP_SKU, SITE, skus_with_forecast

    done = set() if every else await skus_with_forecast(db, forecast_type="demand")
    todo = [i.sku for i in ITEMS if i.sku != JUMP_SKU and i.sku not in done]
    if not todo:
        return 0
    # The forecasting stack (pandas, statsforecast) loads only when there is work.
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from opscopilot.access.roles import SYSTEM
    from opscopilot.forecasting.schemas import ForecastCreate
    from opscopilot.forecasting.service import create_forecast

    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("forecasting demand", total=len(todo))
        for sku in todo:
            progress.update(task, description=f"forecasting {sku}")
            request = ForecastCreate(
                forecast_type="demand", entity_id=sku, period="monthly", site=SITE,
                allow_naive=True,
            )  # fmt: skip
            async with db.transaction() as session:
                await create_forecast(session, request=request, principal=SYSTEM, settings=settings)
            progress.advance(task)
        progress.update(task, description="forecast demand")
    return len(todo)


async def _demo_key(db: Database) -> str:
    """A new operator key for the `demo` user; its earlier demo keys are revoked (their
    secrets were shown once and are not stored), so keys do not pile up."""
    from opscopilot.access.service import create_key, list_keys, revoke_key

    async with db.transaction() as session:
        for key, user in await list_keys(session):
            if user.external_id == DEMO_USER and key.name == KEY_NAME and not key.revoked_at:
                await revoke_key(session, key_id_or_prefix=str(key.id))
        created = await create_key(session, user=DEMO_USER, role="operator", name=KEY_NAME)
    return created.key


def _print_tour(console: Console, ready: DemoReady, url: str, *, serving: bool) -> None:
    if ready.forecasts:
        console.print(f"forecast {ready.forecasts} items")
    console.print()
    console.print(f"[bold]Web chat:[/bold] {url}", highlight=False)
    console.print(
        f"[bold]API key:[/bold] {ready.key}\n"
        "  an operator key of the local `demo` user, for this demo only: paste it on the\n"
        "  page to sign in. Each `opscopilot demo` run replaces it.",
        highlight=False,
    )
    console.print("[bold]Questions to try:[/bold]")
    for question in QUESTIONS:
        console.print(f"  - {question}", highlight=False)
    if serving:
        console.print("[dim]serving; stop with Ctrl-C[/dim]")
    else:
        console.print("[dim]not serving (--no-serve): `opscopilot serve` serves this URL[/dim]")
