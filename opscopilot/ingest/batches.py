"""The batch lifecycle: pending -> processing -> success | failed, with a lease.

A batch is claimed in its own short transaction (status processing, attempt + 1, lease),
applied in one long transaction that also writes its final status, and fenced by the
attempt number: a worker whose lease ran out and was taken over cannot commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.core.errors import ConflictError
from opscopilot.ingest.values import RowError
from opscopilot.store.engine import Database
from opscopilot.store.models import RawDataBatch

log = logging.getLogger(__name__)

LEASE_EXPIRED = (
    "lease expired: the process handling this batch stopped before finishing; "
    "nothing of it was applied; retry it"
)
MAX_STORED_ERRORS = 1_000


@dataclass
class Tally:
    received: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, kind: str, row: int, error: RowError) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_STORED_ERRORS:
            self.errors.append(
                {"kind": kind, "row": row, "field": error.field, "reason": error.reason}
            )

    def count(self, outcome: str) -> None:
        if outcome == "inserted":
            self.inserted += 1
        elif outcome == "updated":
            self.updated += 1
        else:
            self.unchanged += 1


async def expire_stale(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Batches whose lease ran out (their process died) turn failed and retryable."""
    result = await session.execute(
        text(
            "UPDATE raw_data_batches SET status = 'failed', error = :msg, finished_at = :now "
            "WHERE status IN ('pending', 'processing') AND lease_expires_at < :now"
        ),
        {"msg": LEASE_EXPIRED, "now": now or datetime.now(UTC)},
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def create_or_get(
    session: AsyncSession,
    *,
    source_type: str,
    source_id: str,
    batch_reference: str,
    site: str,
    content_hash: str,
    payload: dict[str, Any],
    mapping: str,
    actor: str,
    lease_s: int,
) -> tuple[RawDataBatch, bool]:
    """The batch for (source_id, batch_reference): a new pending one, or the existing one.

    Racing requests meet at the unique constraint: the loser waits for the winner's commit
    and then reads the winner's row."""
    now = datetime.now(UTC)
    new_id = uuid.uuid4()
    inserted = await session.scalar(
        text(
            "INSERT INTO raw_data_batches (id, source_type, source_id, batch_reference, site, "
            "content_hash, status, attempts, received, inserted, updated, unchanged, rejected, "
            "errors, payload, mapping, actor, lease_expires_at, duplicate_of) "
            "VALUES (:id, :source_type, :source_id, :ref, :site, CAST(:hash AS varchar), "
            "'pending', 0, 0, 0, 0, 0, 0, '[]'::jsonb, CAST(:payload AS jsonb), :mapping, "
            ":actor, :lease, "
            "(SELECT id FROM raw_data_batches WHERE content_hash = CAST(:hash AS varchar) "
            " ORDER BY created_at LIMIT 1)) "
            "ON CONFLICT (source_id, batch_reference) DO NOTHING RETURNING id"
        ),
        {
            "id": new_id,
            "source_type": source_type,
            "source_id": source_id,
            "ref": batch_reference,
            "site": site,
            "hash": content_hash,
            "payload": _json(payload),
            "mapping": mapping,
            "actor": actor,
            "lease": now + timedelta(seconds=lease_s),
        },
    )
    batch = await session.scalar(
        select(RawDataBatch).where(
            RawDataBatch.source_id == source_id, RawDataBatch.batch_reference == batch_reference
        )
    )
    assert batch is not None
    return batch, inserted is not None


def _json(value: Any) -> str:
    import orjson

    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()


async def claim(db: Database, *, batch_id: uuid.UUID, lease_s: int) -> int:
    """Mark the batch processing and return this attempt's number (the fencing token)."""
    async with db.transaction() as session:
        await expire_stale(session)
        attempt = await session.scalar(
            text(
                "UPDATE raw_data_batches SET status = 'processing', attempts = attempts + 1, "
                "started_at = now(), finished_at = NULL, error = NULL, "
                "lease_expires_at = now() + make_interval(secs => :lease) "
                "WHERE id = :id AND status IN ('pending', 'failed') RETURNING attempts"
            ),
            {"id": batch_id, "lease": lease_s},
        )
    if attempt is None:
        raise ConflictError("the batch is being processed or already succeeded", field="batch_id")
    return int(attempt)


async def finish(session: AsyncSession, *, batch_id: uuid.UUID, attempt: int, tally: Tally) -> None:
    """Write the outcome inside the apply transaction; refuses if the lease was lost."""
    all_rejected = tally.received > 0 and tally.rejected == tally.received
    status = "failed" if all_rejected else "success"
    more = tally.rejected - len(tally.errors)
    error = "every record was rejected; see errors" if all_rejected else None
    if more > 0:
        error = (error + "; " if error else "") + f"{more} more row errors not stored"
    done = await session.scalar(
        text(
            "UPDATE raw_data_batches SET status = :status, received = :received, "
            "inserted = :inserted, updated = :updated, unchanged = :unchanged, "
            "rejected = :rejected, errors = CAST(:errors AS jsonb), error = :error, "
            "finished_at = now(), lease_expires_at = NULL "
            "WHERE id = :id AND status = 'processing' AND attempts = :attempt RETURNING id"
        ),
        {
            "status": status,
            "received": tally.received,
            "inserted": tally.inserted,
            "updated": tally.updated,
            "unchanged": tally.unchanged,
            "rejected": tally.rejected,
            "errors": _json(tally.errors),
            "error": error,
            "id": batch_id,
            "attempt": attempt,
        },
    )
    if done is None:
        raise ConflictError("the batch's lease ran out and another attempt took it over")


async def fail(db: Database, *, batch_id: uuid.UUID, attempt: int, error: str) -> None:
    async with db.transaction() as session:
        await session.execute(
            text(
                "UPDATE raw_data_batches SET status = 'failed', error = :error, "
                "finished_at = now(), lease_expires_at = NULL "
                "WHERE id = :id AND status = 'processing' AND attempts = :attempt"
            ),
            {"error": error[:4000], "id": batch_id, "attempt": attempt},
        )


@contextlib.asynccontextmanager
async def lease_heartbeat(
    db: Database, *, batch_id: uuid.UUID, attempt: int, lease_s: int
) -> AsyncIterator[None]:
    """Renew the lease while a long batch is applied, from a second connection."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(max(lease_s / 3, 0.5))
            try:
                async with db.transaction() as session:
                    await session.execute(
                        text(
                            "UPDATE raw_data_batches SET lease_expires_at = "
                            "now() + make_interval(secs => :lease) "
                            "WHERE id = :id AND status = 'processing' AND attempts = :attempt"
                        ),
                        {"id": batch_id, "attempt": attempt, "lease": lease_s},
                    )
            except (SQLAlchemyError, OSError):  # a missed beat only shortens the lease
                log.warning("lease renewal failed", exc_info=True)

    task = asyncio.create_task(beat(), name=f"lease-{batch_id}")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def touch_source(
    session: AsyncSession, *, source_id: str, source_type: str, site: str
) -> None:
    """Sources register themselves on their first batch (expected daily until told)."""
    await session.execute(
        text(
            "INSERT INTO ingest_sources (id, source_id, source_type, site, "
            "expected_interval_minutes, last_batch_at) "
            "VALUES (gen_random_uuid(), :sid, :stype, :site, 1440, now()) "
            "ON CONFLICT (source_id) DO UPDATE SET last_batch_at = now()"
        ),
        {"sid": source_id, "stype": source_type, "site": site},
    )
