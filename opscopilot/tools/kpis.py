"""Manufacturing KPIs as fixed, parameterised queries over observations and inventory.

The model picks a KPI and its parameters (site, sku, window); it never writes SQL. Each
function takes a session and keyword arguments and returns plain dicts, so the REST API
can serve the same numbers.

Definitions:
- available = on hand - allocated, summed over the latest snapshot of each location;
- average daily demand = demand observations in the window / window days (zeros count);
- days of cover = available / average daily demand (None when there is no demand);
- stockout risk: days of cover below the item's lead time at the site ("high" when below
  half of it, or when available is at or under safety stock), ranked by days of cover;
- scrap rate = defects / inspected over quality observations (value / weight);
- supplier on-time rate: receipts whose lateness is known (a supply observation's
  weight holds days late; negative is early) and at most `tolerance_days` late.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import Subquery, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.store.models import (
    InventorySnapshot,
    ItemSiteParams,
    ManufacturingItem,
    Observation,
)

DEFAULT_WINDOW_DAYS = 90


def _latest_snapshots(site: str) -> Subquery:
    """One row per item and location: its most recent snapshot."""
    return (
        select(
            InventorySnapshot.item_id,
            InventorySnapshot.location,
            InventorySnapshot.on_hand,
            InventorySnapshot.allocated,
            InventorySnapshot.on_order,
            InventorySnapshot.as_of,
        )
        .where(InventorySnapshot.site == site)
        .distinct(InventorySnapshot.item_id, InventorySnapshot.location)
        .order_by(
            InventorySnapshot.item_id,
            InventorySnapshot.location,
            InventorySnapshot.as_of.desc(),
        )
        .subquery()
    )


async def _cover_rows(
    session: AsyncSession, *, site: str, today: date, window_days: int, sku: str | None
) -> list[dict[str, Any]]:
    latest = _latest_snapshots(site)
    stock = (
        select(
            latest.c.item_id,
            func.sum(latest.c.on_hand - latest.c.allocated).label("available"),
            func.sum(latest.c.on_order).label("on_order"),
            func.max(latest.c.as_of).label("as_of"),
        )
        .group_by(latest.c.item_id)
        .subquery()
    )
    since = today - timedelta(days=window_days)
    demand = (
        select(Observation.item_id, func.sum(Observation.value).label("qty"))
        .where(
            Observation.site == site,
            Observation.kind == "demand",
            Observation.obs_date > since,
            Observation.obs_date <= today,
        )
        .group_by(Observation.item_id)
        .subquery()
    )
    query = (
        select(
            ManufacturingItem.sku,
            ManufacturingItem.name,
            stock.c.available,
            stock.c.on_order,
            stock.c.as_of,
            func.coalesce(demand.c.qty, 0.0).label("demand"),
            ItemSiteParams.lead_time_days,
            ItemSiteParams.safety_stock,
        )
        .join(stock, stock.c.item_id == ManufacturingItem.id)
        .outerjoin(demand, demand.c.item_id == ManufacturingItem.id)
        .outerjoin(
            ItemSiteParams,
            and_(ItemSiteParams.item_id == ManufacturingItem.id, ItemSiteParams.site == site),
        )
        .order_by(ManufacturingItem.sku)
    )
    if sku is not None:
        query = query.where(ManufacturingItem.sku == sku)
    rows = await session.execute(query)
    out: list[dict[str, Any]] = []
    for r in rows.mappings():
        daily = float(r["demand"]) / window_days
        available = float(r["available"] or 0.0)
        out.append(
            {
                "sku": r["sku"],
                "name": r["name"],
                "available": round(available, 2),
                "on_order": round(float(r["on_order"] or 0.0), 2),
                "as_of": r["as_of"].date().isoformat() if r["as_of"] else None,
                "avg_daily_demand": round(daily, 3),
                "days_of_cover": round(available / daily, 1) if daily > 0 else None,
                "lead_time_days": r["lead_time_days"],
                "safety_stock": r["safety_stock"],
            }
        )
    return out


async def days_of_cover(
    session: AsyncSession,
    *,
    site: str,
    today: date,
    sku: str | None = None,
    window_days: int = DEFAULT_WINDOW_DAYS,
) -> dict[str, Any]:
    rows = await _cover_rows(session, site=site, today=today, window_days=window_days, sku=sku)
    return {"site": site, "window_days": window_days, "items": rows}


async def stockout_risk(
    session: AsyncSession,
    *,
    site: str,
    today: date,
    window_days: int = DEFAULT_WINDOW_DAYS,
    limit: int = 10,
) -> dict[str, Any]:
    rows = await _cover_rows(session, site=site, today=today, window_days=window_days, sku=None)
    at_risk: list[dict[str, Any]] = []
    for row in rows:
        cover, lead = row["days_of_cover"], row["lead_time_days"]
        if cover is None or lead is None or cover >= lead:
            continue
        safety = row["safety_stock"]
        high = cover < lead / 2 or (safety is not None and row["available"] <= safety)
        at_risk.append({**row, "risk": "high" if high else "medium"})
    at_risk.sort(key=lambda r: (r["days_of_cover"], r["sku"]))
    return {
        "site": site,
        "window_days": window_days,
        "count": len(at_risk),
        "items": at_risk[:limit],
    }


async def scrap_rate(
    session: AsyncSession,
    *,
    site: str,
    today: date,
    sku: str | None = None,
    days: int = DEFAULT_WINDOW_DAYS,
    limit: int = 5,
) -> dict[str, Any]:
    since = today - timedelta(days=days)
    query = (
        select(
            ManufacturingItem.sku,
            func.sum(Observation.value).label("defects"),
            func.sum(Observation.weight).label("inspected"),
        )
        .join(ManufacturingItem, ManufacturingItem.id == Observation.item_id)
        .where(
            Observation.site == site,
            Observation.kind == "quality",
            Observation.weight.is_not(None),
            Observation.obs_date > since,
            Observation.obs_date <= today,
        )
        .group_by(ManufacturingItem.sku)
    )
    if sku is not None:
        query = query.where(ManufacturingItem.sku == sku)
    per_item = []
    for r in (await session.execute(query)).mappings():
        inspected = float(r["inspected"] or 0.0)
        defects = float(r["defects"] or 0.0)
        per_item.append(
            {
                "sku": r["sku"],
                "defects": defects,
                "inspected": inspected,
                "rate_pct": round(100 * defects / inspected, 2) if inspected else None,
            }
        )
    defects = sum(r["defects"] for r in per_item)
    inspected = sum(r["inspected"] for r in per_item)
    per_item.sort(key=lambda r: (-(r["rate_pct"] or 0.0), r["sku"]))
    return {
        "site": site,
        "sku": sku,
        "days": days,
        "defects": defects,
        "inspected": inspected,
        "rate_pct": round(100 * defects / inspected, 2) if inspected else None,
        "worst": per_item[:limit],
    }


async def supplier_on_time(
    session: AsyncSession,
    *,
    site: str,
    today: date,
    supplier: str | None = None,
    days: int = 180,
    tolerance_days: float = 0.0,
) -> dict[str, Any]:
    since = today - timedelta(days=days)
    on_time = func.count().filter(Observation.weight <= tolerance_days)
    query = (
        select(
            Observation.counterparty,
            func.count().label("receipts"),
            on_time.label("on_time"),
            func.avg(Observation.weight).label("avg_days_late"),
        )
        .where(
            Observation.site == site,
            Observation.kind == "supply",
            Observation.weight.is_not(None),
            Observation.counterparty.is_not(None),
            Observation.obs_date > since,
            Observation.obs_date <= today,
        )
        .group_by(Observation.counterparty)
        .order_by(Observation.counterparty)
    )
    if supplier is not None:
        query = query.where(func.lower(Observation.counterparty).contains(supplier.lower()))
    suppliers = [
        {
            "supplier": r["counterparty"],
            "receipts": int(r["receipts"]),
            "on_time": int(r["on_time"]),
            "rate_pct": round(100 * r["on_time"] / r["receipts"], 1),
            "avg_days_late": round(float(r["avg_days_late"]), 1),
        }
        for r in (await session.execute(query)).mappings()
    ]
    total = sum(s["receipts"] for s in suppliers)
    hits = sum(s["on_time"] for s in suppliers)
    return {
        "site": site,
        "days": days,
        "tolerance_days": tolerance_days,
        "receipts": total,
        "rate_pct": round(100 * hits / total, 1) if total else None,
        "suppliers": suppliers,
    }
