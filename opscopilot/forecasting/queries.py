"""What a forecast reads from the store: the item and its site's planning parameters, its
series (through ingestion's series query), the latest stock count, scheduled receipts, and
the previous official forecast.

The series query aggregates per period in SQL; its periods are handed to frames.resample as
one row each (a quality period as its pooled rate weighted by the inspected count), so the
engine's rules (zero periods, no-inspection gaps, the gap of years, the running period) apply
exactly as to raw rows.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Row, Select, Uuid, bindparam, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.forecasting.evaluate import DEFAULT_DEFECT_THRESHOLD, StockParams
from opscopilot.forecasting.frames import (
    PANDAS_FREQ,
    PERIOD_DAYS,
    SERIES_KIND,
    Period,
    SeriesFrame,
    period_start,
    resample,
)
from opscopilot.forecasting.inventory import StockPosition
from opscopilot.forecasting.projection import Receipt
from opscopilot.ingest.items import find_item, get_inventory
from opscopilot.ingest.series import observation_series
from opscopilot.store.models import (
    Forecast,
    InventorySnapshot,
    ItemSiteParams,
    ManufacturingItem,
    Observation,
)


@dataclass(frozen=True)
class ItemFacts:
    """The item as forecasts and alerts need it, copied out of the ORM row."""

    id: uuid.UUID
    sku: str
    name: str
    uom: str
    category: str | None
    supplier: str | None
    site: str
    params: StockParams


async def item_facts(session: AsyncSession, *, entity_id: str, site: str) -> ItemFacts:
    """The item by sku or id (NotFoundError otherwise) with its planning parameters at `site`."""
    item = await find_item(session, item=entity_id)
    row = await session.scalar(
        select(ItemSiteParams).where(ItemSiteParams.item_id == item.id, ItemSiteParams.site == site)
    )
    threshold = (item.attributes or {}).get("max_defect_rate")
    params = StockParams(
        safety_stock=float(row.safety_stock or 0.0) if row else 0.0,
        lead_time_days=float(row.lead_time_days or 0.0) if row else 0.0,
        reorder_point=row.reorder_point if row else None,
        supplier=item.supplier_name,
        defect_threshold=(
            float(threshold) if isinstance(threshold, int | float) else DEFAULT_DEFECT_THRESHOLD
        ),
    )
    return ItemFacts(
        id=item.id,
        sku=item.sku,
        name=item.name,
        uom=item.uom,
        category=item.category,
        supplier=item.supplier_name,
        site=site,
        params=params,
    )


def window_start(as_of: date, period: Period, lookback_days: int | None) -> date | None:
    """First day of the complete periods that `lookback_days` covers up to `as_of`.

    365 days of monthly history are the last 12 complete months, not 13 partial ones.
    """
    if lookback_days is None:
        return None
    count = max(1, round(lookback_days / PERIOD_DAYS[period]))
    current = period_start(pd.DatetimeIndex([as_of]), period)[0]
    grid = pd.date_range(end=current, periods=count + 1, freq=PANDAS_FREQ[period])
    return date.fromisoformat(str(grid[0].date()))


async def series_frame(
    session: AsyncSession,
    *,
    item: ItemFacts,
    kind: str,
    period: Period,
    as_of: date,
    lookback_days: int | None,
) -> SeriesFrame:
    """The item's demand, supply or quality series at its site, resampled up to `as_of`."""
    start = window_start(as_of, period, lookback_days)
    series = await observation_series(
        session,
        item=str(item.id),
        kind=kind,  # type: ignore[arg-type]
        period=period,
        sites=(item.site,),
        start=start,
        end=as_of,
    )
    rows = pd.DataFrame(
        [
            {
                "date": p.period_start,
                "value": p.rate if kind == "quality" else p.value,
                "weight": p.weight if kind == "quality" else 1.0,
            }
            for p in series.points
            if p.count > 0  # periods the query zero-filled stay missing until resample
        ],
        columns=["date", "value", "weight"],
    )
    return resample(rows, period=period, kind=SERIES_KIND[kind], as_of=pd.Timestamp(as_of))


async def stock_history(
    session: AsyncSession, *, item: ItemFacts, period: Period, as_of: date
) -> list[dict[str, Any]]:
    """Counted stock per period (last count per location), for the inventory chart."""
    series = await observation_series(
        session, item=str(item.id), kind="inventory", period=period, sites=(item.site,), end=as_of
    )
    return [{"ds": p.period_start.isoformat(), "y": p.value} for p in series.points]


