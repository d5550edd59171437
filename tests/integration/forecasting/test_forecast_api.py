"""POST /api/v1/forecasts with the original body, the latest forecast, its chart, and the
bad requests of the issue (unknown entity, type, period; too little history)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from opscopilot.core.settings import Settings
from opscopilot.store.engine import Database
from opscopilot.store.models import AIModel, Forecast
from tests.integration.forecasting.conftest import (
    AS_OF,
    Seeded,
    count,
    ingest,
    item,
    months_before,
    sales,
    seasonal,
)

ORIGINAL = {
    "forecast_type": "demand",
    "period": "monthly",
    "entity_id": "ITEM-001",
    "entity_type": "item",
    "lookback_days": 365,
}


async def test_the_original_body_works_as_written(
    client: httpx.AsyncClient,
    viewer_headers: dict[str, str],
    clean_db: Database,
    settings: Settings,
) -> None:
    today = datetime.now(UTC).date()
    await item(clean_db, settings, "ITEM-001")
    await ingest(
        clean_db, settings, sales=sales("ITEM-001", months_before(today, 24), seasonal(24))
    )

    r = await client.post("/api/v1/forecasts", json=ORIGINAL, headers=viewer_headers)

    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["entity_id"], body["forecast_type"], body["period"]) == ("ITEM-001", "demand",
                                                                          "monthly")  # fmt: skip
    # 365 days: the last 12 complete months (and this one, on its last day: it is complete).
    month_ends_today = (today + timedelta(days=1)).day == 1
    assert len(body["history"]) == 12 + month_ends_today
    assert body["points"] and set(body["points"][0]) == {"ds", "yhat", "lo80", "hi80", "lo95",
                                                           "hi95"}  # fmt: skip
    for p in body["points"]:
        assert 0 <= p["lo95"] <= p["lo80"] <= p["hi80"] <= p["hi95"] and p["yhat"] >= 0
    assert body["model"] in body["candidates"]
    assert body["accuracy"]["rmsse"] == body["candidates"][body["model"]]["rmsse"]
    # One backtest window fits in a year of history: no honest coverage to report.
    assert body["accuracy"]["windows"] == 1 and body["coverage"] is None
    assert body["fallback"] is False
    assert body["explanation"].startswith(body["model"])
    assert any("without a seasonal pattern" in n or "horizon shortened" in n
               for n in body["components"]["notes"])  # fmt: skip

    latest = await client.get("/api/v1/forecasts/ITEM-001/demand", headers=viewer_headers)
    assert latest.status_code == 200 and latest.json()["id"] == body["id"]
    assert latest.json()["points"] == body["points"]

    chart = await client.get(body["chart_url"], headers=viewer_headers)
    assert chart.status_code == 200 and chart.headers["content-type"] == "image/png"
    assert chart.content.startswith(b"\x89PNG\r\n\x1a\n") and len(chart.content) > 5000

    # The model registry shows the engine's version and the backtest metrics of the choice.
    async with clean_db.sessions() as session:
        rows = {m.name: m for m in (await session.scalars(select(AIModel))).all()}
    chosen = rows[f"forecast.{body['model'].lower()}"]
    assert chosen.metrics["backtest"]["forecasts"] == 1
    assert chosen.metrics["backtest"]["rmsse"] == pytest.approx(body["accuracy"]["rmsse"])
    assert rows["forecast.auto"].metrics["backtest"]["forecasts"] == 1


async def test_every_period_and_type_is_named_when_wrong(
    client: httpx.AsyncClient, viewer_headers: dict[str, str], gasket: Seeded
) -> None:
    bad_type = await client.post(
        "/api/v1/forecasts", json={**ORIGINAL, "forecast_type": "sales"}, headers=viewer_headers
    )
    assert bad_type.status_code == 422
    err = bad_type.json()["error"]
    assert err["field"] == "forecast_type"
    assert all(t in err["message"] for t in ("demand", "supply", "quality", "inventory"))

    bad_period = await client.post(
        "/api/v1/forecasts", json={**ORIGINAL, "period": "yearly"}, headers=viewer_headers
    )
    assert bad_period.status_code == 422
    err = bad_period.json()["error"]
    assert err["field"] == "period"
    assert all(p in err["message"] for p in ("daily", "weekly", "monthly", "quarterly"))

    on_get = await client.get("/api/v1/forecasts/GSK-1/sales", headers=viewer_headers)
    assert on_get.status_code == 422 and "inventory" in on_get.json()["error"]["message"]
    on_get = await client.get(
        "/api/v1/forecasts/GSK-1/demand", params={"period": "hourly"}, headers=viewer_headers
    )
    assert on_get.status_code == 422 and "quarterly" in on_get.json()["error"]["message"]


async def test_an_unknown_entity_is_404(
    client: httpx.AsyncClient, viewer_headers: dict[str, str], clean_db: Database
) -> None:
    r = await client.post(
        "/api/v1/forecasts", json={**ORIGINAL, "entity_id": "NOPE-9"}, headers=viewer_headers
    )
    assert r.status_code == 404 and "NOPE-9" in r.json()["error"]["message"]
    r = await client.get("/api/v1/forecasts/NOPE-9/demand", headers=viewer_headers)
    assert r.status_code == 404
    assert await count(clean_db, Forecast) == 0


async def test_a_known_item_without_a_forecast_yet_is_404(
    client: httpx.AsyncClient, viewer_headers: dict[str, str], gasket: Seeded
) -> None:
    r = await client.get("/api/v1/forecasts/GSK-1/demand/chart.png", headers=viewer_headers)
    assert r.status_code == 404 and "POST /api/v1/forecasts" in r.json()["error"]["message"]


async def test_too_little_history_says_how_much_or_gives_a_flagged_naive_forecast(
    client: httpx.AsyncClient,
    viewer_headers: dict[str, str],
    clean_db: Database,
    settings: Settings,
) -> None:
    await item(clean_db, settings, "NEW-1")
    await ingest(clean_db, settings, sales=sales("NEW-1", months_before(AS_OF, 4), [5, 7, 6, 8]))
    body = {**ORIGINAL, "entity_id": "NEW-1", "horizon": 6, "as_of": AS_OF.isoformat()}

    refused = await client.post("/api/v1/forecasts", json=body, headers=viewer_headers)
    assert refused.status_code == 422
    err = refused.json()["error"]
    assert "not enough history: 4 monthly periods, need at least 12" in err["message"]
    assert err["details"] == {"needed": 12, "got": 4, "period": "monthly", "horizon": 6}
    assert await count(clean_db, Forecast) == 0

    naive = await client.post(
        "/api/v1/forecasts", json={**body, "allow_naive": True}, headers=viewer_headers
    )
    assert naive.status_code == 201, naive.text
    got = naive.json()
    assert got["naive"] is True and got["fallback"] is True
    assert "not backtested" in got["fallback_reason"]
    assert "naive forecast" in got["explanation"] and got["accuracy"] == {"naive": True}
    assert len(got["points"]) == 6


async def test_an_item_with_no_sales_at_all_is_too_little_history(
    client: httpx.AsyncClient, viewer_headers: dict[str, str], clean_db: Database,
    settings: Settings,
) -> None:  # fmt: skip
    await item(clean_db, settings, "EMPTY-1")
    r = await client.post(
        "/api/v1/forecasts", json={**ORIGINAL, "entity_id": "EMPTY-1"}, headers=viewer_headers
    )
    assert r.status_code == 422 and "got" in r.json()["error"]["details"]
    assert r.json()["error"]["details"]["got"] == 0


async def test_a_site_outside_the_callers_sites_is_refused(
    client: httpx.AsyncClient, key_factory: object, gasket: Seeded
) -> None:
    headers = await key_factory("viewer", "nina", ["north"])  # type: ignore[operator]
    r = await client.post(
        "/api/v1/forecasts", json={**ORIGINAL, "entity_id": "GSK-1", "site": "main"},
        headers=headers,
    )  # fmt: skip
    assert r.status_code == 403


async def test_chosen_confidence_levels_shape_the_bounds(
    client: httpx.AsyncClient, viewer_headers: dict[str, str], gasket: Seeded
) -> None:
    body = {**ORIGINAL, "entity_id": "GSK-1", "lookback_days": 600, "horizon": 3,
            "levels": [90, 50], "as_of": AS_OF.isoformat()}  # fmt: skip
    r = await client.post("/api/v1/forecasts", json=body, headers=viewer_headers)
    assert r.status_code == 201, r.text
    got = r.json()
    assert set(got["points"][0]) == {"ds", "yhat", "lo50", "hi50", "lo90", "hi90"}
    assert all(p["lo90"] <= p["lo50"] <= p["hi50"] <= p["hi90"] for p in got["points"])
    assert set(got["accuracy"]["coverage"]) == {"50", "90"}
    bad = await client.post("/api/v1/forecasts", json={**body, "levels": [120]},
                            headers=viewer_headers)  # fmt: skip
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "levels"
