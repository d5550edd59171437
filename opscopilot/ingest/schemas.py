"""Request and response shapes of ingestion and the unified data API (pydantic v2)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from opscopilot.ingest.kinds import RECORD_KINDS, SOURCE_TYPES

SourceType = Literal["erp", "accounting", "inventory", "sales", "mes", "quality"]
assert set(SourceType.__args__) == set(SOURCE_TYPES)  # type: ignore[attr-defined]
Record = dict[str, Any]


class BatchData(BaseModel):
    """Lists of records by kind; every list is optional, but a batch holds at least one."""

    model_config = ConfigDict(extra="forbid")

    items: list[Record] | None = None
    inventory: list[Record] | None = None
    sales: list[Record] | None = None
    receipts: list[Record] | None = None
    quality: list[Record] | None = None
    costs: list[Record] | None = None
    processes: list[Record] | None = None

    @model_validator(mode="before")
    @classmethod
    def _known_kinds(cls, value: Any) -> Any:
        if isinstance(value, dict):
            unknown = [k for k in value if k not in RECORD_KINDS]
            if unknown:
                raise PydanticCustomError(
                    "unknown_record_kind",
                    "unknown record kind '{kind}'; valid kinds: {valid}",
                    {"kind": unknown[0], "valid": ", ".join(RECORD_KINDS)},
                )
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> BatchData:
        if not any(getattr(self, kind) for kind in RECORD_KINDS):
            raise PydanticCustomError(
                "empty_batch", "empty batch: data holds no records (kinds: {valid})",
                {"valid": ", ".join(RECORD_KINDS)},
            )  # fmt: skip
        return self

    def records(self) -> list[tuple[str, list[Record]]]:
        return [(k, getattr(self, k)) for k in RECORD_KINDS if getattr(self, k)]


class IngestRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "source_type": "erp",
                "source_id": "erp_001",
                "batch_reference": "batch_20240101_001",
                "data": {"items": [{"sku": "ITEM-001", "name": "Component A", "qty": 100}]},
            }
        }
    )

    source_type: SourceType
    source_id: str = Field(min_length=1, max_length=200)
    batch_reference: str = Field(min_length=1, max_length=200)
    site: str | None = Field(None, min_length=1, max_length=64, description="Batch-level site.")
    mapping: str | None = Field(
        None, max_length=200, description="Mapping name; default: the source's own or generic."
    )
    data: BatchData


class RowErrorRead(BaseModel):
    kind: str
    row: int
    field: str
    reason: str


class BatchRead(BaseModel):
    id: uuid.UUID
    source_type: str
    source_id: str
    batch_reference: str
    site: str
    status: Literal["pending", "processing", "success", "failed"]
    duplicate_of: uuid.UUID | None
    content_hash: str
    attempts: int
    received: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    errors: list[RowErrorRead]
    error: str | None
    mapping: str | None
    actor: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    lease_expires_at: datetime | None
    payload_purged: bool
    payload: dict[str, Any] | None = None
    # True when this request created the batch; False when it returned an existing one.
    created: bool | None = None


class SourceCreate(BaseModel):
    source_id: str = Field(min_length=1, max_length=200)
    source_type: SourceType
    site: str = Field("main", min_length=1, max_length=64)
    expected_interval_minutes: int = Field(1440, ge=1, le=60 * 24 * 366)
    mapping: str | None = Field(None, max_length=200)


class SourceRead(BaseModel):
    source_id: str
    source_type: str
    site: str
    expected_interval_minutes: int
    mapping: str | None
    last_batch_at: datetime | None
    stale: bool


class UnmappedId(BaseModel):
    system: str
    entity_type: str
    external_id: str
    first_seen: datetime


class FailedBatch(BaseModel):
    id: uuid.UUID
    source_id: str
    batch_reference: str
    site: str
    error: str | None
    rejected: int
    finished_at: datetime | None


class IngestionHealth(BaseModel):
    status: Literal["ok", "attention"]
    checked_at: datetime
    sources: list[SourceRead]
    stale_sources: list[str]
    failed_batches: list[FailedBatch]
    processing_batches: int
    unmapped_ids: list[UnmappedId]
    unmapped_total: int


# -- unified data API -------------------------------------------------------------------


class ItemCreate(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "example": {
                "sku": "ITEM-001",
                "name": "Component A",
                "uom": "EA",
                "standard_cost": 50.00,
                "supplier_name": "Supplier X",
            }
        },
    )

    sku: str = Field(min_length=1, max_length=100)
    name: str | None = Field(None, min_length=1, max_length=300)
    description: str | None = Field(None, max_length=10_000)
    uom: str | None = Field(None, min_length=1, max_length=16)
    category: str | None = Field(None, max_length=100)
    standard_cost: float | None = Field(None, ge=0)
    currency: str | None = Field(None, min_length=3, max_length=3)
    supplier_name: str | None = Field(None, max_length=300)
    attributes: dict[str, Any] | None = None
    site: str | None = Field(None, min_length=1, max_length=64)
    lead_time_days: float | None = Field(None, ge=0)
    lead_time_std_days: float | None = Field(None, ge=0)
    safety_stock: float | None = Field(None, ge=0)
    reorder_point: float | None = Field(None, ge=0)


class SiteParamsRead(BaseModel):
    site: str
    lead_time_days: float | None
    lead_time_std_days: float | None
    safety_stock: float | None
    reorder_point: float | None


class ItemRead(BaseModel):
    id: uuid.UUID
    sku: str
    name: str
    description: str | None
    uom: str
    category: str | None
    standard_cost: float | None
    currency: str | None
    supplier_name: str | None
    attributes: dict[str, Any]
    sites: list[SiteParamsRead] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime
    action: Literal["inserted", "updated", "unchanged"] | None = None


class ItemMatch(BaseModel):
    item: ItemRead
    score: float
    matched: Any = None


class ItemList(BaseModel):
    items: list[ItemRead] = Field(default_factory=list)
    matches: list[ItemMatch] | None = None
    next_after: str | None = None


class AuditRead(BaseModel):
    at: datetime
    entity_type: str
    entity_key: str | None
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    actor: str | None
    batch_id: uuid.UUID | None
    batch_reference: str | None
    source_id: str | None


class SnapshotRead(BaseModel):
    site: str
    location: str
    on_hand: float
    allocated: float
    on_order: float
    available: float
    as_of: datetime
    batch_id: uuid.UUID | None


class InventoryRead(BaseModel):
    item_id: uuid.UUID
    sku: str
    name: str
    uom: str
    on_hand: float
    allocated: float
    on_order: float
    available: float
    locations: list[SnapshotRead]
    history: list[SnapshotRead]


class ProcessCreate(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str = Field(min_length=1, max_length=100)
    name: str | None = Field(None, min_length=1, max_length=300)
    sku: str | None = Field(None, max_length=100)
    site: str | None = Field(None, min_length=1, max_length=64)
    work_center: str | None = Field(None, max_length=100)
    steps: list[Any] | None = None
    cycle_time_minutes: float | None = Field(None, ge=0)
    yield_pct: float | None = Field(None, ge=0, le=100)
    attributes: dict[str, Any] | None = None


class ProcessRead(BaseModel):
    id: uuid.UUID
    code: str
    name: str
    sku: str | None
    site: str
    work_center: str | None
    steps: list[Any]
    cycle_time_minutes: float | None
    yield_pct: float | None
    attributes: dict[str, Any]
    updated_at: datetime
    action: Literal["inserted", "updated", "unchanged"] | None = None


class ExternalMappingWrite(BaseModel):
    system: str = Field(min_length=1, max_length=100)
    external_id: str = Field(min_length=1, max_length=200)
    sku: str = Field(min_length=1, max_length=100, description="Our item for this external id.")


class ExternalMappingRead(BaseModel):
    id: uuid.UUID
    system: str
    entity_type: str
    external_id: str
    internal_id: uuid.UUID | None
    sku: str | None
    created_at: datetime


SeriesKind = Literal["demand", "supply", "quality", "inventory"]
Period = Literal["daily", "weekly", "monthly", "quarterly"]


class SeriesPoint(BaseModel):
    period_start: date
    value: float
    weight: float | None = None
    rate: float | None = None
    count: int


class SeriesRead(BaseModel):
    sku: str
    item_id: uuid.UUID
    kind: SeriesKind
    period: Period
    sites: list[str] | None
    points: list[SeriesPoint]
