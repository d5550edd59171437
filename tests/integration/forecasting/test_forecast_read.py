"""Reading the latest forecast (every forecast question, REST or chat) is one statement:
the item by sku or id and its latest official forecast of the type, site and period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from opscopilot.access.roles import Principal
from opscopilot.core.errors import NotFoundError
from opscopilot.core.settings import Settings
from opscopilot.forecasting.service import forecast_chart, get_latest_forecast
from opscopilot.store.engine import Database
from opscopilot.store.models import Forecast, ManufacturingItem

VIEWER = Principal(user_id=None, external_id="vera", role="viewer")
T0 = datetime(2025, 6, 1, tzinfo=UTC)


async def test_the_latest_official_forecast_comes_in_one_statement(
    clean_db: Database, settings: Settings
) -> None:
    async with clean_db.sessions() as session:
        item = ManufacturingItem(sku="GSK-7", name="Gasket 7")
        other = ManufacturingItem(sku="VLV-1", name="Valve 1")
        session.add_all([item, other])
        await session.flush()

        def forecast(model: str, *, hours: int, period: str = "monthly", **kw: object) -> Forecast:
            return Forecast(
                entity_id=kw.pop("entity_id", item.id), sku=str(kw.pop("sku", "GSK-7")),
                forecast_type="demand", period=period, horizon=3, model=model,
                points=[{"ds": "2025-07-01", "yhat": 1.0}], history=[],
                created_at=T0 + timedelta(hours=hours), **kw,
            )  # fmt: skip

        session.add_all([
            forecast("old", hours=0),
            forecast("newest-official", hours=2),
            forecast("what-if", hours=3, is_official=False),
            forecast("weekly", hours=1, period="weekly"),
            forecast("north", hours=4, site="north"),
            forecast("other-item", hours=5, entity_id=other.id, sku="VLV-1"),
        ])  # fmt: skip
        await session.commit()

    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(clean_db.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with clean_db.reads() as session:
            latest = await get_latest_forecast(
                session, entity_id="GSK-7", forecast_type="demand", principal=VIEWER,
                settings=settings,
            )  # fmt: skip
            by_id = await get_latest_forecast(
                session, entity_id=str(item.id), forecast_type="demand", principal=VIEWER,
                settings=settings, period="weekly",
            )  # fmt: skip
    finally:
        event.remove(clean_db.engine.sync_engine, "before_cursor_execute", count)
    assert len(statements) == 2, statements  # one per read
    assert (latest.model, latest.entity_id, latest.item_id) == ("newest-official", "GSK-7", item.id)
    assert latest.points == [{"ds": "2025-07-01", "yhat": 1.0}] and latest.site == "main"
    assert latest.chart_url == "/api/v1/forecasts/GSK-7/demand/chart.png?period=monthly&site=main"
    assert (by_id.model, by_id.period) == ("weekly", "weekly")
    async with clean_db.reads() as session:  # the chart draws the same row
        png = await forecast_chart(
            session, entity_id="GSK-7", forecast_type="demand", principal=VIEWER,
            settings=settings,
        )  # fmt: skip
    assert png.startswith(b"\x89PNG")

    async with clean_db.reads() as session:
        with pytest.raises(NotFoundError, match="no item with sku or id 'NOPE'"):
            await get_latest_forecast(
                session, entity_id="NOPE", forecast_type="demand", principal=VIEWER,
                settings=settings,
            )  # fmt: skip
        with pytest.raises(NotFoundError, match="no supply forecast of VLV-1 at site main"):
            await get_latest_forecast(
                session, entity_id="VLV-1", forecast_type="supply", principal=VIEWER,
                settings=settings,
            )  # fmt: skip
