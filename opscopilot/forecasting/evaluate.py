"""Which alert rules a forecast runs, with what parameters, and what the alert carries (pure).

Each forecast type evaluates its rules and says which alert types it evaluated: an open alert of
an evaluated type that no longer fires is resolved by the next run (alerts.py), one of a type
the run did not evaluate is left alone.

- demand: a spike or drop of the latest actuals outside the previous forecast's interval;
- supply: inbound short of demand (against the latest official demand forecast);
- inventory: stockout risk within the lead time, excess stock, supply shortfall;
- quality: the forecast defect rate above the item's threshold.

Alert details carry the rule's numbers plus the variables notify's templates expect for the type
(notify.templates.TYPE_SAMPLES): a template renders with strict undefined variables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from opscopilot.forecasting import rules
from opscopilot.forecasting.frames import PERIOD_DAYS
from opscopilot.forecasting.inventory import InventoryForecast, StockPosition
from opscopilot.forecasting.pipeline import Computed
from opscopilot.forecasting.projection import Band, project_inventory

# Without an item attribute `max_defect_rate`, a forecast defect rate above 5 % is drift.
DEFAULT_DEFECT_THRESHOLD = 0.05
STOCK_TYPES = frozenset({"stockout_risk", "excess_stock", "supply_shortfall"})
DEMAND_TYPES = frozenset({"demand_spike", "demand_drop"})


@dataclass(frozen=True)
class StockParams:
    safety_stock: float = 0.0
    lead_time_days: float = 0.0
    reorder_point: float | None = None
    supplier: str | None = None
    defect_threshold: float = DEFAULT_DEFECT_THRESHOLD


@dataclass(frozen=True)
class Raised:
    """A rule's alert, with the details notify renders and an optional suggested action."""

    alert: rules.Alert
    details: dict[str, Any]
    suggested: dict[str, Any] | None = None


@dataclass(frozen=True)
class Verdict:
    raised: list[Raised] = field(default_factory=list)
    evaluated: frozenset[str] = frozenset()


def _level(levels: tuple[int, ...] | list[int]) -> int:
    return 80 if 80 in levels else min(levels)


def demand_verdict(computed: Computed, previous: list[dict[str, Any]], *, sku: str) -> Verdict:
    """Latest actuals against the previous forecast's interval for the same periods."""
    history = {
        pd.Timestamp(ds).date().isoformat(): float(y)
        for ds, y in zip(computed.series.frame["ds"], computed.values, strict=True)
    }
    overlap = [p for p in previous if p["ds"] in history]
    if not overlap:
        return Verdict()
    level = _level([int(k[2:]) for k in overlap[0] if k.startswith("lo")])
    band = Band(
        np.asarray([p["yhat"] for p in overlap], dtype=float),
        np.asarray([p[f"lo{level}"] for p in overlap], dtype=float),
        np.asarray([p[f"hi{level}"] for p in overlap], dtype=float),
    )
    starts = pd.DatetimeIndex([p["ds"] for p in overlap])
    actual = np.asarray([history[p["ds"]] for p in overlap])
    alert = rules.demand_anomaly(
        entity=sku, starts=starts, actual=actual, forecast=band, period=computed.config.period
    )
    if alert is None:
        return Verdict(evaluated=DEMAND_TYPES)
    expected, seen = float(alert.details["forecast"]), float(alert.details["actual"])
    change = (seen / expected - 1) * 100 if expected > 0 else 100.0
    details = {
        **alert.details,
        "expected": expected,
        "change_pct": round(change, 1),
        "period": alert.details["date"],
    }
    return Verdict([Raised(alert, details)], DEMAND_TYPES)


def quality_verdict(computed: Computed, *, sku: str, params: StockParams) -> Verdict:
    f = computed.forecast
    level = _level(computed.levels)
    alert = rules.quality_drift(
        entity=sku,
        starts=computed.starts,
        forecast=Band(f.mean, f.lower[level], f.upper[level]),
        threshold=params.defect_threshold,
        period=computed.config.period,
    )
    if alert is None:
        return Verdict(evaluated=frozenset({"quality_drift"}))
    recent = computed.values[-computed.config.m :]
    baseline = float(np.mean(recent)) if len(recent) else 0.0
    current = float(alert.details["forecast_rate"])
    details = {
        **alert.details,
        "metric": "defect_rate_pct",
        "current_value": round(current * 100, 3),
        "baseline_value": round(baseline * 100, 3),
        "change_pct": round((current / baseline - 1) * 100, 1) if baseline > 0 else 100.0,
    }
    return Verdict([Raised(alert, details)], frozenset({"quality_drift"}))


