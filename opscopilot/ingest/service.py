"""Ingestion services: batches from the API, files from the CLI, status, retry, health.

Routes, the CLI and the agent's tools are thin adapters over these functions. A batch is
created (or found: the same source and reference is never processed twice), claimed
under a lease, and applied in ONE transaction (pipeline.py) that also writes its outcome.
A failure anywhere leaves nothing applied and the batch failed and retryable.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.core.errors import (
    ConflictError,
    NotFoundError,
    OpsCopilotError,
    PermissionDenied,
    ValidationFailed,
)
from opscopilot.core.metrics import observe_ingest
from opscopilot.core.settings import Settings
from opscopilot.ingest import batches

# Functions other modules own, re-exported: one import for routes, CLI and tools.
from opscopilot.ingest.health import ingestion_health, list_sources, register_source
from opscopilot.ingest.items import (
    get_inventory,
    get_item,
    get_process,
    item_history,
    list_external_mappings,
    list_items,
    list_processes,
    map_external_id,
    upsert_item,
    upsert_process,
)
from opscopilot.ingest.mapping import Mapping, resolve_mapping
from opscopilot.ingest.normalize import Normalizer
from opscopilot.ingest.pipeline import apply_batch
from opscopilot.ingest.readers import Progress, Read, detect_format, read_records
from opscopilot.ingest.schemas import BatchRead, IngestRequest, RowErrorRead
from opscopilot.ingest.series import observation_series
from opscopilot.store.engine import Database
from opscopilot.store.models import IngestSource, RawDataBatch

__all__ = [
    "get_batch", "get_inventory", "get_item", "get_process", "ingest_batch", "ingest_file",
    "ingestion_health", "item_history", "list_batches", "list_external_mappings",
    "list_items", "list_processes", "list_sources", "map_external_id", "observation_series",
    "register_source", "retry_batch", "upsert_item", "upsert_process",
]  # fmt: skip

FILE_READ_CHUNK = 1 << 20


def batch_read(batch: RawDataBatch, *, include_payload: bool = False) -> BatchRead:
    return BatchRead(
        id=batch.id,
        source_type=batch.source_type,
        source_id=batch.source_id,
        batch_reference=batch.batch_reference,
        site=batch.site,
        status=batch.status,  # type: ignore[arg-type]
        duplicate_of=batch.duplicate_of,
        content_hash=batch.content_hash,
        attempts=batch.attempts,
        received=batch.received,
        inserted=batch.inserted,
        updated=batch.updated,
        unchanged=batch.unchanged,
        rejected=batch.rejected,
        errors=[RowErrorRead.model_validate(e) for e in batch.errors or []],
        error=batch.error,
        mapping=batch.mapping,
        actor=batch.actor,
        created_at=batch.created_at,
        started_at=batch.started_at,
        finished_at=batch.finished_at,
        lease_expires_at=batch.lease_expires_at,
        payload_purged=batch.payload_purged_at is not None,
        payload=batch.payload if include_payload else None,
    )


def _site_for(site: str | None, sites: tuple[str, ...] | None, settings: Settings) -> str:
    if site is None:
        # A key limited to one plant sends that plant's data without saying so.
        return sites[0] if sites and len(sites) == 1 else settings.default_site
    if sites is not None and site not in sites:
        raise PermissionDenied(f"site {site!r} is not among your sites", field="site")
    return site


async def _mapping_for(
    db: Database, *, source_id: str, explicit: str | None, settings: Settings
) -> tuple[Mapping, str]:
    async with db.session() as session:
        registered = await session.scalar(
            select(IngestSource.mapping).where(IngestSource.source_id == source_id)
        )
    mapping = resolve_mapping(
        source_id=source_id,
        explicit=explicit,
        registered=registered,
        mappings_dir=settings.ingest.mappings_dir,
    )
    return mapping, mapping.name


def _normalizer(
    mapping: Mapping, *, site: str, sites: tuple[str, ...] | None, settings: Settings
) -> Normalizer:
    return Normalizer(
        mapping=mapping,
        default_site=site,
        allowed_sites=sites,
        today=datetime.now(UTC).date(),
        future_tolerance_days=settings.ingest.future_tolerance_days,
    )


async def ingest_batch(
    db: Database,
    *,
    request: IngestRequest,
    actor: str,
    sites: tuple[str, ...] | None,
    settings: Settings,
) -> BatchRead:
    """Ingest one batch of records; the same (source_id, batch_reference) again returns the
    existing batch unprocessed."""
    site = _site_for(request.site, sites, settings)
    mapping, mapping_name = await _mapping_for(
        db, source_id=request.source_id, explicit=request.mapping, settings=settings
    )
    payload = request.model_dump(mode="json", exclude_none=True)
    try:
        digest = hashlib.sha256(
            orjson.dumps({"source_id": request.source_id, "data": payload["data"]},
                         option=orjson.OPT_SORT_KEYS)
        ).hexdigest()  # fmt: skip
    except orjson.JSONEncodeError as exc:  # e.g. an integer beyond 64 bits: not a quantity
        raise ValidationFailed(f"data cannot be stored: {exc}", field="data") from exc
    async with db.transaction() as session:
        batch, created = await batches.create_or_get(
            session,
            source_type=request.source_type,
            source_id=request.source_id,
            batch_reference=request.batch_reference,
            site=site,
            content_hash=digest,
            payload=payload,
            mapping=mapping_name,
            actor=actor,
            lease_s=settings.ingest.batch_lease_s,
        )
    if created:
        await _run(db, batch=batch, mapping=mapping, reads=lambda n: _request_reads(request, n),
                   site=site, sites=sites, actor=actor, settings=settings)  # fmt: skip
    return await _reread(db, batch.id, created=created)


def _request_reads(request: IngestRequest, normalizer: Normalizer) -> Iterator[Read]:
    for kind, records in request.data.records():
        for row, record in enumerate(records, start=1):
            yield kind, row, normalizer.rename(kind, record)


def _payload_reads(payload: dict[str, Any], normalizer: Normalizer) -> Iterator[Read]:
    return _request_reads(IngestRequest.model_validate(payload), normalizer)


async def _reread(db: Database, batch_id: uuid.UUID, *, created: bool | None) -> BatchRead:
    async with db.session() as session:
        batch = await session.get(RawDataBatch, batch_id)
        assert batch is not None
        out = batch_read(batch)
    out.created = created
    return out


async def _run(
    db: Database,
    *,
    batch: RawDataBatch,
    mapping: Mapping,
    reads: Callable[[Normalizer], Iterator[Read]],
    site: str,
    sites: tuple[str, ...] | None,
    actor: str,
    settings: Settings,
) -> None:
    lease = settings.ingest.batch_lease_s
    attempt = await batches.claim(db, batch_id=batch.id, lease_s=lease)
    normalizer = _normalizer(mapping, site=site, sites=sites, settings=settings)
    try:
        async with batches.lease_heartbeat(db, batch_id=batch.id, attempt=attempt, lease_s=lease):
            async with db.transaction() as session:
                tally = await apply_batch(
                    session,
                    reads=reads(normalizer),
                    normalizer=normalizer,
                    batch_id=batch.id,
                    actor=actor,
                    source_id=batch.source_id,
                    settings=settings,
                )
                await batches.finish(session, batch_id=batch.id, attempt=attempt, tally=tally)
                await batches.touch_source(
                    session, source_id=batch.source_id, source_type=batch.source_type, site=site
                )
            observe_ingest(batch.source_type, tally)  # committed: its rows count
    except (OpsCopilotError, DBAPIError) as exc:
        # The transaction rolled back: nothing of the batch is applied. Record why.
        reason = exc.message if isinstance(exc, OpsCopilotError) else _db_reason(exc)
        await batches.fail(db, batch_id=batch.id, attempt=attempt, error=reason)
        if isinstance(exc, ConflictError):
            raise
    except BaseException:
        await batches.fail(db, batch_id=batch.id, attempt=attempt, error="internal error")
        raise


def _db_reason(exc: DBAPIError) -> str:
    first = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
    return f"database refused the batch: {first}"


def file_digest(path: Path, source_id: str) -> str:
    digest = hashlib.sha256(source_id.encode() + b"\0")
    with open(path, "rb") as fh:
        while chunk := fh.read(FILE_READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


async def ingest_file(
    db: Database,
    *,
    path: Path,
    source_type: str,
    source_id: str,
    actor: str,
    settings: Settings,
    mapping: str | None = None,
    site: str | None = None,
    kind: str | None = None,
    batch_reference: str | None = None,
    sites: tuple[str, ...] | None = None,
    progress: Progress = None,
) -> BatchRead:
    """Ingest a CSV / JSON / JSONL / XLSX file as one batch, streaming. The same file and
    reference again returns the batch; a failed one is processed again."""
    fmt = detect_format(path)
    site_code = _site_for(site, sites, settings)
    resolved, mapping_name = await _mapping_for(
        db, source_id=source_id, explicit=mapping, settings=settings
    )
    digest = await _to_thread(file_digest, path, source_id)
    reference = batch_reference or f"{path.name}:{digest[:12]}"
    payload = {"file": str(path.resolve()), "name": path.name, "format": fmt,
               "size": path.stat().st_size, "kind": kind, "site": site_code}  # fmt: skip
    async with db.transaction() as session:
        batch, created = await batches.create_or_get(
            session,
            source_type=source_type,
            source_id=source_id,
            batch_reference=reference,
            site=site_code,
            content_hash=digest,
            payload=payload,
            mapping=mapping_name,
            actor=actor,
            lease_s=settings.ingest.batch_lease_s,
        )
    if created or batch.status == "failed":

        def reads(normalizer: Normalizer) -> Iterator[Read]:
            return read_records(path, fmt=fmt, normalizer=normalizer, kind=kind, progress=progress)

        await _run(db, batch=batch, mapping=resolved, reads=reads, site=site_code, sites=sites,
                   actor=actor, settings=settings)  # fmt: skip
    return await _reread(db, batch.id, created=created)


async def _to_thread(fn: Callable[..., str], *args: Any) -> str:
    import asyncio

    return await asyncio.to_thread(fn, *args)


async def get_batch(
    session: AsyncSession,
    *,
    batch_id: uuid.UUID,
    sites: tuple[str, ...] | None,
    include_payload: bool = True,
) -> BatchRead:
    """A batch with its status, counts, row errors and (unless purged) its raw payload."""
    await batches.expire_stale(session)
    batch = await session.get(RawDataBatch, batch_id, populate_existing=True)
    if batch is None or (sites is not None and batch.site not in sites):
        raise NotFoundError(f"no batch {batch_id}", field="batch_id")
    return batch_read(batch, include_payload=include_payload)


async def list_batches(
    session: AsyncSession,
    *,
    sites: tuple[str, ...] | None,
    source_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
) -> list[BatchRead]:
    await batches.expire_stale(session)
    stmt = select(RawDataBatch).order_by(RawDataBatch.created_at.desc()).limit(limit)
    if sites is not None:
        stmt = stmt.where(RawDataBatch.site.in_(sites))
    if source_id:
        stmt = stmt.where(RawDataBatch.source_id == source_id)
    if status:
        stmt = stmt.where(RawDataBatch.status == status)
    return [batch_read(b) for b in (await session.scalars(stmt)).all()]


async def retry_batch(
    db: Database,
    *,
    batch_id: uuid.UUID,
    actor: str,
    sites: tuple[str, ...] | None,
    settings: Settings,
) -> BatchRead:
    """Process a failed batch again from its kept payload."""
    async with db.transaction() as session:
        await batches.expire_stale(session)
        batch = await session.get(RawDataBatch, batch_id)
        if batch is None or (sites is not None and batch.site not in sites):
            raise NotFoundError(f"no batch {batch_id}", field="batch_id")
    if batch.status != "failed":
        raise ConflictError(f"only a failed batch can be retried; this one is {batch.status}")
    if batch.payload is None:
        raise ConflictError("the batch's payload was purged (retention); send it again")
    if "file" in batch.payload:
        raise ConflictError(
            "a file batch is retried by running `opscopilot ingest` on the file again "
            f"({batch.payload.get('name')}); the same reference resumes this batch"
        )
    mapping = resolve_mapping(
        source_id=batch.source_id,
        explicit=batch.mapping,
        registered=None,
        mappings_dir=settings.ingest.mappings_dir,
    )
    payload = batch.payload
    await _run(db, batch=batch, mapping=mapping, reads=lambda n: _payload_reads(payload, n),
               site=batch.site, sites=sites, actor=actor, settings=settings)  # fmt: skip
    return await _reread(db, batch.id, created=False)
