"""The procrastinate app, built in a factory; tasks live on blueprints registered here.

Its tables live in the `jobs` schema (applied by our migrations), so every connection sets
that search_path.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any

import procrastinate

from opscopilot.core.settings import Settings
from opscopilot.jobs.maintenance import blueprint as maintenance_blueprint
from opscopilot.jobs.retention import blueprint as retention_blueprint
from opscopilot.jobs.runtime import JobsRuntime
from opscopilot.store.pools import SheddingPool

log = logging.getLogger(__name__)

JOBS_SCHEMA = "jobs"
BLUEPRINTS: list[procrastinate.Blueprint] = [maintenance_blueprint, retention_blueprint]
# Domains attach their periodic tasks here, from the settings, when an app is built.
SCHEDULES: list[Callable[[procrastinate.App, Settings], None]] = []


def register_blueprint(
    blueprint: procrastinate.Blueprint,
    *,
    schedule: Callable[[procrastinate.App, Settings], None] | None = None,
) -> None:
    """Domains add their tasks here (bulk forecasts, deliveries, inference, schedules).

    Task names are explicit and dotted ("forecast.partition"); defer by name through
    `app.configure_task(name).defer_async(...)`.
    """
    if blueprint not in BLUEPRINTS:
        BLUEPRINTS.append(blueprint)
    if schedule is not None and schedule not in SCHEDULES:
        SCHEDULES.append(schedule)


def _load_domain_blueprints() -> None:
    # Imported for their side effect of calling register_blueprint; absent ones are skipped.
    import importlib

    domains = (
        "opscopilot.jobs.tasks",
        "opscopilot.notify.tasks",
        "opscopilot.inference.tasks",
        "opscopilot.forecasting.tasks",
    )
    for module in domains:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def build_app(conninfo: str, settings: Settings) -> procrastinate.App:
    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo,
        kwargs={"options": f"-c search_path={JOBS_SCHEMA}"},
        min_size=1,
        max_size=settings.jobs.pool_size,
        # A defer waiting on a busy pool fails fast with a 503 rather than hanging a request.
        # (The message is bound here: the other arguments also reach procrastinate's own sync
        # pool, should anything use the connector before it is opened.)
        pool_factory=functools.partial(
            SheddingPool, busy_message="the job queue is busy; retry shortly"
        ),
        timeout=settings.jobs.pool_timeout_s,
    )
    app = procrastinate.App(connector=connector)
    _load_domain_blueprints()
    # Not add_tasks_from: it renames the blueprint's tasks in place, so a second app in the
    # same process (tests) would see "ns:ns:task". Tasks bind to the newest app instead.
    for bp in BLUEPRINTS:
        for name, task in bp.tasks.items():
            task.blueprint = app
            app.tasks[name] = task
    app.oc = JobsRuntime(settings=settings, url=conninfo)  # type: ignore[attr-defined]
    # Schedules are settings (tests tick in seconds), so they are attached here, not at import.
    app.periodic(cron=settings.jobs.retry_stalled_cron, periodic_id="retry-stalled")(
        app.tasks["maint.retry_stalled_jobs"]
    )
    app.periodic(cron=settings.retention.cron, periodic_id="retention")(
        app.tasks["maint.retention"]
    )
    for attach in SCHEDULES:
        attach(app, settings)
    return app


def worker_options(settings: Settings, *, in_process: bool = False) -> dict[str, Any]:
    return {
        "concurrency": settings.jobs.concurrency,
        "update_heartbeat_interval": settings.jobs.heartbeat_s,
        "stalled_worker_timeout": settings.jobs.stalled_after_s,
        "shutdown_graceful_timeout": settings.jobs.shutdown_timeout_s,
        "fetch_job_polling_interval": 1.0,
        # The server process owns the signals; a standalone worker installs its own.
        "install_signal_handlers": not in_process,
        "name": "in-process" if in_process else "worker",
    }


async def queue_state(app: procrastinate.App) -> dict[str, int]:
    """Counts of jobs by status, for health and metrics."""
    rows = await app.connector.execute_query_all_async(
        "SELECT status::text AS status, count(*) AS n FROM procrastinate_jobs GROUP BY status"
    )
    return {row["status"]: int(row["n"]) for row in rows}


async def run_worker_until_cancelled(app: procrastinate.App, settings: Settings) -> None:
    try:
        await app.run_worker_async(**worker_options(settings, in_process=True))
    except asyncio.CancelledError:
        log.info("in-process worker stopped")
        raise
