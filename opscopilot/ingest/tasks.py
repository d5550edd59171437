"""Ingestion upkeep for the worker: batches whose lease ran out turn failed.

A batch is processed under a lease that its process renews; when that process dies
mid-batch, its transaction rolls back (nothing applied) but the row still says
processing. Claims and reads settle such rows lazily; this periodic sweep settles them
on time, so health checks and `GET /api/v1/batches` show the failure (and the batch can
be retried) even when nothing else touches ingestion.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import procrastinate

from opscopilot.core.settings import Settings
from opscopilot.ingest.batches import expire_stale
from opscopilot.jobs.runtime import runtime_of

log = logging.getLogger(__name__)

blueprint = procrastinate.Blueprint()

EXPIRE_TASK = "ingest.expire_leases"


@blueprint.task(name=EXPIRE_TASK, pass_context=True, queueing_lock=EXPIRE_TASK)
async def expire_leases(context: procrastinate.JobContext, timestamp: int | None = None) -> int:
    """Fail the batches whose lease ran out; returns how many. `timestamp` is the tick of
    a periodic run."""
    async with runtime_of(context).database().transaction() as session:
        count = await expire_stale(session, now=datetime.now(UTC))
    if count:
        log.warning("batches failed after their lease ran out", extra={"count": count})
    return count


def schedule(app: procrastinate.App, settings: Settings) -> None:
    app.periodic(cron=settings.ingest.lease_sweep_cron, periodic_id="ingest-expire-leases")(
        app.tasks[EXPIRE_TASK]
    )
