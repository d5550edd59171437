"""The unified manufacturing schema: items, planning parameters, processes, inventory,
external id mappings and the one fact table forecasting reads (observations)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from opscopilot.store.models.base import Base, created_at, updated_at, uuid_pk

OBSERVATION_KINDS = ("demand", "supply", "quality", "inventory")


class ManufacturingItem(Base):
    __tablename__ = "manufacturing_items"

    id: Mapped[uuid.UUID] = uuid_pk()
    sku: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    uom: Mapped[str] = mapped_column(String(16), default="EA")
    category: Mapped[str | None] = mapped_column(String(100), index=True)
    standard_cost: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    currency: Mapped[str | None] = mapped_column(String(3))
    supplier_name: Mapped[str | None] = mapped_column(String(300))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class ItemSiteParams(Base):
    """Per-site planning parameters of a global item."""

    __tablename__ = "item_site_params"
    __table_args__ = (UniqueConstraint("item_id", "site"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    item_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("manufacturing_items.id", ondelete="CASCADE")
    )
    site: Mapped[str] = mapped_column(String(64), default="main")
    lead_time_days: Mapped[float | None] = mapped_column(Float)
    lead_time_std_days: Mapped[float | None] = mapped_column(Float)
    safety_stock: Mapped[float | None] = mapped_column(Float)
    reorder_point: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = updated_at()


class ManufacturingProcess(Base):
    __tablename__ = "manufacturing_processes"

    id: Mapped[uuid.UUID] = uuid_pk()
    code: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    item_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("manufacturing_items.id", ondelete="SET NULL")
    )
    site: Mapped[str] = mapped_column(String(64), default="main")
    work_center: Mapped[str | None] = mapped_column(String(100))
    steps: Mapped[list[Any]] = mapped_column(default=list)
    cycle_time_minutes: Mapped[float | None] = mapped_column(Float)
    yield_pct: Mapped[float | None] = mapped_column(Float)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class InventorySnapshot(Base):
    __tablename__ = "inventory_snapshots"
    __table_args__ = (
        UniqueConstraint("item_id", "site", "location", "as_of"),
        Index("ix_inventory_snapshots_item_asof", "item_id", "site", "as_of"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    item_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("manufacturing_items.id", ondelete="CASCADE")
    )
    site: Mapped[str] = mapped_column(String(64), default="main")
    location: Mapped[str] = mapped_column(String(100), default="default")
    on_hand: Mapped[float] = mapped_column(Float)
    allocated: Mapped[float] = mapped_column(Float, default=0.0)
    on_order: Mapped[float] = mapped_column(Float, default=0.0)
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    batch_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("raw_data_batches.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = created_at()


class ExternalMapping(Base):
    """An external system's id for one of our entities."""

    __tablename__ = "external_mappings"
    __table_args__ = (UniqueConstraint("system", "entity_type", "external_id"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    system: Mapped[str] = mapped_column(String(100))
    entity_type: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(200))
    internal_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = created_at()


class Observation(Base):
    """One fact: demand (sales), supply (receipts), quality (defects of inspected) or an
    inventory reading. `natural_key` comes from the mapping (order + line, PO + line, lot, or
    sku + date + location), so a resent row is recognised as unchanged."""

    __tablename__ = "observations"
    __table_args__ = (
        UniqueConstraint("site", "kind", "natural_key"),
        CheckConstraint(f"kind IN {OBSERVATION_KINDS!r}", name="kind"),
        Index("ix_observations_item_kind_date", "item_id", "kind", "obs_date"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("manufacturing_items.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(16))
    obs_date: Mapped[date] = mapped_column(Date)
    value: Mapped[float] = mapped_column(Float)
    # the inspected count of a quality observation, so rates aggregate correctly; the days
    # late of a receipt that came with its promised date (negative: early)
    weight: Mapped[float | None] = mapped_column(Float)
    natural_key: Mapped[str] = mapped_column(Text)
    counterparty: Mapped[str | None] = mapped_column(String(300))
    # a receipt's promised (confirmed) delivery date, for supplier on-time rates
    promised_date: Mapped[date | None] = mapped_column(Date)
    batch_id: Mapped[uuid.UUID | None] = mapped_column()
