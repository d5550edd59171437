"""The inventory forecast: projected on hand from the latest count, forecast supply, scheduled
receipts and forecast demand (projection.py), with its bounds and explanation (pure).

Bounds per level L: the low line takes demand's upper and supply's lower L-interval ends,
the high line the other two. Summing per-period interval ends over the horizon makes both
lines wider than an exact interval of the sum would be: deliberately cautious for a stockout
check. Quantities are stock, so the explanation quotes them as whole units; like explain.py it
records every number it prints, and the demand forecast's own explanation follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from opscopilot.forecasting import ENGINE_VERSION
from opscopilot.forecasting.engine import SeriesForecast
from opscopilot.forecasting.explain import PERIOD_WORD, PreviousForecast, engine_change
from opscopilot.forecasting.pipeline import Computed, points
from opscopilot.forecasting.projection import (
    Band,
    Projection,
    Receipt,
    WhatIf,
    project_inventory,
)

Number = float | int | str


@dataclass(frozen=True)
class StockPosition:
    on_hand: float
    counted_on: date | None
    receipts: tuple[Receipt, ...] = ()


@dataclass(frozen=True)
class InventoryForecast:
    projection: Projection
    low: dict[int, np.ndarray]
    high: dict[int, np.ndarray]
    demand: Computed
    supply: Computed | None
    text: str
    numbers: dict[str, Number]
    shown: dict[str, str]
    notes: tuple[str, ...]

    @property
    def points(self) -> list[dict[str, object]]:
        return points(self.projection.starts, self.projection.on_hand, self.low, self.high)

    @property
    def components(self) -> dict[str, object]:
        return {
            **self.numbers,
            "engine_version": ENGINE_VERSION,
            "demand_model": self.demand.forecast.model,
            "supply_model": self.supply.forecast.model if self.supply else None,
            "what_if": self.projection.what_if.describe() if self.projection.what_if else None,
            "notes": list(self.notes),
        }


def _band(forecast: SeriesForecast, level: int, *, flipped: bool = False) -> Band:
    band = Band.from_forecast(forecast, level=level)
    return Band(band.mean, band.upper, band.lower) if flipped else band


def project(
    demand: Computed,
    supply: Computed | None,
    *,
    position: StockPosition,
    what_if: WhatIf | None = None,
    previous: PreviousForecast | None = None,
) -> InventoryForecast:
    """Project on hand over the demand forecast's periods (see module doc)."""
    notes = list(demand.notes)
    if supply is not None and not supply.starts.equals(demand.starts):
        notes.append("supply forecast covers other periods than demand: left out")
        supply = None
    if supply is not None:
        notes.extend(f"supply: {note}" for note in supply.notes)
    levels = demand.levels

    def run(level: int, flipped: bool) -> Projection:
        return project_inventory(
            on_hand=position.on_hand,
            starts=demand.starts,
            period=demand.config.period,
            demand=_band(demand.forecast, level, flipped=flipped),
            supply=_band(supply.forecast, level, flipped=flipped) if supply else None,
            receipts=position.receipts,
            what_if=what_if,
        )

    main = run(min(levels), False)
    low = {level: run(level, False).on_hand_low for level in levels}
    high = {level: run(level, True).on_hand_low for level in levels}
    notes.extend(main.notes)
    if position.counted_on is not None and pd.Timestamp(position.counted_on) < demand.starts[0]:
        notes.append(
            f"stock counted on {position.counted_on.isoformat()}, before the first forecast "
            f"period ({demand.starts[0].date().isoformat()}): movements since are not in it"
        )
    text, numbers, shown = _explain(main, demand, position, previous)
    return InventoryForecast(
        projection=main,
        low=low,
        high=high,
        demand=demand,
        supply=supply,
        text=text,
        numbers=numbers,
        shown=shown,
        notes=tuple(notes),
    )


def _qty(value: float) -> str:
    return f"{value:,.0f}"


def _explain(
    projection: Projection,
    demand: Computed,
    position: StockPosition,
    previous: PreviousForecast | None,
) -> tuple[str, dict[str, Number], dict[str, str]]:
    on_hand = projection.on_hand
    lowest = int(np.argmin(on_hand))
    numbers: dict[str, Number] = {
        "opening": projection.opening,
        "horizon": len(projection.starts),
        "supply_total": float(np.sum(projection.supply)),
        "receipts_total": float(np.sum(projection.receipts)),
        "demand_total": float(np.sum(projection.demand.mean)),
        "closing": float(on_hand[-1]),
        "lowest": float(on_hand[lowest]),
        "lowest_period": projection.starts[lowest].date().isoformat(),
    }
    if position.counted_on is not None:
        numbers["counted_on"] = position.counted_on.isoformat()
    if projection.what_if is not None:
        numbers["what_if"] = projection.what_if.describe()
    numbers.update(_change(projection, previous))
    numbers.update(engine_change(previous))
    shown: dict[str, str] = {}

    def w(key: str) -> str:
        value = numbers[key]
        text = value if isinstance(value, str) else (
            str(value) if key in ("horizon", "overlap_periods") else _qty(float(value))
        )  # fmt: skip
        shown[key] = text
        return text

    word = PERIOD_WORD[projection.period]
    counted = f" (counted {w('counted_on')})" if "counted_on" in numbers else ""
    sentences = [
        f"Stock starts from {w('opening')} on hand{counted}.",
        f"Over the next {w('horizon')} {word}s, {w('supply_total')} of forecast supply and "
        f"{w('receipts_total')} of scheduled receipts come in against {w('demand_total')} of "
        f"forecast demand, leaving {w('closing')} at the end; the lowest point is "
        f"{w('lowest')} in the {word} of {w('lowest_period')}.",
    ]
    if "previous_on_hand" in numbers:
        sentences.append(
            f"Over the {w('overlap_periods')} {word}s it shares with the previous projection, "
            f"stock averages {w('new_on_hand')} against {w('previous_on_hand')} before."
        )
    if "previous_engine_version" in numbers:
        sentences.append(
            f"The forecasting engine changed from version {w('previous_engine_version')} to "
            f"{w('engine_version')} since the previous projection."
        )
    if "what_if" in numbers:
        sentences.append(f"What-if: {w('what_if')}.")
    sentences.append(f"Demand: {demand.explanation.text}")
    for key, value in demand.explanation.numbers.items():
        numbers[f"demand.{key}"] = value
    for key, text in demand.explanation.shown.items():
        shown[f"demand.{key}"] = text
    return " ".join(sentences), numbers, shown


def _change(projection: Projection, previous: PreviousForecast | None) -> dict[str, Number]:
    if previous is None:
        return {}
    now = pd.Series(projection.on_hand, index=projection.starts)
    before = pd.Series(np.asarray(previous.mean, dtype=float), index=previous.starts)
    common = now.index.intersection(before.index)
    if len(common) == 0:
        return {}
    return {
        "overlap_periods": len(common),
        "previous_on_hand": float(before[common].mean()),
        "new_on_hand": float(now[common].mean()),
    }
