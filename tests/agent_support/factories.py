"""Rows for agent tests, written straight to the store (the ingestion path has its own tests)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from opscopilot.store.engine import Database
from opscopilot.store.models import (
    InventorySnapshot,
    ItemSiteParams,
    ManufacturingItem,
    Observation,
)


async def add_item(
    db: Database,
    sku: str,
    *,
    name: str = "Part",
    site: str = "main",
    on_hand: float | None = None,
    allocated: float = 0.0,
    on_order: float = 0.0,
    daily_demand: float = 0.0,
    lead_time_days: float | None = None,
    safety_stock: float | None = None,
    description: str | None = None,
    supplier: str | None = None,
    today: date | None = None,
) -> uuid.UUID:
    today = today or datetime.now(UTC).date()
    async with db.transaction() as session:
        item = ManufacturingItem(
            sku=sku, name=name, description=description, supplier_name=supplier
        )
        session.add(item)
        await session.flush()
        if lead_time_days is not None or safety_stock is not None:
            session.add(
                ItemSiteParams(
                    item_id=item.id,
                    site=site,
                    lead_time_days=lead_time_days,
                    safety_stock=safety_stock,
                )
            )
        if on_hand is not None:
            session.add(
                InventorySnapshot(
                    item_id=item.id,
                    site=site,
                    location="default",
                    on_hand=on_hand,
                    allocated=allocated,
                    on_order=on_order,
                    as_of=datetime.combine(today, datetime.min.time(), tzinfo=UTC),
                )
            )
        if daily_demand:
            for back in range(90):
                day = today - timedelta(days=back)
                session.add(
                    Observation(
                        site=site,
                        item_id=item.id,
                        kind="demand",
                        obs_date=day,
                        value=daily_demand,
                        natural_key=f"t:{sku}:{day}",
                    )
                )
        return item.id
