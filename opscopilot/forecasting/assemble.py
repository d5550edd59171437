"""One forecast, in three steps that the API path and the bulk path share:

1. `prepare` (async, reads the store): the item, its series, the previous official forecast,
   and for inventory and supply the stock position;
2. `compute` (pure, CPU-bound: run it off the event loop): the engine, the explanation, the
   projection for inventory, and the alert rules' verdict;
3. `forecast_row`: the `forecasts` row the service stores.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.core.errors import ValidationFailed
from opscopilot.forecasting import pipeline, queries
from opscopilot.forecasting.errors import ForecastInputError
from opscopilot.forecasting.evaluate import (
    Verdict,
    demand_verdict,
    quality_verdict,
    stock_verdict,
    supply_verdict,
)
from opscopilot.forecasting.explain import PreviousForecast
from opscopilot.forecasting.frames import SERIES_KIND, Period, SeriesFrame
from opscopilot.forecasting.inventory import InventoryForecast, StockPosition, project
from opscopilot.forecasting.pipeline import Computed, EngineOptions, SeriesSpec
from opscopilot.forecasting.projection import WhatIf
from opscopilot.forecasting.queries import ItemFacts
from opscopilot.store.models import Forecast


@dataclass(frozen=True)
class Ask:
    """What is asked, whichever surface asked it."""

    forecast_type: str
    period: Period
    horizon: int | None = None
    lookback_days: int | None = None
    levels: tuple[int, ...] | None = None
    allow_naive: bool = False


@dataclass(frozen=True)
class Prepared:
    item: ItemFacts
    ask: Ask
    as_of: date
    series: SeriesFrame | None = None
    supply_series: SeriesFrame | None = None
    previous: PreviousForecast | None = None
    previous_points: list[dict[str, Any]] = field(default_factory=list)
    position: StockPosition | None = None
    demand_points: list[dict[str, Any]] = field(default_factory=list)
    stock_history: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    prepared: Prepared
    computed: Computed
    inventory: InventoryForecast | None
    verdict: Verdict

    @property
    def model(self) -> str:
        return "projection" if self.inventory is not None else self.computed.forecast.model


async def prepare(session: AsyncSession, *, item: ItemFacts, ask: Ask, as_of: date) -> Prepared:
    """Everything `compute` needs from the store for this item and ask."""
    kind = "demand" if ask.forecast_type == "inventory" else ask.forecast_type
    series = await queries.series_frame(
        session, item=item, kind=kind, period=ask.period, as_of=as_of,
        lookback_days=ask.lookback_days,
    )  # fmt: skip
    previous = await queries.latest_forecast(
        session, item_id=item.id, site=item.site, forecast_type=ask.forecast_type,
        period=ask.period,
    )  # fmt: skip
    extra: dict[str, Any] = {}
    if ask.forecast_type in ("inventory", "supply"):
        extra["position"] = await queries.stock_position(session, item=item, as_of=as_of)
    if ask.forecast_type == "inventory":
        if extra["position"] is None:
            raise ValidationFailed(
                f"no stock count for {item.sku} at site {item.site}: ingest an inventory "
                "snapshot before forecasting inventory",
                field="entity_id",
            )
        extra["supply_series"] = await queries.series_frame(
            session, item=item, kind="supply", period=ask.period, as_of=as_of,
            lookback_days=ask.lookback_days,
        )  # fmt: skip
        extra["stock_history"] = await queries.stock_history(
            session, item=item, period=ask.period, as_of=as_of
        )
    if ask.forecast_type == "supply":
        demand = await queries.latest_forecast(
            session, item_id=item.id, site=item.site, forecast_type="demand", period=ask.period
        )
        extra["demand_points"] = list(demand.points) if demand else []
    return Prepared(
        item=item,
        ask=ask,
        as_of=as_of,
        series=series,
        previous=(
            pipeline.previous_from_points(
                previous.model, list(previous.points),
                engine_version=(previous.components or {}).get("engine_version"),
            )
            if previous else None
        ),
        previous_points=list(previous.points) if previous else [],
        **extra,
    )  # fmt: skip


def compute(
    prepared: Prepared, *, options: EngineOptions, what_if: WhatIf | None = None
) -> Outcome:
    """Forecast, explain, project (inventory) and run the alert rules. Pure and CPU-bound."""
    computed = _forecast(prepared, options)
    if prepared.ask.forecast_type != "inventory":
        return Outcome(prepared, computed, None, _verdict(prepared, computed))
    return _project(prepared, computed, _supply(prepared, computed, options), what_if)


def compute_what_if(
    prepared: Prepared, *, options: EngineOptions, what_if: WhatIf
) -> tuple[Outcome, Outcome]:
    """The inventory projection without and with the levers, from one pair of forecasts."""
    demand = _forecast(prepared, options)
    supply = _supply(prepared, demand, options)
    return _project(prepared, demand, supply, None), _project(prepared, demand, supply, what_if)


def _forecast(prepared: Prepared, options: EngineOptions) -> Computed:
    ask, item = prepared.ask, prepared.item
    assert prepared.series is not None
    is_inventory = ask.forecast_type == "inventory"
    kind = SERIES_KIND["demand" if is_inventory else ask.forecast_type]
    spec = SeriesSpec(
        period=ask.period,
        kind=kind,
        horizon=ask.horizon,
        allow_naive=ask.allow_naive,
        unit="rate" if kind == "rate" else _unit(item.uom),
        previous=None if is_inventory else prepared.previous,
        levels=ask.levels,
    )
    return pipeline.compute(prepared.series, spec=spec, options=options)


def _project(
    prepared: Prepared, demand: Computed, supply: Computed | None, what_if: WhatIf | None
) -> Outcome:
    assert prepared.position is not None
    inventory = project(
        demand, supply, position=prepared.position, what_if=what_if, previous=prepared.previous
    )
    item = prepared.item
    verdict = stock_verdict(inventory, sku=item.sku, params=item.params, today=prepared.as_of)
    return Outcome(prepared, demand, inventory, verdict)


def _unit(uom: str) -> str:
    return "units" if uom.upper() == "EA" else uom


def _supply(prepared: Prepared, demand: Computed, options: EngineOptions) -> Computed | None:
    """Forecast supply over the demand forecast's periods; None when there is none to have."""
    series = prepared.supply_series
    if series is None or len(series) == 0:
        return None
    spec = SeriesSpec(
        period=prepared.ask.period,
        kind="count",
        horizon=demand.config.horizon,
        allow_naive=True,
        levels=demand.levels,
    )
    try:
        return pipeline.compute(series, spec=spec, options=options)
    except ForecastInputError:
        return None


