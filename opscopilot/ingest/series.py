"""Observation series of one item by period: what forecasting and the agent read.

Demand and supply are sums (a period with no sales is a zero between the first and last
period); quality is the weighted defect rate, sum(defects) / sum(inspected), and a period
without inspections is missing, not zero; inventory is the last reading per location in
the period, summed over locations.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.ingest.items import find_item
from opscopilot.ingest.schemas import Period, SeriesKind, SeriesPoint, SeriesRead

_TRUNC = {"daily": "day", "weekly": "week", "monthly": "month", "quarterly": "quarter"}


def next_period(start: date, period: str) -> date:
    if period == "daily":
        return start + timedelta(days=1)
    if period == "weekly":
        return start + timedelta(days=7)
    months = 1 if period == "monthly" else 3
    month = start.month - 1 + months
    return date(start.year + month // 12, month % 12 + 1, 1)


def period_start(day: date, period: str) -> date:
    if period == "daily":
        return day
    if period == "weekly":
        return day - timedelta(days=day.weekday())
    if period == "monthly":
        return day.replace(day=1)
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def fill_zeros(
    points: list[SeriesPoint], period: str, start: date | None, end: date | None
) -> list[SeriesPoint]:
    """Sums over periods with no facts are zero, from the first period to the last."""
    if not points and (start is None or end is None):
        return points
    first = period_start(start, period) if start else points[0].period_start
    last = period_start(end, period) if end else points[-1].period_start
    by_start = {p.period_start: p for p in points}
    out, cursor = [], first
    while cursor <= last:
        out.append(by_start.get(cursor) or SeriesPoint(period_start=cursor, value=0.0, count=0))
        cursor = next_period(cursor, period)
    return out


async def observation_series(
    session: AsyncSession,
    *,
    item: str,
    kind: SeriesKind,
    period: Period = "monthly",
    sites: tuple[str, ...] | None,
    start: date | None = None,
    end: date | None = None,
) -> SeriesRead:
    found = await find_item(session, item=item)
    where = ["item_id = :item", "kind = :kind"]
    params: dict[str, Any] = {"item": found.id, "kind": kind, "unit": _TRUNC[period]}
    if sites is not None:
        where.append("site = ANY(:sites)")
        params["sites"] = list(sites)
    if start is not None:
        where.append("obs_date >= :start")
        params["start"] = start
    if end is not None:
        where.append("obs_date <= :end")
        params["end"] = end
    cond = " AND ".join(where)
    bucket = "date_trunc(:unit, obs_date)::date"
    if kind == "inventory":
        sql = (
            f"SELECT p, sum(value) AS value, NULL::float8 AS weight, count(*) AS n FROM ("
            f"SELECT DISTINCT ON ({bucket}, site, counterparty) {bucket} AS p, value "
            f"FROM observations WHERE {cond} "
            f"ORDER BY {bucket}, site, counterparty, obs_date DESC) t GROUP BY p ORDER BY p"
        )
    else:
        sql = (
            f"SELECT {bucket} AS p, sum(value) AS value, sum(weight) AS weight, count(*) AS n "
            f"FROM observations WHERE {cond} GROUP BY p ORDER BY p"
        )
    rows = (await session.execute(text(sql), params)).all()
    points: list[SeriesPoint] = []
    for row in rows:
        if kind == "quality":
            if not row.weight:
                continue  # nothing inspected: no rate, not a zero rate
            points.append(SeriesPoint(period_start=row.p, value=row.value, weight=row.weight,
                                      rate=row.value / row.weight, count=row.n))  # fmt: skip
        else:
            points.append(SeriesPoint(period_start=row.p, value=row.value, count=row.n))
    if kind in ("demand", "supply"):
        points = fill_zeros(points, period, start, end)
    return SeriesRead(sku=found.sku, item_id=found.id, kind=kind, period=period,
                      sites=list(sites) if sites is not None else None, points=points)  # fmt: skip
