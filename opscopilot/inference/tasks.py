"""Worker tasks of the AI runtime, on their own `inference` queue (scalable apart).

`inference.run` runs one queued job. A model that raises or hangs fails its job (scrubbed
error, or killed at its timeout), never the task: procrastinate sees success either way,
and the worker goes on. `inference.sync_registry` registers code-defined models.
"""

from __future__ import annotations

import uuid

import procrastinate

from opscopilot.core.settings import Settings
from opscopilot.inference.execution import INFERENCE_QUEUE, RUN_TASK, run_queued
from opscopilot.inference.runtime import get_runtime
from opscopilot.jobs.app import register_blueprint
from opscopilot.jobs.runtime import runtime_of

blueprint = procrastinate.Blueprint()

SYNC_TASK = "inference.sync_registry"
# Also the "at worker start" registration: a starting worker defers the latest tick.
SYNC_CRON = "*/10 * * * *"


@blueprint.task(name=RUN_TASK, pass_context=True, queue=INFERENCE_QUEUE)
async def run_job(context: procrastinate.JobContext, job_id: str) -> str:
    database = runtime_of(context).database()
    return await run_queued(database.sessions, runtime=get_runtime(), job_id=uuid.UUID(job_id))


@blueprint.task(name=SYNC_TASK, pass_context=True, queue=INFERENCE_QUEUE, queueing_lock=SYNC_TASK)
async def sync_job(context: procrastinate.JobContext, timestamp: int) -> dict[str, object]:
    from opscopilot.inference.startup import sync_registry

    async with runtime_of(context).database().transaction() as session:
        report = await sync_registry(session)
    return report.as_dict()


def attach_schedules(app: procrastinate.App, settings: Settings) -> None:
    app.periodic(cron=SYNC_CRON, periodic_id="inference-sync")(app.tasks[SYNC_TASK])


register_blueprint(blueprint, schedule=attach_schedules)
