"""Request and response shapes of forecasts, what-ifs, bulk runs and alerts (pydantic v2).

Forecast types and periods are plain strings checked by validators, so that a wrong one is
refused with the list of valid ones (the original API's value sets), whichever surface sent it.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from opscopilot.forecasting.frames import FORECAST_TYPES, PERIODS

ALERT_TYPES = (
    "stockout_risk",
    "excess_stock",
    "demand_spike",
    "demand_drop",
    "supply_shortfall",
    "quality_drift",
)


def check_forecast_type(value: str) -> str:
    if value not in FORECAST_TYPES:
        raise PydanticCustomError(
            "unknown_forecast_type",
            "unknown forecast type '{value}'; valid types: {valid}",
            {"value": value, "valid": ", ".join(FORECAST_TYPES)},
        )
    return value


def check_period(value: str) -> str:
    if value not in PERIODS:
        raise PydanticCustomError(
            "unknown_period",
            "unknown period '{value}'; valid periods: {valid}",
            {"value": value, "valid": ", ".join(PERIODS)},
        )
    return value


def _check_levels(value: list[int] | None) -> list[int] | None:
    if value is None:
        return None
    if not value or any(not 50 <= level <= 99 for level in value):
        raise PydanticCustomError(
            "bad_levels", "confidence levels are whole percentages from 50 to 99, e.g. [80, 95]"
        )
    return sorted(set(value))


class _Horizon(BaseModel):
    period: str = Field("monthly", description="daily, weekly, monthly or quarterly")
    horizon: int | None = Field(
        None, ge=1, le=366, description="Periods ahead; default from settings, shortened "
        "to what the history can backtest."
    )  # fmt: skip
    lookback_days: int | None = Field(
        None, ge=1, le=36_500, description="History used: the complete periods in these days."
    )
    site: str | None = Field(None, min_length=1, max_length=64)
    as_of: date | None = Field(
        None, description="The day the history ends (default today); its period is dropped "
        "while it is still running."
    )  # fmt: skip

    _period = field_validator("period")(check_period)


class ForecastCreate(_Horizon):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "forecast_type": "demand",
                "period": "monthly",
                "entity_id": "ITEM-001",
                "entity_type": "item",
                "lookback_days": 365,
            }
        },
    )

    forecast_type: str = Field(description="demand, supply, quality or inventory")
    entity_id: str = Field(min_length=1, max_length=100, description="The item's sku or id.")
    entity_type: Literal["item"] = "item"
    levels: list[int] | None = Field(None, description="Interval levels; default [80, 95].")
    allow_naive: bool = Field(
        False, description="On a history too short to backtest, return a naive forecast "
        "(flagged as such) instead of a 422."
    )  # fmt: skip

    _type = field_validator("forecast_type")(check_forecast_type)
    _levels = field_validator("levels")(_check_levels)


class SupplierDelay(BaseModel):
    supplier: str = Field(
        min_length=1, max_length=300, description="Supplier name, or '*' for every supplier."
    )
    days: int = Field(ge=-365, le=365, description="Days late (negative: early).")


class WhatIfCreate(_Horizon):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "entity_id": "ITEM-001",
                "period": "weekly",
                "supplier_delays": [{"supplier": "Supplier X", "days": 14}],
                "demand_change_pct": 20,
            }
        },
    )

    entity_id: str = Field(min_length=1, max_length=100)
    supplier_delays: list[SupplierDelay] = Field(default_factory=list, max_length=50)
    demand_change_pct: float = Field(0.0, ge=-100, le=1000, description="+20 = demand +20 %.")


class ForecastRead(BaseModel):
    id: uuid.UUID
    site: str
    entity_id: str = Field(description="The item's sku.")
    item_id: uuid.UUID
    entity_type: str
    forecast_type: str
    period: str
    horizon: int
    lookback_days: int | None
    model: str
    fallback: bool
    fallback_reason: str | None
    naive: bool
    candidates: dict[str, Any]
    accuracy: dict[str, Any]
    coverage: float | None
    points: list[dict[str, Any]] = Field(
        description="Per period: ds, yhat and lo<L>/hi<L> for each level."
    )
    history: list[dict[str, Any]]
    explanation: str
    components: dict[str, Any]
    explanation_facts: dict[str, Any]
    is_official: bool
    run_id: uuid.UUID | None
    created_at: datetime
    chart_url: str


class WhatIfRead(BaseModel):
    lever: str
    baseline: ForecastRead = Field(description="The projection without the levers (not stored).")
    scenario: ForecastRead = Field(description="The projection with them (stored unofficial).")
    alerts: list[dict[str, Any]] = Field(description="The alerts the scenario would raise.")


class BulkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    forecast_type: str
    period: str = "weekly"
    horizon: int | None = Field(None, ge=1, le=366)
    site: str | None = Field(None, min_length=1, max_length=64)
    partition_size: int = Field(50, ge=1, le=1000)

    _type = field_validator("forecast_type")(check_forecast_type)
    _period = field_validator("period")(check_period)


class PartitionRead(BaseModel):
    partition_no: int
    items: int
    status: str
    attempts: int
    finished_at: datetime | None


class RunRead(BaseModel):
    id: uuid.UUID
    site: str
    forecast_type: str
    period: str
    horizon: int
    status: str
    trigger: str | None
    partitions_total: int
    partitions_done: int
    items_total: int
    items_done: int
    forecasts: int = Field(description="Forecasts stored by this run.")
    skipped: int = Field(description="Items done without a forecast (e.g. too little history).")
    progress: float = Field(description="Share of partitions finished (done or failed).")
    partitions: list[PartitionRead]
    failed_partitions: list[int] = Field(
        default_factory=list, description="Partitions that failed every attempt."
    )
    error: str | None
    engine_version: str | None = Field(
        None, description="forecasting.ENGINE_VERSION when the run started."
    )
    created_at: datetime
    finished_at: datetime | None


class AlertRead(BaseModel):
    id: uuid.UUID
    site: str
    sku: str
    item_id: uuid.UUID
    forecast_id: uuid.UUID | None
    alert_type: str
    severity: str
    message: str
    details: dict[str, Any]
    status: str
    snoozed_until: datetime | None
    acted_by: str | None
    acted_at: datetime | None
    created_at: datetime
    updated_at: datetime


class AlertList(BaseModel):
    alerts: list[AlertRead]
    count: int


class SnoozeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    until: datetime = Field(description="When the alert comes back (with a time zone).")


class ResolveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(None, max_length=2000)


class ForecastChangeRead(BaseModel):
    """How an item's latest official forecast moved against the previous official one of the
    same item, type and period: totals over the periods both forecasts cover."""

    sku: str
    item_id: uuid.UUID
    site: str
    forecast_type: str
    period: str
    periods: int = Field(description="Periods both forecasts cover.")
    before: float = Field(description="The previous forecast's total over those periods.")
    after: float = Field(description="The latest forecast's total over those periods.")
    change_pct: float = Field(description="after / before - 1, in percent.")
    forecast_id: uuid.UUID
    created_at: datetime = Field(description="When the latest forecast was made.")
    previous_created_at: datetime
