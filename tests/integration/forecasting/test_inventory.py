"""The inventory forecast (latest count + forecast supply + scheduled receipts - forecast
demand) and what-ifs that re-project it without becoming the official forecast."""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from opscopilot.core.settings import Settings
from opscopilot.store.engine import Database
from opscopilot.store.models import Forecast, ForecastAlert
from tests.integration.forecasting.conftest import (
    assert_quotes_only_stored_numbers,
    count,
    ingest,
    item,
    sales,
    weeks_before,
)

WEEK = date(2025, 6, 11)
ASK = {"forecast_type": "inventory", "period": "weekly", "entity_id": "PUMP-1", "horizon": 6,
       "as_of": WEEK.isoformat()}  # fmt: skip


@pytest.fixture
async def pump(clean_db: Database, settings: Settings) -> None:
    """Sells 100 a week, receives 60 a week from Supplier X; 500 on hand and 300 on order
    (due one 14-day lead time after the count)."""
    await item(clean_db, settings, "PUMP-1", lead_time_days=14, safety_stock=50)
    days = weeks_before(WEEK, 30)
    await ingest(clean_db, settings, sales=sales("PUMP-1", days, [100.0] * 30))
    await ingest(clean_db, settings, receipts=[
        {"sku": "PUMP-1", "date": d.isoformat(), "qty": 60, "po_number": f"PO-{i}",
         "supplier": "Supplier X"}
        for i, d in enumerate(days)
    ])  # fmt: skip
    await ingest(clean_db, settings, inventory=[
        {"sku": "PUMP-1", "on_hand": 500, "on_order": 300, "as_of": "2025-06-09T06:00:00+00:00"}
    ])  # fmt: skip


async def test_inventory_projects_the_count_with_supply_receipts_and_demand(
    client: httpx.AsyncClient, viewer_headers: dict[str, str], pump: None
) -> None:
    r = await client.post("/api/v1/forecasts", json=ASK, headers=viewer_headers)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["model"] == "projection"
    c = body["components"]
    assert (c["demand_model"], c["supply_model"]) == ("Naive", "Naive")  # flat histories
    assert c["opening"] == 500 and c["receipts_total"] == 300
    assert c["demand_total"] == 600 and c["supply_total"] == 360
    # 500 + 60 - 100 a week, plus the 300 on order in the week of 23 June (9 June + 14 days).
    assert [p["yhat"] for p in body["points"]] == [460, 420, 680, 640, 600, 560]
    assert [p["ds"] for p in body["points"]][2] == "2025-06-23"
    for p in body["points"]:
        assert p["lo95"] <= p["lo80"] <= p["yhat"] <= p["hi80"] <= p["hi95"]
    assert body["history"] and body["history"][-1]["y"] == 500
    assert "Stock starts from 500 on hand" in body["explanation"]
    assert_quotes_only_stored_numbers(body)
    assert set(body["candidates"]) == {"demand", "supply"}

    chart = await client.get(body["chart_url"], headers=viewer_headers)
    assert chart.status_code == 200 and chart.content.startswith(b"\x89PNG")


async def test_inventory_needs_a_stock_count(
    client: httpx.AsyncClient, viewer_headers: dict[str, str], clean_db: Database,
    settings: Settings,
) -> None:  # fmt: skip
    await item(clean_db, settings, "BARE-1")
    await ingest(clean_db, settings, sales=sales("BARE-1", weeks_before(WEEK, 30), [5.0] * 30))
    r = await client.post(
        "/api/v1/forecasts", json={**ASK, "entity_id": "BARE-1"}, headers=viewer_headers
    )
    assert r.status_code == 422 and "no stock count" in r.json()["error"]["message"]


async def test_a_what_if_reprojects_without_becoming_the_official_forecast(
    client: httpx.AsyncClient, viewer_headers: dict[str, str], pump: None, clean_db: Database
) -> None:
    official = await client.post("/api/v1/forecasts", json=ASK, headers=viewer_headers)
    assert official.status_code == 201
    alerts_before = await count(clean_db, ForecastAlert)

    body = {
        "entity_id": "PUMP-1", "period": "weekly", "horizon": 6, "as_of": WEEK.isoformat(),
        "supplier_delays": [{"supplier": "Supplier X", "days": 14}], "demand_change_pct": 20,
    }  # fmt: skip
    r = await client.post("/api/v1/forecasts/what-if", json=body, headers=viewer_headers)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["lever"] == "Supplier X 14 days late, demand +20%"
    assert [p["yhat"] for p in got["baseline"]["points"]] == [460, 420, 680, 640, 600, 560]
    # Demand 120 a week; the 300 on order arrives two weeks later (week of 7 July).
    assert [p["yhat"] for p in got["scenario"]["points"]] == [440, 380, 320, 260, 500, 440]
    scenario = got["scenario"]
    assert scenario["is_official"] is False and scenario["components"]["demand_total"] == 720
    assert "What-if: Supplier X 14 days late, demand +20%." in scenario["explanation"]
    assert_quotes_only_stored_numbers(scenario)

    latest = await client.get("/api/v1/forecasts/PUMP-1/inventory", headers=viewer_headers)
    assert latest.json()["id"] == official.json()["id"]
    assert await count(clean_db, Forecast, Forecast.is_official.is_(False)) == 1
    assert await count(clean_db, ForecastAlert) == alerts_before  # a what-if raises nothing


async def test_a_what_if_that_runs_the_stock_out_shows_the_alert_it_would_raise(
    client: httpx.AsyncClient, viewer_headers: dict[str, str], pump: None, clean_db: Database
) -> None:
    body = {"entity_id": "PUMP-1", "period": "weekly", "horizon": 6, "as_of": WEEK.isoformat(),
            "demand_change_pct": 400}  # fmt: skip
    r = await client.post("/api/v1/forecasts/what-if", json=body, headers=viewer_headers)
    assert r.status_code == 200, r.text
    would = {a["alert_type"]: a for a in r.json()["alerts"]}
    assert would["stockout_risk"]["severity"] in ("high", "critical")
    assert "what-if: demand +400%" in would["stockout_risk"]["message"]
    assert await count(clean_db, ForecastAlert) == 0
