"""Ingestion tools: health of the data feeds and batch status (read); ingest a batch (write)."""

from __future__ import annotations

import uuid
from typing import Any

from langchain_core.tools import tool
from langgraph.prebuilt import ToolRuntime
from pydantic import BaseModel, Field

from opscopilot.core.errors import NotFoundError
from opscopilot.ingest import service as ingest
from opscopilot.ingest.schemas import BatchData, BatchRead, IngestRequest, SourceType
from opscopilot.tools.base import ToolSpec, WriteMeta, respond, to_jsonable, write_tool
from opscopilot.tools.context import ToolContext
from opscopilot.tools.scrub import scrub_text

Reply = tuple[str, dict[str, Any]]
ERRORS_SHOWN = 5


def _batch(b: BatchRead) -> dict[str, Any]:
    return {
        "id": str(b.id),
        "batch_reference": b.batch_reference,
        "source_id": b.source_id,
        "source_type": b.source_type,
        "site": b.site,
        "status": b.status,
        "received": b.received,
        "inserted": b.inserted,
        "updated": b.updated,
        "unchanged": b.unchanged,
        "rejected": b.rejected,
        "errors": [e.model_dump() for e in b.errors[:ERRORS_SHOWN]],
        "error": scrub_text(b.error) if b.error else None,
        "duplicate_of": str(b.duplicate_of) if b.duplicate_of else None,
        "created_at": b.created_at.isoformat(),
        "finished_at": b.finished_at.isoformat() if b.finished_at else None,
    }


@tool(parse_docstring=True, response_format="content_and_artifact")
async def ingestion_health(runtime: ToolRuntime[ToolContext]) -> Reply:
    """Health of the data feeds: sources that are late (stale), batches that failed in the
    last 7 days, batches still processing, and external ids with no mapping.
    """
    ctx = runtime.context
    async with ctx.db.transaction() as session:
        health = await ingest.ingestion_health(session, sites=ctx.principal.site_filter())
    data = {
        "status": health.status,
        "stale_sources": health.stale_sources,
        "sources": [
            {
                "source_id": s.source_id,
                "last_batch_at": s.last_batch_at.isoformat() if s.last_batch_at else None,
                "stale": s.stale,
            }
            for s in health.sources
        ],
        "failed_batches": [
            {
                "batch_reference": f.batch_reference,
                "source_id": f.source_id,
                "error": scrub_text(f.error) if f.error else None,
                "rejected": f.rejected,
            }
            for f in health.failed_batches
        ],
        "processing_batches": health.processing_batches,
        "unmapped_total": health.unmapped_total,
    }
    return respond("ingestion_health", data)


@tool(parse_docstring=True, response_format="content_and_artifact")
async def batch_status(runtime: ToolRuntime[ToolContext], batch: str) -> Reply:
    """Status of one ingested batch: pending, processing, success or failed, with its
    counts (received, inserted, updated, unchanged, rejected) and first row errors.

    Args:
        batch: The batch id (a UUID) or its batch reference, e.g. batch_20240101_001.
    """
    ctx = runtime.context
    sites = ctx.principal.site_filter()
    async with ctx.db.transaction() as session:
        try:
            found = await ingest.get_batch(
                session, batch_id=uuid.UUID(batch), sites=sites, include_payload=False
            )
        except ValueError:
            recent = await ingest.list_batches(session, sites=sites, limit=500)
            matches = [b for b in recent if b.batch_reference == batch.strip()]
            if not matches:
                raise NotFoundError(f"no recent batch with reference {batch!r}") from None
            found = matches[0]
    return respond("batch_status", _batch(found))


class IngestArgs(BaseModel):
    source_type: SourceType
    source_id: str = Field(min_length=1, max_length=200)
    batch_reference: str = Field(min_length=1, max_length=200)
    data: BatchData = Field(
        description='Record lists by kind, e.g. {"items": [{"sku": "ITEM-001", "qty": 100}]}'
    )
    site: str | None = None


async def ingest_batch(ctx: ToolContext, args: BaseModel, meta: WriteMeta) -> dict[str, Any]:
    """Ingest a batch of records (items, inventory, sales, receipts, quality, costs,
    processes) into the plant's data. Only when the person gives you the records and asks
    for them to be loaded. Pauses for an operator's approval.
    """
    assert isinstance(args, IngestArgs)
    request = IngestRequest(
        source_type=args.source_type,
        source_id=args.source_id,
        batch_reference=args.batch_reference,
        site=args.site or ctx.site,
        data=args.data,
    )
    batch = await ingest.ingest_batch(
        ctx.db,
        request=request,
        actor=meta.approved_by.external_id,
        sites=meta.approved_by.site_filter(),
        settings=ctx.settings,
    )
    result: dict[str, Any] = to_jsonable(_batch(batch))
    return result


async def _describe_ingest(ctx: ToolContext, args: BaseModel) -> str:
    assert isinstance(args, IngestArgs)
    counts = ", ".join(f"{len(rows)} {kind}" for kind, rows in args.data.records())
    return (
        f"Ingest batch {args.batch_reference} from {args.source_type} source {args.source_id} "
        f"into site {args.site or ctx.site}: {counts}."
    )


def specs() -> list[ToolSpec]:
    return [
        ToolSpec(tool=ingestion_health, tier="read", status="checking the data feeds"),
        ToolSpec(tool=batch_status, tier="read", status="looking up the batch"),
        write_tool(
            name="ingest_batch",
            args_schema=IngestArgs,
            describe=_describe_ingest,
            execute=ingest_batch,
            status="ingesting the batch",
        ),
    ]
