"""Forecasting services: compute and store a forecast, read the latest, chart it, what-ifs,
and the alert actions. REST routes, the CLI, jobs, the Slack bot and the agent's tools call
these; the caller commits (a forecast, its alerts and their events land together).

Computing a forecast is a read in the trust tiers (DESIGN.md): a viewer may do it. The CPU
work runs in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.access.roles import Principal
from opscopilot.core.errors import NotFoundError, PermissionDenied, ValidationFailed
from opscopilot.core.metrics import FORECAST_RUNS, FORECAST_SECONDS
from opscopilot.core.settings import Settings
from opscopilot.forecasting import queries
from opscopilot.forecasting.alerts import (
    acknowledge_alert,
    active_alerts,
    apply_verdict,
    chart_url,
    get_alert,
    list_active_alerts,
    resolve_alert,
    snooze_alert,
)
from opscopilot.forecasting.assemble import (
    Ask,
    Outcome,
    Prepared,
    compute,
    compute_what_if,
    forecast_row,
    prepare,
)
from opscopilot.forecasting.frames import FORECAST_TYPES, PERIODS, Period
from opscopilot.forecasting.pipeline import EngineOptions
from opscopilot.forecasting.projection import WhatIf
from opscopilot.forecasting.prophet_model import ProphetSettings, prophet_available
from opscopilot.forecasting.schemas import (
    ForecastCreate,
    ForecastRead,
    WhatIfCreate,
    WhatIfRead,
)
from opscopilot.inference.forecasters import engine_version, record_forecaster_metrics
from opscopilot.store.models import Forecast

__all__ = [
    "acknowledge_alert",
    "active_alerts",
    "create_forecast",
    "engine_options",
    "forecast_chart",
    "forecast_read",
    "get_alert",
    "get_latest_forecast",
    "list_active_alerts",
    "record_metrics",
    "resolve_alert",
    "snooze_alert",
    "store_outcome",
    "what_if",
]


def engine_options(settings: Settings, *, bulk: bool = False) -> EngineOptions:
    """Prophet joins the candidates on the single-item path when installed; bulk work keeps
    to the fast statistical models."""
    return EngineOptions(
        default_horizon=settings.forecast.default_horizon,
        levels=tuple(sorted(set(settings.forecast.confidence_levels))),
        use_prophet=not bulk and prophet_available(),
        prophet=ProphetSettings(
            country=settings.forecast.holiday_country,
            timeout_s=settings.forecast.prophet_timeout_s,
        ),
    )


def resolve_site(site: str | None, principal: Principal, settings: Settings) -> str:
    if site is not None:
        if not principal.sees_site(site):
            raise PermissionDenied(f"site {site!r} is not among your sites", field="site")
        return site
    if principal.sees_site(settings.default_site):
        return settings.default_site
    return principal.sites[0]


def _check_type(forecast_type: str) -> None:
    if forecast_type not in FORECAST_TYPES:
        raise ValidationFailed(
            f"unknown forecast type {forecast_type!r}; valid types: {', '.join(FORECAST_TYPES)}",
            field="forecast_type",
        )


def _check_period(period: str | None) -> Period | None:
    if period is not None and period not in PERIODS:
        raise ValidationFailed(
            f"unknown period {period!r}; valid periods: {', '.join(PERIODS)}", field="period"
        )
    return period  # type: ignore[return-value]


def forecast_read(row: Forecast | Row[Any]) -> ForecastRead:
    """The API shape of a stored forecast: its ORM row, or a row of its table's columns."""
    components = dict(row.components or {})
    return ForecastRead(
        id=row.id,
        site=row.site,
        entity_id=row.sku,
        item_id=row.entity_id,
        entity_type=row.entity_type,
        forecast_type=row.forecast_type,
        period=row.period,
        horizon=row.horizon,
        lookback_days=row.lookback_days,
        model=row.model,
        fallback=row.fallback,
        fallback_reason=row.fallback_reason,
        naive=bool(components.get("naive", False)),
        candidates=row.candidates,
        accuracy=row.accuracy,
        coverage=row.coverage,
        points=row.points,
        history=row.history,
        explanation=row.explanation,
        components=components,
        explanation_facts=row.explanation_facts,
        is_official=row.is_official,
        run_id=row.run_id,
        created_at=row.created_at,
        chart_url=chart_url(row.sku, row.forecast_type, row.period, row.site),
    )


