"""Forecasts with intervals and explanations, bulk runs, and the alerts they raise."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from opscopilot.store.models.base import Base, created_at, updated_at, uuid_pk

FORECAST_TYPES = ("demand", "inventory", "supply", "quality")
PERIODS = ("daily", "weekly", "monthly", "quarterly")
ALERT_STATUSES = ("active", "acknowledged", "snoozed", "resolved")


class ForecastRun(Base):
    """A bulk forecast split into partitions that several workers share."""

    __tablename__ = "forecast_runs"

    id: Mapped[uuid.UUID] = uuid_pk()
    site: Mapped[str] = mapped_column(String(64), default="main")
    forecast_type: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(16))
    horizon: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    partitions_total: Mapped[int] = mapped_column(Integer, default=0)
    partitions_done: Mapped[int] = mapped_column(Integer, default=0)
    items_total: Mapped[int] = mapped_column(Integer, default=0)
    items_done: Mapped[int] = mapped_column(Integer, default=0)
    trigger: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ForecastRunPartition(Base):
    __tablename__ = "forecast_run_partitions"
    __table_args__ = (UniqueConstraint("run_id", "partition_no"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("forecast_runs.id", ondelete="CASCADE"))
    partition_no: Mapped[int] = mapped_column(Integer)
    item_ids: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Forecast(Base):
    __tablename__ = "forecasts"
    __table_args__ = (
        Index("ix_forecasts_entity_latest", "site", "entity_id", "forecast_type", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    site: Mapped[str] = mapped_column(String(64), default="main")
    entity_type: Mapped[str] = mapped_column(String(32), default="item")
    entity_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("manufacturing_items.id", ondelete="CASCADE")
    )
    sku: Mapped[str] = mapped_column(String(100))
    forecast_type: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(16))
    horizon: Mapped[int] = mapped_column(Integer)
    lookback_days: Mapped[int | None] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(64))
    fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    fallback_reason: Mapped[str | None] = mapped_column(Text)
    candidates: Mapped[dict[str, Any]] = mapped_column(default=dict)
    accuracy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    coverage: Mapped[float | None] = mapped_column(Float)
    # [{"ds", "yhat", "lo80", "hi80", "lo95", "hi95"}]
    points: Mapped[list[Any]] = mapped_column(default=list)
    history: Mapped[list[Any]] = mapped_column(default=list)
    components: Mapped[dict[str, Any]] = mapped_column(default=dict)
    explanation: Mapped[str] = mapped_column(Text, default="")
    explanation_facts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    is_official: Mapped[bool] = mapped_column(Boolean, default=True)
    run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("forecast_runs.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = created_at()


class ForecastAlert(Base):
    __tablename__ = "forecast_alerts"
    __table_args__ = (
        # One open alert per entity and type: a new run updates it rather than repeating it.
        Index(
            "uq_forecast_alerts_open",
            "site",
            "item_id",
            "alert_type",
            unique=True,
            postgresql_where=text("status <> 'resolved'"),
        ),
        Index("ix_forecast_alerts_status", "status", "severity"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    site: Mapped[str] = mapped_column(String(64), default="main")
    item_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("manufacturing_items.id", ondelete="CASCADE")
    )
    sku: Mapped[str] = mapped_column(String(100))
    forecast_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("forecasts.id", ondelete="SET NULL")
    )
    alert_type: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="active")
    snoozed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acted_by: Mapped[str | None] = mapped_column(String(200))
    acted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