def stock_verdict(
    inventory: InventoryForecast, *, sku: str, params: StockParams, today: date
) -> Verdict:
    projection = inventory.projection
    found = [
        rules.stockout_risk(
            projection,
            entity=sku,
            safety_stock=params.safety_stock,
            lead_time_days=params.lead_time_days,
        ),
        rules.excess_stock(projection, entity=sku),
        rules.supply_shortfall(projection, entity=sku, safety_stock=params.safety_stock),
    ]
    raised = [_stock_details(a, inventory, params, today) for a in found if a is not None]
    return Verdict(raised, STOCK_TYPES)


def supply_verdict(
    supply: Computed,
    demand_points: list[dict[str, Any]],
    *,
    position: StockPosition | None,
    sku: str,
    params: StockParams,
) -> Verdict:
    """Inbound against the latest official demand forecast, when it covers the same periods."""
    by_ds = {p["ds"]: p for p in demand_points}
    wanted = [ts.date().isoformat() for ts in supply.starts]
    if position is None or not all(ds in by_ds for ds in wanted):
        return Verdict()
    level = _level(supply.levels)
    if f"lo{level}" not in by_ds[wanted[0]]:
        return Verdict()
    demand = Band(
        *(np.asarray([by_ds[ds][key] for ds in wanted], dtype=float)
          for key in ("yhat", f"lo{level}", f"hi{level}"))
    )  # fmt: skip
    f = supply.forecast
    projection = project_inventory(
        on_hand=position.on_hand,
        starts=supply.starts,
        period=supply.config.period,
        demand=demand,
        supply=Band(f.mean, f.lower[level], f.upper[level]),
        receipts=position.receipts,
    )
    alert = rules.supply_shortfall(projection, entity=sku, safety_stock=params.safety_stock)
    evaluated = frozenset({"supply_shortfall"})
    if alert is None:
        return Verdict(evaluated=evaluated)
    return Verdict([Raised(alert, _shortfall_details(alert, projection.starts))], evaluated)


def _stock_details(
    alert: rules.Alert, inventory: InventoryForecast, params: StockParams, today: date
) -> Raised:
    projection = inventory.projection
    opening = projection.opening
    details = dict(alert.details)
    suggested = None
    if alert.alert_type == "stockout_risk":
        when = date.fromisoformat(details["date"])
        lowest = float(np.min(projection.on_hand_low[: max(1, details["lead_time_periods"])]))
        quantity = math.ceil(max(params.safety_stock - lowest, 1.0))
        details |= {
            "on_hand": opening,
            "stockout_date": details["date"],
            "days_until_stockout": max(0, (when - today).days),
            "reorder_point": params.reorder_point if params.reorder_point is not None else 0.0,
            "lead_time_days": params.lead_time_days,
        }
        suggested = {
            "kind": "purchase_request",
            "label": "Draft a purchase request",
            "details": {"quantity": quantity, "needed_by": details["date"]}
            | ({"supplier": params.supplier} if params.supplier else {}),
        }
    elif alert.alert_type == "excess_stock":
        per_day = float(np.mean(projection.demand.mean)) / PERIOD_DAYS[projection.period]
        details |= {
            "on_hand": opening,
            "days_of_cover": round(opening / per_day, 1) if per_day > 0 else None,
            "target_days_of_cover": round(details["limit"] / per_day, 1) if per_day > 0 else None,
            "excess_qty": details["excess"],
        }
    else:
        details |= _shortfall_details(alert, projection.starts)
    return Raised(alert, details, suggested)


def _shortfall_details(alert: rules.Alert, starts: pd.DatetimeIndex) -> dict[str, Any]:
    d = alert.details
    return {
        **d,
        "required_qty": d["demand"],
        "expected_supply_qty": d["inbound"],
        "shortfall_qty": d["gap"],
        "needed_by": starts[-1].date().isoformat(),
    }
