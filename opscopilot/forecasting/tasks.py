"""Worker task of forecasting, on the `forecast` queue: one bulk-run partition per job.

There is no forecasting schedule of its own: the scheduled run (jobs/schedules.py, cron
`settings.schedule.summary_cron`) starts the bulk runs, so every item is forecast once per
tick.
"""

from __future__ import annotations

import uuid

import procrastinate

from opscopilot.forecasting.runs import (
    FORECAST_QUEUE,
    PARTITION_TASK,
    defer_partitions,
    partition_failed,
    run_partition,
)
from opscopilot.jobs.app import register_blueprint
from opscopilot.jobs.runtime import runtime_of

blueprint = procrastinate.Blueprint()


# A crashed worker's partition comes back through maint.retry_stalled_jobs. An attempt that
# raises (a lost connection, a poison row) is retried here rather than by procrastinate, so
# that the number of attempts and the wait are settings and the last failure is recorded on
# the run: the partition turns failed and the run finishes as partial or failed.
@blueprint.task(name=PARTITION_TASK, pass_context=True, queue=FORECAST_QUEUE)
async def partition_job(context: procrastinate.JobContext, run_id: str, partition_no: int) -> str:
    runtime = runtime_of(context)
    sessions = runtime.database().sessions
    settings = runtime.settings
    run = uuid.UUID(run_id)
    try:
        return await run_partition(
            sessions, run_id=run, partition_no=partition_no, settings=settings
        )
    except Exception as exc:
        retry = await partition_failed(
            sessions, run_id=run, partition_no=partition_no, error=exc, settings=settings
        )
        if retry:
            await defer_partitions(
                context.app,
                run_id=run,
                partitions=[partition_no],
                delay_s=settings.forecast.partition_retry_wait_s,
            )
        raise


register_blueprint(blueprint)
