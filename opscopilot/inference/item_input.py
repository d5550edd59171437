"""The anomaly detector's input for one item, built from its stored observations.

Demand is the sum per period (zero-filled by the series query); quality is the weighted
defect rate, sum(defects) / sum(inspected), and a period without inspections becomes a
null value (not observed), so the detector keeps the periods' positions.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.ingest.series import next_period, observation_series

ItemMetric = Literal["demand", "quality"]
SeriesPeriod = Literal["daily", "weekly", "monthly", "quarterly"]
SEASON = {"daily": 7, "weekly": 52, "monthly": 12, "quarterly": 4}
MAX_POINTS = 5000  # the detector's schema limit: the most recent periods are kept


def _label(start: date, period: str) -> str:
    if period == "monthly":
        return start.strftime("%Y-%m")
    if period == "weekly":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "quarterly":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    return start.isoformat()


async def anomaly_input(
    session: AsyncSession,
    *,
    sku: str,
    kind: ItemMetric = "demand",
    period: SeriesPeriod = "monthly",
    sites: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """`{"item", "series", "season_length", "metric"}` for the item; NotFoundError if the
    sku is unknown. An item without observations gives an empty series, which the
    detector answers with `insufficient_data`."""
    series = await observation_series(session, item=sku, kind=kind, period=period, sites=sites)
    values: dict[date, float | None] = {}
    for point in series.points:
        values[point.period_start] = point.rate if kind == "quality" else point.value
    points: list[dict[str, Any]] = []
    if values:
        cursor, last = min(values), max(values)
        while cursor <= last:
            points.append({"period": _label(cursor, period), "value": values.get(cursor)})
            cursor = next_period(cursor, period)
    return {
        "item": series.sku,
        "series": points[-MAX_POINTS:],
        "season_length": SEASON[period],
        "metric": "defect rate" if kind == "quality" else "demand",
    }
