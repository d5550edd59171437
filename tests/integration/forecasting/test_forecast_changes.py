"""The biggest forecast changes at a site: each item's latest official forecast against the
previous official one of the same item, type and period, over the periods both cover."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from opscopilot.access.roles import Principal
from opscopilot.core.errors import PermissionDenied
from opscopilot.forecasting.changes import forecast_changes
from opscopilot.store.engine import Database
from opscopilot.store.models import Forecast, ManufacturingItem

T0 = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)
ANYONE = Principal(user_id=None, external_id="vera", role="viewer")
MAIN_ONLY = Principal(user_id=None, external_id="mo", role="viewer", sites=("main",))


def points(start_month: int, values: list[float]) -> list[dict[str, object]]:
    return [{"ds": f"2026-{start_month + i:02d}-01", "yhat": v} for i, v in enumerate(values)]


async def _store(db: Database) -> None:
    async with db.sessions() as session:
        ids = {sku: uuid.uuid4() for sku in ("GSK-7", "VLV-1", "PIN-3", "BRG-2", "OLD-1")}
        session.add_all(ManufacturingItem(id=i, sku=s, name=s) for s, i in ids.items())
        await session.flush()

        def forecast(
            sku: str, hours: float, values: list[float], *, start: int = 4, **kw: object
        ) -> Forecast:
            return Forecast(
                entity_id=ids[sku], sku=sku, forecast_type=kw.pop("forecast_type", "demand"),
                period=kw.pop("period", "monthly"), horizon=len(values), model="ets",
                points=points(start, values), history=[],
                created_at=T0 + timedelta(hours=hours), **kw,
            )  # fmt: skip

        session.add_all([
            # Common periods May and June: 200 before, 260 after (+30 %); April and July
            # are each in one forecast only.
            forecast("GSK-7", -30, [100, 100, 100]),
            forecast("GSK-7", 2, [130, 130, 50], start=5),
            forecast("GSK-7", 3, [900, 900, 900], start=5, is_official=False),  # a what-if
            forecast("GSK-7", 1, [5, 5], period="weekly"),  # no earlier weekly forecast
            forecast("VLV-1", -50, [10, 10]),
            forecast("VLV-1", -20, [50, 50]),  # the previous one of VLV-1
            forecast("VLV-1", 1, [40, 40]),  # 100 -> 80: -20 %
            forecast("PIN-3", 1, [10, 10]),  # first forecast: nothing to compare
            forecast("BRG-2", -10, [10, 10], site="north"),
            forecast("BRG-2", 1, [20, 20], site="north"),  # +100 %, but at north
            forecast("OLD-1", -40, [10, 10]),
            forecast("OLD-1", -30, [99, 99]),  # changed, but before `since`
        ])  # fmt: skip
        await session.commit()


async def test_the_latest_forecasts_that_moved_most_come_first(clean_db: Database) -> None:
    await _store(clean_db)
    async with clean_db.sessions() as session:
        found = await forecast_changes(session, principal=ANYONE, site="main", since=T0)
        top = await forecast_changes(session, principal=ANYONE, site="main", since=T0, limit=1)
        north = await forecast_changes(session, principal=ANYONE, site="north", since=T0)
        supply = await forecast_changes(
            session, principal=ANYONE, site="main", since=T0, forecast_type="supply"
        )
    assert [(c.sku, c.period, c.periods, c.before, c.after, round(c.change_pct, 6))
            for c in found] == [("GSK-7", "monthly", 2, 200.0, 260.0, 30.0),
                                ("VLV-1", "monthly", 2, 100.0, 80.0, -20.0)]  # fmt: skip
    assert found[0].created_at == T0 + timedelta(hours=2)
    assert found[0].previous_created_at == T0 - timedelta(hours=30)
    assert [c.sku for c in top] == ["GSK-7"]
    assert [(c.sku, c.change_pct) for c in north] == [("BRG-2", 100.0)]
    assert supply == []


async def test_a_site_outside_the_principals_sites_is_refused(clean_db: Database) -> None:
    await _store(clean_db)
    async with clean_db.sessions() as session:
        assert [c.sku for c in await forecast_changes(
            session, principal=MAIN_ONLY, site="main", since=T0)] == ["GSK-7", "VLV-1"]  # fmt: skip
        with pytest.raises(PermissionDenied):
            await forecast_changes(session, principal=MAIN_ONLY, site="north", since=T0)