def _ask(request: ForecastCreate | WhatIfCreate, forecast_type: str) -> Ask:
    levels = getattr(request, "levels", None)
    return Ask(
        forecast_type=forecast_type,
        period=request.period,  # type: ignore[arg-type]
        horizon=request.horizon,
        lookback_days=request.lookback_days,
        levels=tuple(levels) if levels else None,
        allow_naive=getattr(request, "allow_naive", False),
    )


async def create_forecast(
    session: AsyncSession,
    *,
    request: ForecastCreate,
    principal: Principal,
    settings: Settings,
) -> ForecastRead:
    """Compute, explain and store the official forecast of one item; raise its alerts.

    NotFoundError for an unknown item; InsufficientHistoryError (422) saying how much
    history is needed unless `allow_naive`. The caller commits.
    """
    site = resolve_site(request.site, principal, settings)
    item = await queries.item_facts(session, entity_id=request.entity_id, site=site)
    as_of = request.as_of or datetime.now(UTC).date()
    prepared = await prepare(
        session, item=item, ask=_ask(request, request.forecast_type), as_of=as_of
    )
    started = time.perf_counter()
    outcome = await asyncio.to_thread(compute, prepared, options=engine_options(settings))
    FORECAST_SECONDS.labels(mode="single").observe(time.perf_counter() - started)
    row = await store_outcome(session, outcome, official=True, run_id=None)
    await record_metrics(session, outcome)
    return forecast_read(row)


async def store_outcome(
    session: AsyncSession, outcome: Outcome, *, official: bool, run_id: uuid.UUID | None
) -> Forecast:
    """Store the forecast and, when official, write its alerts in the same transaction."""
    now = datetime.now(UTC)
    row = forecast_row(outcome, official=official, run_id=run_id, now=now)
    session.add(row)
    await session.flush()
    if official:
        await apply_verdict(
            session, item=outcome.prepared.item, forecast=row, verdict=outcome.verdict, now=now
        )
    FORECAST_RUNS.labels(type=row.forecast_type, model=row.model).inc()
    return row


async def record_metrics(session: AsyncSession, outcome: Outcome) -> None:
    """The chosen model's backtest into the model registry (one entry per model family).

    Inventory is a projection, not a model: its demand and supply forecasts are not official
    forecasts of their own, so they are left out.
    """
    f = outcome.computed.forecast
    version = engine_version()
    if outcome.inventory is not None or f.backtest is None or version is None:
        return
    metrics: dict[str, Any] = {"rmsse": f.backtest.rmsse, "mase": f.backtest.mase,
                               "mae": f.backtest.mae}  # fmt: skip
    for level, value in f.backtest.coverage.items():
        metrics[f"coverage_{level}"] = value
    await record_forecaster_metrics(
        session,
        model=f.model,
        version=version,
        metrics=metrics,
        chosen_by_backtest=f.fallback_reason is None,
    )


async def _latest_row(
    session: AsyncSession,
    *,
    entity_id: str,
    forecast_type: str,
    principal: Principal,
    settings: Settings,
    period: str | None,
    site: str | None,
) -> Row[Any]:
    """The latest official forecast's columns, in one statement (every forecast question
    reads it); 404 naming what is missing: the item, or its forecast."""
    _check_type(forecast_type)
    checked = _check_period(period)
    where = resolve_site(site, principal, settings)
    sku, row = await queries.latest_forecast_by_sku(
        session, entity_id=entity_id, site=where, forecast_type=forecast_type, period=checked
    )
    if sku is None:
        raise NotFoundError(f"no item with sku or id {entity_id!r}", field="sku")
    if row is None:
        raise NotFoundError(
            f"no {forecast_type} forecast of {sku} at site {where} yet; "
            "POST /api/v1/forecasts computes one",
            field="entity_id",
        )
    return row


