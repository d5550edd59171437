"""Raw batches as received, registered sources, and the master-data audit trail."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from opscopilot.store.models.base import Base, created_at, uuid_pk

SOURCE_TYPES = ("erp", "accounting", "inventory", "sales", "mes", "quality")
BATCH_STATUSES = ("pending", "processing", "success", "failed")


class RawDataBatch(Base):
    __tablename__ = "raw_data_batches"
    __table_args__ = (
        UniqueConstraint("source_id", "batch_reference"),
        CheckConstraint(f"status IN {BATCH_STATUSES!r}", name="status"),
        Index("ix_raw_data_batches_content_hash", "content_hash"),
        Index("ix_raw_data_batches_status_created", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    source_type: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[str] = mapped_column(String(200))
    batch_reference: Mapped[str] = mapped_column(String(200))
    site: Mapped[str] = mapped_column(String(64), default="main")
    content_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    duplicate_of: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("raw_data_batches.id", ondelete="SET NULL")
    )
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    received: Mapped[int] = mapped_column(Integer, default=0)
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    # [{"kind", "row", "field", "reason"}]
    errors: Mapped[list[Any]] = mapped_column(default=list)
    error: Mapped[str | None] = mapped_column(Text)
    # Kept for a retention period, then purged (payload_purged_at set).
    payload: Mapped[dict[str, Any] | None] = mapped_column()
    payload_purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    mapping: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_at()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IngestSource(Base):
    """A registered source and how often it is expected to send a batch."""

    __tablename__ = "ingest_sources"

    id: Mapped[uuid.UUID] = uuid_pk()
    source_id: Mapped[str] = mapped_column(String(200), unique=True)
    source_type: Mapped[str] = mapped_column(String(32))
    site: Mapped[str] = mapped_column(String(64), default="main")
    expected_interval_minutes: Mapped[int] = mapped_column(Integer, default=1440)
    mapping: Mapped[str | None] = mapped_column(String(200))
    last_batch_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()


class MasterDataAudit(Base):
    """The original design's PriMasterAudits: every create/update of master data."""

    __tablename__ = "master_data_audits"
    __table_args__ = (Index("ix_master_data_audits_entity", "entity_type", "entity_id"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[uuid.UUID] = mapped_column()
    entity_key: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(16))
    before: Mapped[dict[str, Any] | None] = mapped_column()
    after: Mapped[dict[str, Any] | None] = mapped_column()
    actor: Mapped[str | None] = mapped_column(String(200))
    batch_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("raw_data_batches.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = created_at()
