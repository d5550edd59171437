"""Alerts from forecasts: one open alert per item and type, updated rather than repeated, an
alert.raised event only when new or worse (in the forecast's transaction), and the actions
people take on them (who acted, audited), through the API."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from opscopilot.access.roles import SYSTEM
from opscopilot.core.settings import Settings
from opscopilot.forecasting.schemas import ForecastCreate, ForecastRead
from opscopilot.forecasting.service import create_forecast
from opscopilot.notify.events import AlertRaised
from opscopilot.notify.templates import TYPE_SAMPLES
from opscopilot.store.engine import Database
from opscopilot.store.models import AuditEvent, Forecast, ForecastAlert, OutboxEvent
from tests.integration.forecasting.conftest import (
    assert_quotes_only_stored_numbers,
    count,
    events,
    ingest,
    item,
    sales,
    weeks_before,
)

WEEK = date(2025, 6, 11)  # a Wednesday: the week it falls in is still running


async def stock_item(db: Database, settings: Settings, sku: str, *, site: str = "main") -> None:
    """100 a week for 30 weeks; lead time four weeks, safety stock 100."""
    await item(db, settings, sku, site=site, lead_time_days=28, safety_stock=100, reorder_point=500)
    days = weeks_before(WEEK, 30)
    await ingest(db, settings, site=site, sales=sales(sku, days, [100.0] * 30, prefix=site))


async def count_stock(db: Database, settings: Settings, sku: str, on_hand: float,
                      *, site: str = "main", day: int = 11) -> None:  # fmt: skip
    await ingest(db, settings, site=site, inventory=[
        {"sku": sku, "on_hand": on_hand, "as_of": f"2025-06-{day:02d}T08:00:00+00:00"}
    ])  # fmt: skip


async def forecast(
    db: Database, settings: Settings, sku: str, kind: str = "inventory", *,
    as_of: date = WEEK, site: str = "main", commit: bool = True,
) -> ForecastRead:  # fmt: skip
    request = ForecastCreate(
        forecast_type=kind, period="weekly", entity_id=sku, horizon=8, as_of=as_of, site=site
    )
    async with db.sessions() as session:
        result = await create_forecast(session, request=request, principal=SYSTEM,
                                       settings=settings)  # fmt: skip
        if commit:
            await session.commit()
        else:
            await session.rollback()
    return result


async def open_alerts(db: Database) -> dict[str, ForecastAlert]:
    async with db.sessions() as session:
        rows = await session.scalars(
            select(ForecastAlert).where(ForecastAlert.status != "resolved")
        )
        return {a.alert_type: a for a in rows.all()}


def announced(rows: list[OutboxEvent]) -> list[tuple[str, str]]:
    return [(e.payload["alert_type"], e.payload["severity"]) for e in rows]


async def test_one_alert_per_item_and_type_updated_and_announced_only_when_worse(
    clean_db: Database, settings: Settings
) -> None:
    await stock_item(clean_db, settings, "VALVE-1")
    await count_stock(clean_db, settings, "VALVE-1", 480)

    first = await forecast(clean_db, settings, "VALVE-1")
    assert [p["yhat"] for p in first.points[:4]] == [380.0, 280.0, 180.0, 80.0]
    alerts = await open_alerts(clean_db)
    assert set(alerts) == {"stockout_risk", "supply_shortfall"}
    stockout = alerts["stockout_risk"]
    assert stockout.severity == "low" and stockout.details["stockout_date"] == "2025-06-30"
    assert stockout.forecast_id == first.id
    assert announced(await events(clean_db)) == [("stockout_risk", "low"),
                                                 ("supply_shortfall", "high")]  # fmt: skip

    again = await forecast(clean_db, settings, "VALVE-1")  # same facts: updated, not repeated
    alerts = await open_alerts(clean_db)
    assert alerts["stockout_risk"].id == stockout.id
    assert alerts["stockout_risk"].forecast_id == again.id
    assert len(await events(clean_db)) == 2
    assert await count(clean_db, ForecastAlert) == 2

    await count_stock(clean_db, settings, "VALVE-1", 150, day=12)  # much less on hand: worse
    await forecast(clean_db, settings, "VALVE-1", as_of=date(2025, 6, 12))
    alerts = await open_alerts(clean_db)
    assert alerts["stockout_risk"].id == stockout.id and await count(clean_db, ForecastAlert) == 2
    assert alerts["stockout_risk"].severity == "critical"
    assert "falls to 50, under the safety stock of 100" in alerts["stockout_risk"].message
    assert announced(await events(clean_db))[2:] == [("stockout_risk", "critical"),
                                                     ("supply_shortfall", "critical")]  # fmt: skip

    await count_stock(clean_db, settings, "VALVE-1", 5000, day=13)  # plenty: the risks clear
    await forecast(clean_db, settings, "VALVE-1", as_of=date(2025, 6, 13))
    alerts = await open_alerts(clean_db)
    assert set(alerts) == {"excess_stock"}
    async with clean_db.sessions() as session:
        cleared = await session.get(ForecastAlert, stockout.id)
    assert cleared is not None and (cleared.status, cleared.acted_by) == ("resolved", "forecast")
    assert [t for t, _ in announced(await events(clean_db))][4:] == ["excess_stock"]


async def test_events_carry_what_notify_renders(clean_db: Database, settings: Settings) -> None:
    await stock_item(clean_db, settings, "VALVE-2")
    await count_stock(clean_db, settings, "VALVE-2", 150)
    result = await forecast(clean_db, settings, "VALVE-2")
    rows = await events(clean_db)
    assert {e.event_type for e in rows} == {"alert.raised"}
    for event in rows:
        raised = AlertRaised.model_validate(event.payload)
        assert raised.site == "main" and raised.sku == "VALVE-2"
        assert set(TYPE_SAMPLES[raised.alert_type]) <= set(raised.details) | {"item_name"}
        assert raised.details["explanation"] == result.explanation
        assert raised.chart_url == result.chart_url
    stockout = next(e for e in rows if e.payload["alert_type"] == "stockout_risk")
    action = stockout.payload["suggested_action"]
    assert action["kind"] == "purchase_request" and action["details"]["quantity"] > 0
    assert action["details"]["supplier"] == "Supplier X"


async def test_a_rolled_back_forecast_leaves_no_alert_and_no_event(
    clean_db: Database, settings: Settings
) -> None:
    await stock_item(clean_db, settings, "VALVE-3")
    await count_stock(clean_db, settings, "VALVE-3", 150)
    await forecast(clean_db, settings, "VALVE-3", commit=False)
    assert await count(clean_db, ForecastAlert) == 0
    assert await count(clean_db, OutboxEvent) == 0
    assert await count(clean_db, Forecast) == 0


async def test_a_demand_spike_outside_the_previous_interval_is_raised(
    clean_db: Database, settings: Settings
) -> None:
    await stock_item(clean_db, settings, "VALVE-4")
    await forecast(clean_db, settings, "VALVE-4", "demand", as_of=date(2025, 6, 4))
    assert await count(clean_db, ForecastAlert) == 0  # nothing to compare with yet
    await ingest(clean_db, settings, sales=[
        {"sku": "VALVE-4", "date": "2025-06-04", "qty": 400, "order_id": "RUSH"}
    ])  # fmt: skip
    await forecast(clean_db, settings, "VALVE-4", "demand")
    spike = (await open_alerts(clean_db))["demand_spike"]
    # The week of 2 June was still running at the first forecast; it closed at 100 + 400.
    assert spike.details["actual"] == 500.0 and spike.details["expected"] == 100.0
    assert spike.details["period"] == "2025-06-02" and spike.details["change_pct"] == 400.0
    assert "above the forecast interval" in spike.message


async def test_quality_drift_uses_weighted_rates_and_skips_uninspected_months(
    clean_db: Database, settings: Settings
) -> None:
    await item(clean_db, settings, "SEAL-1", max_defect_rate=0.04)
    days = weeks_before(WEEK, 30)
    lots = [
        {"sku": "SEAL-1", "date": d.isoformat(), "inspected": 200, "defects": 2 + i // 3,
         "lot": f"L{i}"}
        for i, d in enumerate(days) if i != 20  # week 20: nothing inspected
    ]  # fmt: skip
    await ingest(clean_db, settings, quality=lots)
    result = await forecast(clean_db, settings, "SEAL-1", "quality")
    assert result.history[20]["y"] is None
    assert result.history[0]["y"] == 2 / 200
    assert all(0 <= p["lo95"] and p["hi95"] <= 1 for p in result.points)
    assert "defect rate" in result.explanation
    assert_quotes_only_stored_numbers(result.model_dump(mode="json"))
    drift = (await open_alerts(clean_db))["quality_drift"]
    assert drift.details["threshold"] == 0.04 and drift.details["forecast_rate"] > 0.04
    assert drift.details["metric"] == "defect_rate_pct"


async def test_acknowledge_snooze_and_resolve_record_who_and_are_audited(
    client: httpx.AsyncClient,
    clean_db: Database,
    settings: Settings,
    operator_headers: dict[str, str],
    viewer_headers: dict[str, str],
) -> None:
    await stock_item(clean_db, settings, "VALVE-5")
    await count_stock(clean_db, settings, "VALVE-5", 150)
    await forecast(clean_db, settings, "VALVE-5")
    stockout = (await open_alerts(clean_db))["stockout_risk"]
    url = f"/api/v1/alerts/{stockout.id}"

    refused = await client.post(f"{url}/acknowledge", headers=viewer_headers)
    assert refused.status_code == 403, refused.text
    acked = await client.post(f"{url}/acknowledge", headers=operator_headers)
    assert acked.status_code == 200, acked.text
    assert (acked.json()["status"], acked.json()["acted_by"]) == ("acknowledged", "operator-user")
    assert acked.json()["acted_at"] is not None

    past = await client.post(f"{url}/snooze", json={"until": "2020-01-01T00:00:00Z"},
                             headers=operator_headers)  # fmt: skip
    assert past.status_code == 422 and past.json()["error"]["field"] == "until"
    until = (datetime.now(UTC) + timedelta(hours=4)).isoformat()
    snoozed = await client.post(f"{url}/snooze", json={"until": until}, headers=operator_headers)
    assert snoozed.status_code == 200 and snoozed.json()["status"] == "snoozed"
    listed = await client.get("/api/v1/alerts/active", headers=viewer_headers)
    assert stockout.id not in {a["id"] for a in listed.json()["alerts"]}  # hidden while snoozed

    resolved = await client.post(f"{url}/resolve", json={"note": "PO 4711 placed"},
                                 headers=operator_headers)  # fmt: skip
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    again = await client.post(f"{url}/acknowledge", headers=operator_headers)
    assert again.status_code == 409

    async with clean_db.sessions() as session:
        audits = (await session.scalars(
            select(AuditEvent).where(AuditEvent.subject == str(stockout.id))
            .order_by(AuditEvent.id)
        )).all()  # fmt: skip
    assert [(a.event_type, a.actor) for a in audits] == [
        ("alert.acknowledged", "operator-user"),
        ("alert.snoozed", "operator-user"),
        ("alert.resolved", "operator-user"),
    ]
    assert audits[2].details["note"] == "PO 4711 placed"

    # The next worse run opens a new alert (the resolved one stays closed) and announces it.
    await count_stock(clean_db, settings, "VALVE-5", 0, day=12)
    await forecast(clean_db, settings, "VALVE-5", as_of=date(2025, 6, 12))
    reopened = (await open_alerts(clean_db))["stockout_risk"]
    assert reopened.id != stockout.id and reopened.status == "active"


async def test_a_worse_run_brings_an_acknowledged_alert_back(
    clean_db: Database, settings: Settings, client: httpx.AsyncClient,
    operator_headers: dict[str, str],
) -> None:  # fmt: skip
    await stock_item(clean_db, settings, "VALVE-6")
    await count_stock(clean_db, settings, "VALVE-6", 480)
    await forecast(clean_db, settings, "VALVE-6")
    stockout = (await open_alerts(clean_db))["stockout_risk"]
    await client.post(f"/api/v1/alerts/{stockout.id}/acknowledge", headers=operator_headers)
    await forecast(clean_db, settings, "VALVE-6")  # not worse: stays acknowledged
    assert (await open_alerts(clean_db))["stockout_risk"].status == "acknowledged"
    await count_stock(clean_db, settings, "VALVE-6", 150, day=12)
    await forecast(clean_db, settings, "VALVE-6", as_of=date(2025, 6, 12))
    assert (await open_alerts(clean_db))["stockout_risk"].status == "active"


async def test_active_alerts_are_filtered_and_scoped_to_the_callers_sites(
    client: httpx.AsyncClient, clean_db: Database, settings: Settings, key_factory: Any,
    viewer_headers: dict[str, str],
) -> None:  # fmt: skip
    await stock_item(clean_db, settings, "VALVE-7")
    await count_stock(clean_db, settings, "VALVE-7", 150)
    await forecast(clean_db, settings, "VALVE-7")
    await stock_item(clean_db, settings, "VALVE-7", site="north")
    await count_stock(clean_db, settings, "VALVE-7", 480, site="north")
    await forecast(clean_db, settings, "VALVE-7", site="north")

    everything = (await client.get("/api/v1/alerts/active", headers=viewer_headers)).json()
    assert everything["count"] == 4
    assert everything["alerts"][0]["severity"] == "critical"  # most severe first
    main_only = await key_factory("viewer", "mia", ["main"])
    mine = (await client.get("/api/v1/alerts/active", headers=main_only)).json()
    assert {a["site"] for a in mine["alerts"]} == {"main"} and mine["count"] == 2
    north = [a for a in everything["alerts"] if a["site"] == "north"][0]
    hidden = await client.get(f"/api/v1/alerts/{north['id']}", headers=main_only)
    assert hidden.status_code == 404

    params: dict[str, Any] = {"severity": ["low", "medium"], "type": "stockout_risk"}
    filtered = (await client.get("/api/v1/alerts/active", params=params,
                                 headers=viewer_headers)).json()  # fmt: skip
    assert [(a["site"], a["alert_type"]) for a in filtered["alerts"]] == [
        ("north", "stockout_risk")]  # fmt: skip
    by_item = await client.get("/api/v1/alerts/active", params={"item": "valve-7"},
                               headers=viewer_headers)  # fmt: skip
    assert by_item.json()["count"] == 4
    bad = await client.get("/api/v1/alerts/active", params={"severity": "huge"},
                           headers=viewer_headers)  # fmt: skip
    assert bad.status_code == 422 and "critical" in bad.json()["error"]["message"]
