"""Ingestion health: which sources went quiet, which batches failed, which ids are unmapped.

A source is stale when no batch arrived within its expected interval. The agent calls
`ingestion_health` as a tool; the API serves the same result.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.ingest.batches import expire_stale
from opscopilot.ingest.schemas import (
    FailedBatch,
    IngestionHealth,
    SourceCreate,
    SourceRead,
    UnmappedId,
)
from opscopilot.store.models import ExternalMapping, IngestSource, RawDataBatch


def _source_read(src: IngestSource, now: datetime) -> SourceRead:
    due = timedelta(minutes=src.expected_interval_minutes)
    stale = src.last_batch_at is None or now - src.last_batch_at > due
    return SourceRead(source_id=src.source_id, source_type=src.source_type, site=src.site,
                      expected_interval_minutes=src.expected_interval_minutes,
                      mapping=src.mapping, last_batch_at=src.last_batch_at,
                      stale=stale)  # fmt: skip


async def register_source(session: AsyncSession, *, source: SourceCreate) -> SourceRead:
    """Register a source (or change it): its type, plant, mapping and expected interval."""
    await session.execute(
        text(
            "INSERT INTO ingest_sources (id, source_id, source_type, site, "
            "expected_interval_minutes, mapping) VALUES (:id, :sid, :stype, :site, :every, :map) "
            "ON CONFLICT (source_id) DO UPDATE SET source_type = EXCLUDED.source_type, "
            "site = EXCLUDED.site, expected_interval_minutes = EXCLUDED.expected_interval_minutes,"
            " mapping = EXCLUDED.mapping"
        ),
        {"id": uuid.uuid4(), "sid": source.source_id, "stype": source.source_type,
         "site": source.site, "every": source.expected_interval_minutes,
         "map": source.mapping},
    )  # fmt: skip
    row = await session.scalar(
        select(IngestSource)
        .where(IngestSource.source_id == source.source_id)
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return _source_read(row, datetime.now(UTC))


async def list_sources(
    session: AsyncSession, *, sites: tuple[str, ...] | None, now: datetime | None = None
) -> list[SourceRead]:
    now = now or datetime.now(UTC)
    stmt = select(IngestSource).order_by(IngestSource.source_id)
    if sites is not None:
        stmt = stmt.where(IngestSource.site.in_(sites))
    return [_source_read(s, now) for s in (await session.scalars(stmt)).all()]


async def ingestion_health(
    session: AsyncSession,
    *,
    sites: tuple[str, ...] | None,
    now: datetime | None = None,
    failed_within: timedelta = timedelta(days=7),
    limit: int = 50,
) -> IngestionHealth:
    """Stale sources, recently failed batches and unmapped external ids.

    Batches whose lease ran out are turned failed first, so a crashed ingest shows here.
    """
    now = now or datetime.now(UTC)
    await expire_stale(session, now=now)
    sources = await list_sources(session, sites=sites, now=now)
    failed_stmt = (
        select(RawDataBatch)
        .where(RawDataBatch.status == "failed", RawDataBatch.created_at >= now - failed_within)
        .order_by(RawDataBatch.created_at.desc())
        .limit(limit)
    )
    processing_stmt = select(func.count()).where(RawDataBatch.status == "processing")
    if sites is not None:
        failed_stmt = failed_stmt.where(RawDataBatch.site.in_(sites))
        processing_stmt = processing_stmt.where(RawDataBatch.site.in_(sites))
    failed = [
        FailedBatch(id=b.id, source_id=b.source_id, batch_reference=b.batch_reference,
                    site=b.site, error=b.error, rejected=b.rejected, finished_at=b.finished_at)
        for b in (await session.scalars(failed_stmt)).all()
    ]  # fmt: skip
    unmapped_q = select(ExternalMapping).where(ExternalMapping.internal_id.is_(None))
    unmapped = [
        UnmappedId(system=m.system, entity_type=m.entity_type, external_id=m.external_id,
                   first_seen=m.created_at)
        for m in (
            await session.scalars(unmapped_q.order_by(ExternalMapping.created_at).limit(limit))
        ).all()
    ]  # fmt: skip
    unmapped_total = await session.scalar(select(func.count()).select_from(unmapped_q.subquery()))
    stale = [s.source_id for s in sources if s.stale]
    attention = bool(stale or failed or unmapped)
    return IngestionHealth(
        status="attention" if attention else "ok",
        checked_at=now,
        sources=sources,
        stale_sources=stale,
        failed_batches=failed,
        processing_batches=int(await session.scalar(processing_stmt) or 0),
        unmapped_ids=unmapped,
        unmapped_total=int(unmapped_total or 0),
    )
