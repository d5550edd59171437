"""Ingestion over HTTP: batches, their status and retry, sources and ingestion health."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response

from opscopilot.access.service import audit
from opscopilot.api.deps import Admin, Operator, Session, SettingsDep, State, Viewer
from opscopilot.ingest import service
from opscopilot.ingest.mapping import available_mappings
from opscopilot.ingest.schemas import (
    BatchRead,
    IngestionHealth,
    IngestRequest,
    SourceCreate,
    SourceRead,
)

router = APIRouter(prefix="/api/v1", tags=["ingest"])


async def _record(state: State, principal: Operator, event: str, batch: BatchRead) -> None:
    async with state.db.transaction() as session:
        await audit(
            session,
            actor=principal,
            event_type=event,
            subject=str(batch.id),
            site=batch.site,
            details={
                "source_id": batch.source_id,
                "batch_reference": batch.batch_reference,
                "status": batch.status,
                "received": batch.received,
                "rejected": batch.rejected,
            },
        )


@router.post(
    "/ingest",
    response_model=BatchRead,
    status_code=201,
    responses={200: {"model": BatchRead, "description": "an existing batch, not reprocessed"}},
)
async def ingest(
    body: IngestRequest, response: Response, state: State, settings: SettingsDep,
    principal: Operator,
) -> BatchRead:  # fmt: skip
    """Ingest a batch. The same `source_id` and `batch_reference` again returns the existing
    batch (200) without processing it twice; row-level problems are in `errors`."""
    batch = await service.ingest_batch(
        state.db,
        request=body,
        actor=principal.external_id,
        sites=principal.site_filter(),
        settings=settings,
    )
    if batch.created:
        await _record(state, principal, "ingest.batch", batch)
    else:
        response.status_code = 200
    return batch


@router.get("/batch/{batch_id}", response_model=BatchRead)
async def get_batch(
    batch_id: UUID,
    session: Session,
    principal: Viewer,
    include_payload: Annotated[bool, Query(description="Include the raw payload.")] = True,
) -> BatchRead:
    batch = await service.get_batch(
        session, batch_id=batch_id, sites=principal.site_filter(), include_payload=include_payload
    )
    await session.commit()  # a batch whose lease ran out was just marked failed
    return batch


@router.post("/batch/{batch_id}/retry", response_model=BatchRead)
async def retry_batch(
    batch_id: UUID, state: State, settings: SettingsDep, principal: Operator
) -> BatchRead:
    """Process a failed batch again from its kept payload (all of it or nothing)."""
    batch = await service.retry_batch(
        state.db,
        batch_id=batch_id,
        actor=principal.external_id,
        sites=principal.site_filter(),
        settings=settings,
    )
    await _record(state, principal, "ingest.retry", batch)
    return batch


@router.get("/batches", response_model=list[BatchRead])
async def list_batches(
    session: Session,
    principal: Viewer,
    source_id: str | None = None,
    status: Literal["pending", "processing", "success", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[BatchRead]:
    out = await service.list_batches(
        session, sites=principal.site_filter(), source_id=source_id, status=status, limit=limit
    )
    await session.commit()
    return out


@router.get("/ingest/health", response_model=IngestionHealth)
async def ingestion_health(session: Session, principal: Viewer) -> IngestionHealth:
    """Stale sources, failed batches and unmapped external ids."""
    health = await service.ingestion_health(session, sites=principal.site_filter())
    await session.commit()
    return health


@router.get("/ingest/sources", response_model=list[SourceRead])
async def list_sources(session: Session, principal: Viewer) -> list[SourceRead]:
    return await service.list_sources(session, sites=principal.site_filter())


@router.post("/ingest/sources", response_model=SourceRead, status_code=201)
async def register_source(body: SourceCreate, session: Session, admin: Admin) -> SourceRead:
    """Register a source with its expected interval and mapping (admin)."""
    source = await service.register_source(session, source=body)
    await audit(session, actor=admin, event_type="ingest.source_registered",
                subject=body.source_id, site=body.site,
                details=body.model_dump(mode="json"))  # fmt: skip
    await session.commit()
    return source


@router.get("/ingest/mappings", response_model=list[str])
async def list_mappings(settings: SettingsDep, _: Viewer) -> list[str]:
    """Names of the mappings a source can use (the settings' folder and the shipped ones)."""
    return available_mappings(settings.ingest.mappings_dir)
