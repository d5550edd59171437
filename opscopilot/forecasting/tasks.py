"""Worker tasks of forecasting, on the `forecast` queue: one bulk-run partition per job, and
the nightly bulk forecast of every site (cron `settings.jobs.forecast_cron`)."""

from __future__ import annotations

import uuid

import procrastinate

from opscopilot.core.settings import Settings
from opscopilot.forecasting.runs import (
    FORECAST_QUEUE,
    NIGHTLY_TASK,
    PARTITION_TASK,
    run_partition,
    start_nightly,
)
from opscopilot.jobs.app import register_blueprint
from opscopilot.jobs.runtime import runtime_of

blueprint = procrastinate.Blueprint()


# A crashed worker's partition comes back through maint.retry_stalled_jobs; the retries here
# cover errors (a lost connection), each attempt starting the partition afresh.
@blueprint.task(
    name=PARTITION_TASK,
    pass_context=True,
    queue=FORECAST_QUEUE,
    retry=procrastinate.RetryStrategy(max_attempts=3, wait=5),
)
async def partition_job(context: procrastinate.JobContext, run_id: str, partition_no: int) -> str:
    runtime = runtime_of(context)
    return await run_partition(
        runtime.database().sessions,
        run_id=uuid.UUID(run_id),
        partition_no=partition_no,
        settings=runtime.settings,
    )


@blueprint.task(
    name=NIGHTLY_TASK, pass_context=True, queue=FORECAST_QUEUE, queueing_lock=NIGHTLY_TASK
)
async def nightly_job(context: procrastinate.JobContext, timestamp: int) -> int:
    runtime = runtime_of(context)
    runs = await start_nightly(
        runtime.database().sessions, queue=context.app, settings=runtime.settings
    )
    return len(runs)


def attach_schedules(app: procrastinate.App, settings: Settings) -> None:
    app.periodic(cron=settings.jobs.forecast_cron, periodic_id="forecast-nightly")(
        app.tasks[NIGHTLY_TASK]
    )


register_blueprint(blueprint, schedule=attach_schedules)
