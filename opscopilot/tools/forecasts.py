"""Forecast tools: compute one, read the latest with its explanation, what-if, the biggest
changes at the site (read tier).

Computing a forecast stores it (and raises its alerts) but changes nothing outside: the
trust tiers count it as a read, as the forecasting service does.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from langchain_core.tools import tool
from langgraph.prebuilt import ToolRuntime

from opscopilot.core.errors import ValidationFailed
from opscopilot.forecasting import service as forecasting
from opscopilot.forecasting.changes import forecast_changes as changes_since
from opscopilot.forecasting.runs import get_run
from opscopilot.forecasting.schemas import (
    ForecastCreate,
    ForecastRead,
    SupplierDelay,
    WhatIfCreate,
)
from opscopilot.tools.base import ToolSpec, respond
from opscopilot.tools.context import ToolContext

Reply = tuple[str, dict[str, Any]]
ForecastType = Literal["demand", "supply", "inventory", "quality"]
Period = Literal["daily", "weekly", "monthly", "quarterly"]
POINTS_SHOWN = 24
MAX_RUNS = 20
CHANGES_WINDOW = timedelta(days=1)
# Explanation numbers about the change against the previous forecast.
CHANGE_KEYS = ("previous_model", "previous_level", "new_level", "change_share", "overlap_periods")


def _points(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keep = ("ds", "yhat", "lo80", "hi80")
    return [
        {k: round(v, 2) if isinstance(v, float) else v for k, v in p.items() if k in keep}
        for p in points[:POINTS_SHOWN]
    ]


def _compact(f: ForecastRead) -> dict[str, Any]:
    return {
        "sku": f.entity_id,
        "site": f.site,
        "forecast_type": f.forecast_type,
        "period": f.period,
        "horizon": f.horizon,
        "model": f.model,
        "naive": f.naive,
        "created_at": f.created_at.isoformat(),
        "points": _points(f.points),
        "explanation": f.explanation,
        "chart_url": f.chart_url,
    }


@tool(parse_docstring=True, response_format="content_and_artifact")
async def run_forecast(
    runtime: ToolRuntime[ToolContext],
    sku: str,
    forecast_type: ForecastType = "demand",
    period: Period = "monthly",
    horizon: int | None = None,
) -> Reply:
    """Compute a new forecast of one item (the best model by backtest, with 80 % and 95 %
    intervals and a plain-language explanation) and store it as the official one.

    Args:
        sku: The item's SKU.
        forecast_type: demand, supply, inventory (projected on hand) or quality (defect rate).
        period: daily, weekly, monthly or quarterly buckets.
        horizon: Periods ahead; default from the settings.
    """
    ctx = runtime.context
    request = ForecastCreate(
        forecast_type=forecast_type,
        entity_id=sku.strip(),
        period=period,
        horizon=horizon,
        site=ctx.site,
        allow_naive=True,
    )
    async with ctx.db.transaction() as session:
        made = await forecasting.create_forecast(
            session, request=request, principal=ctx.principal, settings=ctx.settings
        )
    return respond("run_forecast", _compact(made))


@tool(parse_docstring=True, response_format="content_and_artifact")
async def get_forecast(
    runtime: ToolRuntime[ToolContext],
    sku: str,
    forecast_type: ForecastType = "demand",
    period: Period | None = None,
) -> Reply:
    """The latest official forecast of one item, with its explanation (no new computation).

    Args:
        sku: The item's SKU.
        forecast_type: demand, supply, inventory or quality.
        period: Only a forecast of this period; default the latest of any.
    """
    found = await _latest(runtime.context, sku, forecast_type, period)
    return respond("get_forecast", _compact(found))


@tool(parse_docstring=True, response_format="content_and_artifact")
async def explain_forecast(
    runtime: ToolRuntime[ToolContext],
    sku: str,
    forecast_type: ForecastType = "demand",
    period: Period | None = None,
) -> Reply:
    """Why the latest forecast of an item says what it says and how it changed against the
    previous one: model, level, trend, season, and the change in level.

    Args:
        sku: The item's SKU.
        forecast_type: demand, supply, inventory or quality.
        period: Only a forecast of this period; default the latest of any.
    """
    found = await _latest(runtime.context, sku, forecast_type, period)
    facts = found.explanation_facts or {}
    data = {
        "sku": found.entity_id,
        "forecast_type": found.forecast_type,
        "period": found.period,
        "model": found.model,
        "created_at": found.created_at.isoformat(),
        "explanation": found.explanation,
        "change": {k: facts[k] for k in CHANGE_KEYS if k in facts},
    }
    return respond("explain_forecast", data)


@tool(parse_docstring=True, response_format="content_and_artifact")
async def what_if(
    runtime: ToolRuntime[ToolContext],
    sku: str,
    demand_change_pct: float = 0.0,
    supply_delay_days: int = 0,
    supplier: str = "*",
    period: Period = "weekly",
) -> Reply:
    """Re-project an item's inventory under a scenario (demand up or down by a percentage,
    a supplier's receipts late by some days) and list the alerts it would raise. Nothing
    official changes.

    Args:
        sku: The item's SKU.
        demand_change_pct: Demand change in percent, e.g. 20 for +20 %, -10 for -10 %.
        supply_delay_days: Days the supplier's receipts are late (negative: early).
        supplier: The supplier's name, or * for every supplier.
        period: Buckets of the projection.
    """
    ctx = runtime.context
    delays = [SupplierDelay(supplier=supplier, days=supply_delay_days)] if supply_delay_days else []
    request = WhatIfCreate(
        entity_id=sku.strip(),
        period=period,
        site=ctx.site,
        supplier_delays=delays,
        demand_change_pct=demand_change_pct,
    )
    async with ctx.db.transaction() as session:
        result = await forecasting.what_if(
            session, request=request, principal=ctx.principal, settings=ctx.settings
        )
    data = {
        "sku": sku.strip().upper(),
        "lever": result.lever,
        "baseline": _points(result.baseline.points),
        "scenario": _points(result.scenario.points),
        "scenario_explanation": result.scenario.explanation,
        "alerts": [
            {k: a.get(k) for k in ("alert_type", "severity", "message")} for a in result.alerts
        ],
    }
    return respond("what_if", data)


@tool(parse_docstring=True, response_format="content_and_artifact")
async def forecast_run_status(runtime: ToolRuntime[ToolContext], run_ids: list[str]) -> Reply:
    """Progress of bulk forecast runs (such as the scheduled run's): status and items
    forecast of each, and the totals over all of them.

    Args:
        run_ids: The runs' ids (UUIDs).
    """
    if len(run_ids) > MAX_RUNS:
        raise ValidationFailed(f"at most {MAX_RUNS} runs at a time", field="run_ids")
    try:
        ids = [uuid.UUID(r.strip()) for r in run_ids]
    except ValueError:
        raise ValidationFailed("run_ids must be UUIDs", field="run_ids") from None
    ctx = runtime.context
    async with ctx.db.session() as session:
        runs = [await get_run(session, run_id=i, principal=ctx.principal) for i in ids]
    data = {
        "runs": [
            {
                "id": str(r.id),
                "site": r.site,
                "forecast_type": r.forecast_type,
                "status": r.status,
                "items_done": r.items_done,
                "items_total": r.items_total,
                "failed_partitions": r.failed_partitions,
            }
            for r in runs
        ],
        "count": len(runs),
        "items_done": sum(r.items_done for r in runs),
        "items_total": sum(r.items_total for r in runs),
    }
    return respond("forecast_run_status", data)


@tool(parse_docstring=True, response_format="content_and_artifact")
async def forecast_changes(
    runtime: ToolRuntime[ToolContext],
    since: str | None = None,
    limit: int = 5,
    forecast_type: ForecastType | None = None,
) -> Reply:
    """The items at the chat's site whose newest official forecast changed most against
    the previous one (same item, type and period): the totals over the periods both cover,
    before and after, and the change in percent, the largest change up or down first.

    Args:
        since: ISO date-time; only forecasts made after it (default: the last 24 hours).
        limit: How many items to list (default 5).
        forecast_type: Only forecasts of this type: demand, supply, inventory or quality.
    """
    moment = datetime.now(UTC) - CHANGES_WINDOW if since is None else _instant(since)
    ctx = runtime.context
    async with ctx.db.session() as session:
        found = await changes_since(
            session, principal=ctx.principal, site=ctx.site, since=moment,
            limit=max(1, min(limit, 20)), forecast_type=forecast_type,
        )  # fmt: skip
    # Rounded here as a text would print them, so every figure quoted is in the result.
    data = {
        "site": ctx.site,
        "since": moment.isoformat(),
        "changes": [
            {
                "sku": c.sku,
                "forecast_type": c.forecast_type,
                "period": c.period,
                "periods": c.periods,
                "before": round(c.before, 2),
                "after": round(c.after, 2),
                "change_pct": round(c.change_pct, 1),
                "created_at": c.created_at.astimezone(UTC).isoformat(),
            }
            for c in found
        ],
        "count": len(found),
    }
    return respond("forecast_changes", data)


def _instant(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(f"since is not an ISO date-time: {value!r}", field="since") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def specs() -> list[ToolSpec]:
    return [
        ToolSpec(tool=run_forecast, tier="read", status="computing the forecast"),
        ToolSpec(tool=get_forecast, tier="read", status="reading the latest forecast"),
        ToolSpec(tool=explain_forecast, tier="read", status="explaining the forecast"),
        ToolSpec(tool=what_if, tier="read", status="projecting the scenario"),
        ToolSpec(tool=forecast_run_status, tier="read", status="checking the forecast runs"),
        ToolSpec(tool=forecast_changes, tier="read", status="comparing the latest forecasts"),
    ]


async def _latest(
    ctx: ToolContext, sku: str, forecast_type: str, period: str | None
) -> ForecastRead:
    """The latest official forecast, as get_forecast and explain_forecast both read it."""
    async with ctx.db.session() as session:
        return await forecasting.get_latest_forecast(
            session,
            entity_id=sku.strip(),
            forecast_type=forecast_type,
            principal=ctx.principal,
            settings=ctx.settings,
            period=period,
            site=ctx.site,
        )