def _verdict(prepared: Prepared, computed: Computed) -> Verdict:
    item, kind = prepared.item, prepared.ask.forecast_type
    if kind == "demand":
        return demand_verdict(computed, prepared.previous_points, sku=item.sku)
    if kind == "quality":
        return quality_verdict(computed, sku=item.sku, params=item.params)
    return supply_verdict(
        computed,
        prepared.demand_points,
        position=prepared.position,
        sku=item.sku,
        params=item.params,
    )


def forecast_row(
    outcome: Outcome, *, official: bool, run_id: uuid.UUID | None, now: datetime
) -> Forecast:
    prepared, computed, inventory = outcome.prepared, outcome.computed, outcome.inventory
    f = computed.forecast
    common: dict[str, Any] = {
        "id": uuid.uuid4(),
        "site": prepared.item.site,
        "entity_type": "item",
        "entity_id": prepared.item.id,
        "sku": prepared.item.sku,
        "forecast_type": prepared.ask.forecast_type,
        "period": prepared.ask.period,
        "horizon": computed.config.horizon,
        "lookback_days": prepared.ask.lookback_days,
        "model": outcome.model,
        "fallback": f.fallback or f.naive,
        "fallback_reason": pipeline.fallback_reason(f),
        "is_official": official,
        "run_id": run_id,
        "created_at": now,
    }
    if inventory is None:
        return Forecast(
            **common,
            candidates=pipeline.candidates(f),
            accuracy=pipeline.accuracy(f),
            coverage=pipeline.coverage(f),
            points=pipeline.forecast_points(computed),
            history=pipeline.history_points(computed.series),
            components={**pipeline.components(computed), "naive": f.naive},
            explanation=computed.explanation.text,
            explanation_facts=dict(computed.explanation.shown),
        )
    supply = inventory.supply
    return Forecast(
        **common,
        candidates={
            "demand": pipeline.candidates(f),
            "supply": pipeline.candidates(supply.forecast) if supply else {},
        },
        accuracy={
            "demand": pipeline.accuracy(f),
            "supply": pipeline.accuracy(supply.forecast) if supply else {},
        },
        coverage=None,
        points=inventory.points,
        history=prepared.stock_history,
        components={**inventory.components, "naive": f.naive},
        explanation=inventory.text,
        explanation_facts=dict(inventory.shown),
    )
