"""Two plants' data for the site tests: the same item stocked, forecast and alerted at
`north` and at `south`, with numbers that tell the sites apart."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from opscopilot.store.engine import Database
from opscopilot.store.models import (
    Forecast,
    ForecastAlert,
    InventorySnapshot,
    ItemSiteParams,
    ManufacturingItem,
)

SKU = "PMP-300"
# Stock levels only one site has, so a leak shows up in any payload.
ON_HAND = {"north": 111.0, "south": 9876.0}


@dataclass(frozen=True)
class Plants:
    item_id: uuid.UUID
    alerts: dict[str, uuid.UUID]
    forecasts: dict[str, uuid.UUID]


async def seed_two_plants(db: Database) -> Plants:
    now = datetime.now(UTC)
    alerts: dict[str, uuid.UUID] = {}
    forecasts: dict[str, uuid.UUID] = {}
    async with db.transaction() as session:
        item = await session.scalar(select(ManufacturingItem).where(ManufacturingItem.sku == SKU))
        if item is None:
            item = ManufacturingItem(sku=SKU, name="Pump housing", supplier_name="Acme")
            session.add(item)
            await session.flush()
        for site, on_hand in ON_HAND.items():
            session.add(
                ItemSiteParams(
                    item_id=item.id, site=site, lead_time_days=7.0, safety_stock=on_hand / 10
                )
            )
            session.add(
                InventorySnapshot(
                    item_id=item.id, site=site, location=f"{site}-bin", on_hand=on_hand,
                    allocated=0.0, on_order=0.0, as_of=now,
                )
            )  # fmt: skip
            forecast = Forecast(
                site=site, entity_id=item.id, sku=SKU, forecast_type="demand",
                period="weekly", horizon=2, model=f"model-{site}", is_official=True,
                points=[{"date": now.date().isoformat(), "value": on_hand}],
                explanation=f"demand at {site}",
            )  # fmt: skip
            session.add(forecast)
            await session.flush()
            forecasts[site] = forecast.id
            alert = ForecastAlert(
                site=site, item_id=item.id, sku=SKU, forecast_id=forecast.id,
                alert_type="stockout", severity="high", message=f"{SKU} short at {site}",
                status="active",
            )  # fmt: skip
            session.add(alert)
            await session.flush()
            alerts[site] = alert.id
    return Plants(item_id=item.id, alerts=alerts, forecasts=forecasts)
