"""The KPI queries on hand-made rows with known answers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from opscopilot.store.engine import Database
from opscopilot.store.models import InventorySnapshot, Observation
from opscopilot.tools import kpis
from tests.agent_support.factories import add_item

TODAY = date(2025, 6, 30)


async def _snapshot(
    db: Database, item_id: object, location: str, on_hand: float, days_ago: int
) -> None:
    async with db.transaction() as s:
        s.add(
            InventorySnapshot(
                item_id=item_id,
                site="main",
                location=location,
                on_hand=on_hand,
                allocated=0.0,
                as_of=datetime.combine(
                    TODAY - timedelta(days=days_ago), datetime.min.time(), tzinfo=UTC
                ),
            )
        )


async def _obs(
    db: Database,
    item_id: object,
    kind: str,
    day: date,
    value: float,
    weight: float | None = None,
    party: str | None = None,
) -> None:
    async with db.transaction() as s:
        s.add(
            Observation(
                site="main",
                item_id=item_id,
                kind=kind,
                obs_date=day,
                value=value,
                weight=weight,
                counterparty=party,
                natural_key=f"{kind}:{item_id}:{day}:{value}:{party}",
            )
        )


async def test_days_of_cover_uses_the_latest_snapshot_of_each_location(clean_db: Database) -> None:
    item = await add_item(
        clean_db,
        "A-1",
        name="A",
        on_hand=100,
        allocated=10,
        daily_demand=3,
        lead_time_days=40,
        today=TODAY,
    )
    await _snapshot(clean_db, item, "default", 999, days_ago=5)  # older: ignored
    await _snapshot(clean_db, item, "LINE", 20, days_ago=1)
    async with clean_db.session() as s:
        out = await kpis.days_of_cover(s, site="main", today=TODAY, sku="A-1")
    (row,) = out["items"]
    assert row["available"] == 110.0  # (100 - 10) + 20
    assert row["avg_daily_demand"] == 3.0
    assert row["days_of_cover"] == round(110 / 3, 1)


async def test_stockout_risk_ranks_by_cover_and_grades_against_lead_time(
    clean_db: Database,
) -> None:
    await add_item(clean_db, "HIGH-1", on_hand=10, daily_demand=2, lead_time_days=20, today=TODAY)
    await add_item(clean_db, "MED-1", on_hand=30, daily_demand=2, lead_time_days=20, today=TODAY)
    await add_item(clean_db, "SAFE-1", on_hand=100, daily_demand=2, lead_time_days=20, today=TODAY)
    await add_item(clean_db, "IDLE-1", on_hand=5, lead_time_days=20, today=TODAY)
    await add_item(
        clean_db,
        "SS-1",
        on_hand=35,
        daily_demand=2,
        lead_time_days=20,
        safety_stock=40,
        today=TODAY,
    )
    async with clean_db.session() as s:
        out = await kpis.stockout_risk(s, site="main", today=TODAY)
    assert [(i["sku"], i["risk"]) for i in out["items"]] == [
        ("HIGH-1", "high"),  # 5 days < 20 / 2
        ("MED-1", "medium"),  # 15 days
        ("SS-1", "high"),  # 17.5 days, but at or under safety stock
    ]


async def test_scrap_rate_is_defects_over_inspected(clean_db: Database) -> None:
    a = await add_item(clean_db, "Q-1", today=TODAY)
    b = await add_item(clean_db, "Q-2", today=TODAY)
    await _obs(clean_db, a, "quality", TODAY - timedelta(days=3), 5, weight=100)
    await _obs(clean_db, a, "quality", TODAY - timedelta(days=10), 1, weight=100)
    await _obs(clean_db, b, "quality", TODAY - timedelta(days=3), 1, weight=200)
    await _obs(clean_db, b, "quality", TODAY - timedelta(days=200), 50, weight=50)  # too old
    async with clean_db.session() as s:
        site = await kpis.scrap_rate(s, site="main", today=TODAY)
        one = await kpis.scrap_rate(s, site="main", today=TODAY, sku="Q-2")
    assert site["rate_pct"] == round(100 * 7 / 400, 2)
    assert [w["sku"] for w in site["worst"]] == ["Q-1", "Q-2"]
    assert one["rate_pct"] == 0.5


async def test_supplier_on_time_counts_receipts_with_known_lateness(clean_db: Database) -> None:
    a = await add_item(clean_db, "S-1", today=TODAY)
    for n, late in enumerate((0, 0, 3, -1)):
        await _obs(
            clean_db,
            a,
            "supply",
            TODAY - timedelta(days=10 + n),
            10,
            weight=late,
            party="Acme Seals",
        )
    await _obs(
        clean_db, a, "supply", TODAY - timedelta(days=5), 10, weight=None, party="Acme Seals"
    )
    await _obs(clean_db, a, "supply", TODAY - timedelta(days=5), 11, weight=5, party="RollCo")
    async with clean_db.session() as s:
        all_ = await kpis.supplier_on_time(s, site="main", today=TODAY)
        acme = await kpis.supplier_on_time(s, site="main", today=TODAY, supplier="acme")
    assert all_["receipts"] == 5 and all_["rate_pct"] == 60.0
    (only,) = acme["suppliers"]
    assert only == {
        "supplier": "Acme Seals",
        "receipts": 4,
        "on_time": 3,
        "rate_pct": 75.0,
        "avg_days_late": 0.5,
    }