async def stock_position(
    session: AsyncSession, *, item: ItemFacts, as_of: date
) -> StockPosition | None:
    """Latest on hand at the site, with open orders and future-dated receipts as scheduled.

    Open orders (`on_order`) are due one lead time after the count, from the item's supplier;
    receipts dated after `as_of` are due on their date, from their counterparty.
    """
    inventory = await get_inventory(session, item=str(item.id), sites=(item.site,), history=0)
    if not inventory.locations:
        return None
    counted = max(s.as_of for s in inventory.locations)
    receipts: list[Receipt] = []
    if inventory.on_order > 0:
        due = counted + timedelta(days=item.params.lead_time_days)
        receipts.append(Receipt(pd.Timestamp(due.date()), float(inventory.on_order), item.supplier))
    future = await session.execute(
        select(Observation.obs_date, Observation.value, Observation.counterparty).where(
            Observation.item_id == item.id,
            Observation.site == item.site,
            Observation.kind == "supply",
            Observation.obs_date > as_of,
        )
    )
    receipts.extend(Receipt(pd.Timestamp(d), float(v), c) for d, v, c in future.all())
    return StockPosition(inventory.on_hand, counted.date(), tuple(receipts))


async def latest_forecast(
    session: AsyncSession,
    *,
    item_id: uuid.UUID,
    site: str,
    forecast_type: str,
    period: str | None,
) -> Forecast | None:
    """The latest official forecast of the entity (of the period, when given)."""
    stmt = select(Forecast).where(
        Forecast.entity_id == item_id,
        Forecast.site == site,
        Forecast.forecast_type == forecast_type,
        Forecast.is_official.is_(True),
    )
    if period is not None:
        stmt = stmt.where(Forecast.period == period)
    return await session.scalar(stmt.order_by(Forecast.created_at.desc()).limit(1))


async def latest_forecast_by_sku(
    session: AsyncSession,
    *,
    entity_id: str,
    site: str,
    forecast_type: str,
    period: str | None,
) -> tuple[str | None, Row[Any] | None]:
    """The item's sku and its latest official forecast's columns in one statement (a read
    on every forecast question): (None, None) without such an item, (sku, None) without
    such a forecast. The item is found by sku, else by id, as `find_item` does."""
    try:
        item_id: uuid.UUID | None = uuid.UUID(entity_id)
    except ValueError:
        item_id = None
    params = {"entity": entity_id, "item_id": item_id, "site": site, "type": forecast_type}
    if period is not None:
        params["period"] = period
    stmt = _latest_by_sku_statement(with_period=period is not None)
    row = (await session.execute(stmt, params)).first()
    if row is None:
        return None, None
    return row.item_sku, (row if row.id is not None else None)


@functools.cache
def _latest_by_sku_statement(*, with_period: bool) -> Select[Any]:
    # Built once: composing this statement costs more CPU than running it.
    by_sku = ManufacturingItem.sku == bindparam("entity")
    item = (
        select(ManufacturingItem.id, ManufacturingItem.sku.label("item_sku"))
        .where(or_(by_sku, ManufacturingItem.id == bindparam("item_id", type_=Uuid)))
        .order_by(by_sku.desc())
        .limit(1)
        .subquery("item")
    )
    latest = select(*Forecast.__table__.columns).where(
        Forecast.entity_id == item.c.id,
        Forecast.site == bindparam("site"),
        Forecast.forecast_type == bindparam("type"),
        Forecast.is_official.is_(True),
    )
    if with_period:
        latest = latest.where(Forecast.period == bindparam("period"))
    found = latest.order_by(Forecast.created_at.desc()).limit(1).lateral("latest")
    return select(item.c.item_sku, found).select_from(item.outerjoin(found, true()))


async def items_to_forecast(session: AsyncSession, *, forecast_type: str, site: str) -> list[str]:
    """Ids of the items with something to forecast at the site, by sku."""
    if forecast_type == "inventory":
        having = select(InventorySnapshot.item_id).where(InventorySnapshot.site == site)
    else:
        having = select(Observation.item_id).where(
            Observation.site == site, Observation.kind == forecast_type
        )
    rows = await session.scalars(
        select(ManufacturingItem.id)
        .where(ManufacturingItem.id.in_(having.distinct()))
        .order_by(ManufacturingItem.sku)
    )
    return [str(i) for i in rows.all()]


async def sites_with_data(session: AsyncSession) -> list[str]:
    rows = await session.scalars(select(func.distinct(Observation.site)).order_by(Observation.site))
    return list(rows.all())
