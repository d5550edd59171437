"""Alert rules: pure functions from a projection or forecast to at most one alert each.

Severity comes from how soon and how much, the same way for every rule:

    score = (1 - soon) / 2 + min(much, 1) / 2

`soon` is the share of the look-ahead window that passes before the problem starts (0 = now),
`much` the size of the problem relative to its yardstick (1 = as large as the yardstick, e.g. a
shortfall as large as the safety stock). Scores of 0.75, 0.5 and 0.25 and up are critical,
high and medium; below is low. A stockout that is only possible (pessimistic line), not
expected, is capped at medium.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from opscopilot.forecasting.frames import PERIOD_DAYS, Period, periods_in_days
from opscopilot.forecasting.projection import Band, Projection

AlertType = Literal[
    "stockout_risk",
    "excess_stock",
    "demand_spike",
    "demand_drop",
    "supply_shortfall",
    "quality_drift",
]
Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")
PERIOD_WORD = {"daily": "day", "weekly": "week", "monthly": "month", "quarterly": "quarter"}


@dataclass(frozen=True)
class Alert:
    alert_type: AlertType
    severity: Severity
    message: str
    details: dict[str, Any] = field(default_factory=dict)


def severity(*, soon: float, much: float) -> Severity:
    score = (1 - min(max(soon, 0.0), 1.0)) / 2 + min(max(much, 0.0), 1.0) / 2
    if score >= 0.75:
        return "critical"
    if score >= 0.5:
        return "high"
    if score >= 0.25:
        return "medium"
    return "low"


def stockout_risk(
    projection: Projection, *, entity: str, safety_stock: float, lead_time_days: float
) -> Alert | None:
    """Projected on hand below safety stock within the lead time (the first such period)."""
    window = min(periods_in_days(lead_time_days, projection.period), len(projection.starts))
    expected = _first(projection.on_hand[:window] < safety_stock)
    possible = _first(projection.on_hand_low[:window] < safety_stock)
    if expected is None and possible is None:
        return None
    index = expected if expected is not None else possible
    assert index is not None
    line = projection.on_hand if expected is not None else projection.on_hand_low
    level = float(line[index])
    yardstick = max(safety_stock, float(np.mean(projection.demand.mean[:window])), 1.0)
    rating = severity(soon=index / window, much=(safety_stock - level) / yardstick)
    if expected is None and SEVERITIES.index(rating) > SEVERITIES.index("medium"):
        rating = "medium"
    date = projection.starts[index].date()
    what = (
        "runs out"
        if level < 0
        else f"falls to {level:,.0f}, under the safety stock of {safety_stock:,.0f},"
    )
    likely = "" if expected is not None else " if demand runs high"
    word = PERIOD_WORD[projection.period]
    message = (
        f"{entity}: projected stock {what} in the {word} of {date}{likely}, within the "
        f"{window}-{word} lead time{_lever(projection)}."
    )
    return Alert(
        "stockout_risk",
        rating,
        message,
        {
            "date": str(date),
            "period_index": index,
            "projected_on_hand": level,
            "safety_stock": safety_stock,
            "lead_time_periods": window,
            "expected": expected is not None,
            "what_if": projection.what_if.describe() if projection.what_if else None,
        },
    )


def excess_stock(
    projection: Projection,
    *,
    entity: str,
    max_stock: float | None = None,
    cover_days: float = 182.0,
) -> Alert | None:
    """On hand stays above the maximum (or `cover_days` of forecast demand) all horizon long."""
    per_period = float(np.mean(projection.demand.mean))
    periods_of_cover = cover_days / PERIOD_DAYS[projection.period]
    limit = max_stock if max_stock is not None else per_period * periods_of_cover
    lowest = float(np.min(projection.on_hand))
    if limit <= 0 or lowest <= limit:
        return None
    excess = lowest - limit
    rating = severity(soon=1.0, much=excess / limit)
    message = (
        f"{entity}: stock never falls below {lowest:,.0f} over the forecast, {excess:,.0f} above "
        f"the {'maximum' if max_stock is not None else 'cover limit'} of {limit:,.0f}"
        f"{_lever(projection)}."
    )
    return Alert(
        "excess_stock",
        rating,
        message,
        {"lowest_on_hand": lowest, "limit": limit, "excess": excess},
    )


def demand_anomaly(
    *,
    entity: str,
    starts: pd.DatetimeIndex,
    actual: np.ndarray,
    forecast: Band,
    period: Period,
) -> Alert | None:
    """The latest period whose actual demand fell outside the forecast interval for it."""
    actual = np.asarray(actual, dtype=float)
    outside = np.flatnonzero((actual > forecast.upper) | (actual < forecast.lower))
    if len(outside) == 0:
        return None
    i = int(outside[-1])
    spike = bool(actual[i] > forecast.upper[i])
    edge = float(forecast.upper[i] if spike else forecast.lower[i])
    width = max(float(forecast.upper[i] - forecast.lower[i]), abs(float(forecast.mean[i])), 1.0)
    rating = severity(soon=0.0, much=abs(actual[i] - edge) / width / 2)
    word = PERIOD_WORD[period]
    direction = "above" if spike else "below"
    message = (
        f"{entity}: demand of {actual[i]:,.0f} in the {word} of {starts[i].date()} is {direction} "
        f"the forecast interval ({forecast.lower[i]:,.0f} to {forecast.upper[i]:,.0f}; "
        f"forecast {forecast.mean[i]:,.0f})."
    )
    return Alert(
        "demand_spike" if spike else "demand_drop",
        rating,
        message,
        {
            "date": str(starts[i].date()),
            "actual": float(actual[i]),
            "forecast": float(forecast.mean[i]),
            "lower": float(forecast.lower[i]),
            "upper": float(forecast.upper[i]),
        },
    )


def supply_shortfall(
    projection: Projection, *, entity: str, safety_stock: float = 0.0, tolerance: float = 0.2
) -> Alert | None:
    """Inbound (forecast supply plus receipts) covers too little of the forecast demand.

    An alert needs inbound short of demand by more than `tolerance` AND a gap the stock above
    safety stock cannot absorb by the end of the horizon; `much` is that unabsorbed gap
    relative to demand.
    """
    demand = float(np.sum(projection.demand.mean))
    inbound = float(np.sum(projection.supply + projection.receipts))
    if demand <= 0:
        return None
    covered = inbound / demand
    gap = demand - inbound
    unabsorbed = gap - max(projection.opening - safety_stock, 0.0)
    if covered >= 1 - tolerance or unabsorbed <= 0:
        return None
    first_short = _first(projection.on_hand < safety_stock)
    h = len(projection.starts)
    soon = (first_short if first_short is not None else h) / h
    rating = severity(soon=soon, much=unabsorbed / demand)
    word = PERIOD_WORD[projection.period]
    message = (
        f"{entity}: inbound supply of {inbound:,.0f} covers {covered:.0%} of the {demand:,.0f} "
        f"forecast demand over the next {h} {word}s{_lever(projection)}."
    )
    return Alert(
        "supply_shortfall",
        rating,
        message,
        {"inbound": inbound, "demand": demand, "covered_share": covered, "gap": gap},
    )


def quality_drift(
    *,
    entity: str,
    starts: pd.DatetimeIndex,
    forecast: Band,
    threshold: float,
    period: Period,
) -> Alert | None:
    """The forecast defect rate rises above `threshold` (share, e.g. 0.02 for 2 %)."""
    above = _first(forecast.mean > threshold)
    if above is None:
        return None
    confident = bool(forecast.lower[above] > threshold)
    h = len(starts)
    rating = severity(soon=above / h, much=(forecast.mean[above] - threshold) / threshold)
    if confident and rating != "critical":
        rating = SEVERITIES[SEVERITIES.index(rating) + 1]
    word = PERIOD_WORD[period]
    sure = " (even the interval's lower end is above it)" if confident else ""
    message = (
        f"{entity}: the defect rate is forecast at {forecast.mean[above]:.2%} in the {word} of "
        f"{starts[above].date()}, above the {threshold:.2%} threshold{sure}."
    )
    return Alert(
        "quality_drift",
        rating,
        message,
        {
            "date": str(starts[above].date()),
            "forecast_rate": float(forecast.mean[above]),
            "threshold": threshold,
            "confident": confident,
        },
    )


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if len(hits) else None


def _lever(projection: Projection) -> str:
    return f" (what-if: {projection.what_if.describe()})" if projection.what_if else ""
