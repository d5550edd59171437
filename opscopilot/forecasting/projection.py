"""Inventory projection per period, and what-if levers that re-project without storing.

    on_hand[t] = on_hand[t-1] + forecast supply[t] + scheduled receipts[t] - forecast demand[t]

starting from the latest snapshot. A second, pessimistic line uses the demand band's upper end
and the supply band's lower end, so rules can tell "will run out" from "could run out". On hand
may go negative: that is the backlog a stockout leaves, and its size matters to the alert.

Receipts are bucketed by due date into the forecast's periods; one already overdue counts in the
first period (it is expected any day), one due after the horizon is left out and noted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from opscopilot.forecasting.engine import SeriesForecast
from opscopilot.forecasting.errors import ForecastInputError
from opscopilot.forecasting.frames import Period, period_start


@dataclass(frozen=True)
class Band:
    """A forecast's point values and one interval, aligned to the projection's periods."""

    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    @classmethod
    def from_forecast(cls, forecast: SeriesForecast, *, level: int = 80) -> Band:
        return cls(forecast.mean, forecast.lower[level], forecast.upper[level])

    def scaled(self, factor: float) -> Band:
        return Band(self.mean * factor, self.lower * factor, self.upper * factor)


@dataclass(frozen=True)
class Receipt:
    due: pd.Timestamp
    quantity: float
    supplier: str | None = None


@dataclass(frozen=True)
class WhatIf:
    """Levers: suppliers late by some days (key "*" = every supplier), demand scaled."""

    supplier_delay_days: Mapping[str, int] = field(default_factory=dict)
    demand_factor: float = 1.0

    def describe(self) -> str:
        parts = [
            f"{'every supplier' if name == '*' else name} {days} days late"
            for name, days in self.supplier_delay_days.items()
        ]
        if self.demand_factor != 1.0:
            parts.append(f"demand {self.demand_factor - 1:+.0%}")
        return ", ".join(parts) or "no change"


@dataclass(frozen=True)
class Projection:
    starts: pd.DatetimeIndex
    period: Period
    opening: float
    demand: Band
    supply: np.ndarray
    supply_low: np.ndarray
    receipts: np.ndarray
    on_hand: np.ndarray
    on_hand_low: np.ndarray
    what_if: WhatIf | None = None
    notes: tuple[str, ...] = ()


def project_inventory(
    *,
    on_hand: float,
    starts: pd.DatetimeIndex,
    period: Period,
    demand: Band,
    supply: Band | None = None,
    receipts: Sequence[Receipt] = (),
    what_if: WhatIf | None = None,
) -> Projection:
    """Project on hand over the periods beginning at `starts` (see module doc)."""
    h = len(starts)
    if len(demand.mean) != h or (supply is not None and len(supply.mean) != h):
        raise ForecastInputError("demand, supply and period starts must have the same length")
    if what_if is not None and what_if.demand_factor < 0:
        raise ForecastInputError("a demand factor cannot be negative")
    if what_if is not None:
        demand = demand.scaled(what_if.demand_factor)
        receipts = [_delayed(r, what_if) for r in receipts]
    inbound = supply or Band(np.zeros(h), np.zeros(h), np.zeros(h))
    scheduled, notes = _bucket(receipts, pd.DatetimeIndex(starts), period)
    on_hand_line = on_hand + np.cumsum(inbound.mean + scheduled - demand.mean)
    low_line = on_hand + np.cumsum(inbound.lower + scheduled - demand.upper)
    return Projection(
        starts=pd.DatetimeIndex(starts),
        period=period,
        opening=float(on_hand),
        demand=demand,
        supply=np.asarray(inbound.mean, dtype=float),
        supply_low=np.asarray(inbound.lower, dtype=float),
        receipts=scheduled,
        on_hand=on_hand_line,
        on_hand_low=low_line,
        what_if=what_if,
        notes=tuple(notes),
    )


def _delayed(receipt: Receipt, what_if: WhatIf) -> Receipt:
    delays = what_if.supplier_delay_days
    days = delays.get(receipt.supplier or "", delays.get("*", 0))
    if not days:
        return receipt
    return Receipt(receipt.due + pd.Timedelta(days=days), receipt.quantity, receipt.supplier)


def _bucket(
    receipts: Sequence[Receipt], starts: pd.DatetimeIndex, period: Period
) -> tuple[np.ndarray, list[str]]:
    scheduled = np.zeros(len(starts))
    notes: list[str] = []
    if not receipts:
        return scheduled, notes
    position = {start: i for i, start in enumerate(starts)}
    later = 0.0
    for receipt in receipts:
        bucket = period_start(pd.DatetimeIndex([receipt.due]), period)[0]
        if bucket < starts[0]:
            scheduled[0] += receipt.quantity
            notes.append(f"receipt of {receipt.quantity:g} due {receipt.due.date()} is overdue")
        elif bucket in position:
            scheduled[position[bucket]] += receipt.quantity
        else:
            later += receipt.quantity
    if later:
        notes.append(f"{later:g} units of receipts fall after the horizon")
    return scheduled, notes
