"""Every number an explanation quotes is one the forecast stored: its components (level,
trend, peaks, zero share, change since the previous forecast) or its backtest scores."""

from __future__ import annotations

import uuid

import httpx
import pytest

from opscopilot.core.settings import Settings
from opscopilot.forecasting import ENGINE_VERSION
from opscopilot.store.engine import Database
from opscopilot.store.models import Forecast
from tests.integration.forecasting.conftest import (
    AS_OF,
    Seeded,
    assert_quotes_only_stored_numbers,
    ingest,
    item,
    months_before,
    sales,
    seasonal,
)

ASK = {"forecast_type": "demand", "period": "monthly", "horizon": 6, "entity_id": "GSK-1"}


async def test_explanation_numbers_equal_the_stored_components_and_scores(
    client: httpx.AsyncClient, viewer_headers: dict[str, str], gasket: Seeded
) -> None:
    r = await client.post(
        "/api/v1/forecasts", json={**ASK, "as_of": AS_OF.isoformat()}, headers=viewer_headers
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert_quotes_only_stored_numbers(body)

    c, acc, cand = body["components"], body["accuracy"], body["candidates"]
    yhat = [p["yhat"] for p in body["points"]]
    history = [h["y"] for h in body["history"]]
    assert c["level"] == pytest.approx(sum(yhat) / len(yhat))
    assert c["horizon"] == len(yhat) == 6
    assert c["recent_level"] == pytest.approx(sum(history[-12:]) / 12)
    assert c["zero_share"] == 0.0
    assert c["backtest_rmsse"] == acc["rmsse"] == cand[body["model"]]["rmsse"]
    assert c["backtest_mae"] == acc["mae"] and c["windows"] == acc["windows"] == 2
    assert c["candidates"] == len(cand)
    assert c["backtest_coverage"] == acc["coverage"]["80"] == body["coverage"]
    assert "peak_1" in c and c["peak_value"] == pytest.approx(max(yhat))


async def test_a_second_forecast_says_what_changed_and_by_how_much(
    client: httpx.AsyncClient, viewer_headers: dict[str, str], clean_db: Database,
    settings: Settings,
) -> None:  # fmt: skip
    # 22 months: too short for prophet (two seasons), so the test stays quick.
    await item(clean_db, settings, "CHG-1")
    await ingest(clean_db, settings, sales=sales("CHG-1", months_before(AS_OF, 22), seasonal(22)))
    ask = {**ASK, "entity_id": "CHG-1", "horizon": 3}
    first = await client.post(
        "/api/v1/forecasts", json={**ask, "as_of": "2025-05-15"}, headers=viewer_headers
    )
    assert first.status_code == 201, first.text
    assert first.json()["components"]["engine_version"] == ENGINE_VERSION
    # As if an older engine had made the first forecast.
    async with clean_db.sessions() as session:
        row = await session.get(Forecast, uuid.UUID(first.json()["id"]))
        assert row is not None
        row.components = {**row.components, "engine_version": "1.0.0"}
        await session.commit()
    # A month later, after a big May: the new forecast shares two months with the old one.
    await ingest(clean_db, settings, sales=[
        {"sku": "CHG-1", "date": "2025-05-20", "qty": 400, "order_id": "BIG-MAY"}
    ])  # fmt: skip
    second = await client.post(
        "/api/v1/forecasts", json={**ask, "as_of": AS_OF.isoformat()}, headers=viewer_headers
    )
    assert second.status_code == 201, second.text
    body, before = second.json(), first.json()
    assert_quotes_only_stored_numbers(body)

    c = body["components"]
    old = {p["ds"]: p["yhat"] for p in before["points"]}
    new = {p["ds"]: p["yhat"] for p in body["points"]}
    common = sorted(set(old) & set(new))
    assert c["overlap_periods"] == len(common) == 2
    assert c["previous_level"] == pytest.approx(sum(old[d] for d in common) / 2)
    assert c["new_level"] == pytest.approx(sum(new[d] for d in common) / 2)
    assert c["change_share"] == pytest.approx(c["new_level"] / c["previous_level"] - 1)
    assert c["previous_model"] == before["model"]
    assert body["explanation_facts"]["change_share"] in body["explanation"]
    assert "against the previous forecast" in body["explanation"]
    assert (c["previous_engine_version"], c["engine_version"]) == ("1.0.0", ENGINE_VERSION)
    assert f"engine changed from version 1.0.0 to {ENGINE_VERSION}" in body["explanation"]


async def test_an_intermittent_item_is_explained_as_such(
    client: httpx.AsyncClient, viewer_headers: dict[str, str], clean_db: Database,
    settings: Settings,
) -> None:  # fmt: skip
    await item(clean_db, settings, "SPARE-1")
    values = [0.0] * 36
    for i in (2, 9, 14, 20, 27, 31, 34):
        values[i] = float(1 + i % 3)
    await ingest(clean_db, settings, sales=sales("SPARE-1", months_before(AS_OF, 36), values))
    r = await client.post(
        "/api/v1/forecasts",
        json={**ASK, "entity_id": "SPARE-1", "as_of": AS_OF.isoformat()},
        headers=viewer_headers,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["components"]["series_class"] == "intermittent"
    # The history starts at the first sale: 34 months, 27 of them without demand.
    assert len(body["history"]) == 34
    assert body["components"]["zero_share"] == pytest.approx(27 / 34)
    assert "demand is intermittent" in body["explanation"]
    assert any(p["yhat"] > 0 for p in body["points"])  # it sells: not forecast as zero
    assert_quotes_only_stored_numbers(body)
