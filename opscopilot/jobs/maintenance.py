"""Housekeeping tasks that keep the queue itself healthy."""

from __future__ import annotations

import logging

import procrastinate

from opscopilot.jobs.runtime import runtime_of

log = logging.getLogger(__name__)

blueprint = procrastinate.Blueprint()


@blueprint.task(name="maint.retry_stalled_jobs", pass_context=True, queueing_lock="retry_stalled")
async def retry_stalled_jobs(context: procrastinate.JobContext, timestamp: int) -> int:
    """Re-queue jobs whose worker stopped sending heartbeats (it was SIGKILLed)."""
    app = context.app
    settings = runtime_of(context).settings
    stalled = await app.job_manager.get_stalled_jobs(
        seconds_since_heartbeat=settings.jobs.stalled_after_s
    )
    count = 0
    for job in stalled:
        await app.job_manager.retry_job(job)
        count += 1
    if count:
        log.warning("re-queued stalled jobs", extra={"count": count})
    return count


@blueprint.task(name="maint.probe", pass_context=True)
async def probe(context: procrastinate.JobContext, marker: str, seconds: float = 0.0) -> str:
    """An end-to-end check of the queue: wait, then leave a row in the audit log.

    Used by operators (and the tests) to prove a worker picks jobs up and that a job held
    by a killed worker is retried.
    """
    import asyncio

    from sqlalchemy import text

    await asyncio.sleep(seconds)
    async with runtime_of(context).database().transaction() as session:
        await session.execute(
            text(
                "INSERT INTO audit_events (actor, event_type, subject, details) "
                "VALUES ('worker', 'jobs.probe', :m, '{}'::jsonb)"
            ),
            {"m": marker},
        )
    return marker
