"""Retention: raw batch payloads and chat transcripts are kept for a set time, then purged."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import procrastinate
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.core.settings import Settings
from opscopilot.jobs.runtime import runtime_of

log = logging.getLogger(__name__)

blueprint = procrastinate.Blueprint()


async def purge_expired(
    session: AsyncSession, *, settings: Settings, now: datetime
) -> dict[str, int]:
    """Apply the retention periods; returns what was purged. Idempotent."""
    payload_cutoff = now - timedelta(days=settings.retention.raw_payload_days)
    transcript_cutoff = now - timedelta(days=settings.retention.transcript_days)
    payloads = await session.execute(
        text(
            "UPDATE raw_data_batches SET payload = NULL, payload_purged_at = :now "
            "WHERE payload IS NOT NULL AND created_at < :cutoff"
        ),
        {"now": now, "cutoff": payload_cutoff},
    )
    old_threads = (
        (
            await session.execute(
                text("SELECT id FROM chat_threads WHERE updated_at < :cutoff"),
                {"cutoff": transcript_cutoff},
            )
        )
        .scalars()
        .all()
    )
    checkpoints = 0
    if old_threads:
        # A transcript also lives on in the audit log's question text and in feedback
        # comments: blank those (the events themselves, who asked and when, stay).
        await session.execute(
            text(
                "UPDATE audit_events SET subject = NULL WHERE event_type = 'chat.question' "
                "AND thread_id = ANY(:ids) AND subject IS NOT NULL"
            ),
            {"ids": old_threads},
        )
        await session.execute(
            text("UPDATE chat_feedback SET comment = NULL WHERE thread_id = ANY(:ids)"),
            {"ids": old_threads},
        )
        has_checkpoints = (
            await session.execute(text("SELECT to_regclass('public.checkpoints') IS NOT NULL"))
        ).scalar()
        if has_checkpoints:
            for table in ("checkpoint_writes", "checkpoint_blobs", "checkpoints"):
                result = await session.execute(
                    text(f"DELETE FROM {table} WHERE thread_id = ANY(:ids)"), {"ids": old_threads}
                )
                checkpoints += result.rowcount or 0  # type: ignore[attr-defined]
    threads = await session.execute(
        text("DELETE FROM chat_threads WHERE updated_at < :cutoff"), {"cutoff": transcript_cutoff}
    )
    await session.commit()
    return {
        "payloads": payloads.rowcount or 0,  # type: ignore[attr-defined]
        "threads": threads.rowcount or 0,  # type: ignore[attr-defined]
        "checkpoint_rows": checkpoints,
    }


@blueprint.task(name="maint.retention", pass_context=True, queueing_lock="retention")
async def retention(context: procrastinate.JobContext, timestamp: int) -> dict[str, int]:
    runtime = runtime_of(context)
    async with runtime.database().sessions() as session:
        purged = await purge_expired(session, settings=runtime.settings, now=datetime.now(UTC))
    log.info("retention applied", extra=purged)
    return purged