async def get_latest_forecast(
    session: AsyncSession,
    *,
    entity_id: str,
    forecast_type: str,
    principal: Principal,
    settings: Settings,
    period: str | None = None,
    site: str | None = None,
) -> ForecastRead:
    """The latest official forecast of the item (of `period`, when given)."""
    row = await _latest_row(
        session, entity_id=entity_id, forecast_type=forecast_type, principal=principal,
        settings=settings, period=period, site=site,
    )  # fmt: skip
    return forecast_read(row)


async def forecast_chart(
    session: AsyncSession,
    *,
    entity_id: str,
    forecast_type: str,
    principal: Principal,
    settings: Settings,
    period: str | None = None,
    site: str | None = None,
) -> bytes:
    """PNG of the latest forecast: history, forecast line and interval bands."""
    from opscopilot.forecasting.chart import forecast_png

    row = await _latest_row(
        session, entity_id=entity_id, forecast_type=forecast_type, principal=principal,
        settings=settings, period=period, site=site,
    )  # fmt: skip
    history = [h for h in row.history if h.get("y") is not None]
    points = list(row.points)
    levels = sorted(int(k[2:]) for k in (points[0] if points else {}) if k.startswith("lo"))
    ylabel = {"quality": "defect rate", "inventory": "on hand"}.get(row.forecast_type, "units")
    return await asyncio.to_thread(
        forecast_png,
        history_ds=pd.DatetimeIndex([h["ds"] for h in history]),
        history_y=np.asarray([h["y"] for h in history], dtype=float),
        forecast_ds=pd.DatetimeIndex([p["ds"] for p in points]),
        mean=np.asarray([p["yhat"] for p in points], dtype=float),
        lower={lv: np.asarray([p[f"lo{lv}"] for p in points], dtype=float) for lv in levels},
        upper={lv: np.asarray([p[f"hi{lv}"] for p in points], dtype=float) for lv in levels},
        title=f"{row.sku} · {row.forecast_type} forecast ({row.period}, {row.model})",
        ylabel=ylabel,
    )


async def what_if(
    session: AsyncSession,
    *,
    request: WhatIfCreate,
    principal: Principal,
    settings: Settings,
) -> WhatIfRead:
    """Re-project inventory with suppliers late and/or demand scaled.

    The scenario is stored as an unofficial forecast (never the latest official one, and it
    raises no alert); the alerts it would raise are returned. The caller commits.
    """
    site = resolve_site(request.site, principal, settings)
    item = await queries.item_facts(session, entity_id=request.entity_id, site=site)
    as_of = request.as_of or datetime.now(UTC).date()
    prepared: Prepared = await prepare(
        session, item=item, ask=_ask(request, "inventory"), as_of=as_of
    )
    lever = WhatIf(
        supplier_delay_days={d.supplier: d.days for d in request.supplier_delays},
        demand_factor=1 + request.demand_change_pct / 100,
    )
    baseline, scenario = await asyncio.to_thread(
        compute_what_if, prepared, options=engine_options(settings), what_if=lever
    )
    row = await store_outcome(session, scenario, official=False, run_id=None)
    transient = forecast_row(baseline, official=False, run_id=None, now=row.created_at)
    return WhatIfRead(
        lever=lever.describe(),
        baseline=forecast_read(transient),
        scenario=forecast_read(row),
        alerts=[
            {
                "alert_type": r.alert.alert_type,
                "severity": r.alert.severity,
                "message": r.alert.message,
                "details": r.details,
            }
            for r in scenario.verdict.raised
        ],  # fmt: skip
    )
