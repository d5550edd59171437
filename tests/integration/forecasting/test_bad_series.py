"""Awkward histories from the issue: all zero, NaN, negative sales (returns), duplicated
dates, a gap of years. Each gives a forecast (or a clear refusal), never a 500."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pandas as pd
import pytest

from opscopilot.core.settings import Settings
from opscopilot.forecasting.frames import period_start
from opscopilot.ingest.schemas import IngestRequest
from opscopilot.ingest.service import ingest_batch
from opscopilot.store.engine import Database
from tests.integration.forecasting.conftest import (
    AS_OF,
    assert_quotes_only_stored_numbers,
    ingest,
    item,
    months_before,
    observe,
    sales,
    seasonal,
)

ASK = {"forecast_type": "demand", "period": "monthly", "horizon": 6, "as_of": AS_OF.isoformat()}


async def forecast(client: httpx.AsyncClient, headers: dict[str, str], sku: str) -> dict[str, Any]:
    r = await client.post("/api/v1/forecasts", json={**ASK, "entity_id": sku}, headers=headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    for p in body["points"]:
        assert min(p["yhat"], p["lo80"], p["lo95"]) >= 0  # counts never below zero
    return body


async def test_an_all_zero_series_forecasts_zero(
    client: httpx.AsyncClient, viewer_headers: dict[str, str], clean_db: Database,
    settings: Settings,
) -> None:  # fmt: skip
    await item(clean_db, settings, "ZERO-1")
    days = months_before(AS_OF, 24)
    await ingest(clean_db, settings, sales=[
        {"sku": "ZERO-1", "date": d.isoformat(), "qty": 0, "order_id": f"Z{i}"}
        for i, d in enumerate(days)
    ])  # fmt: skip
    body = await forecast(client, viewer_headers, "ZERO-1")
    assert body["model"] == "Zero" and body["components"]["series_class"] == "all_zero"
    assert all(p["yhat"] == p["hi95"] == 0 for p in body["points"])
    assert body["components"]["zero_share"] == 1.0
    assert_quotes_only_stored_numbers(body)


async def test_nan_is_refused_by_ingestion_and_dropped_if_it_reaches_the_store(
    client: httpx.AsyncClient, viewer_headers: dict[str, str], clean_db: Database,
    settings: Settings,
) -> None:  # fmt: skip
    await item(clean_db, settings, "NAN-1")
    days, values = months_before(AS_OF, 30), seasonal(30)
    records: list[dict[str, Any]] = sales("NAN-1", days, values)
    records.append({"sku": "NAN-1", "date": days[5].isoformat(), "qty": "NaN", "order_id": "X"})
    batch = await ingest_batch(
        clean_db,
        request=IngestRequest(
            source_type="sales", source_id="pos", batch_reference="nan", data={"sales": records}
        ),  # fmt: skip
        actor="tests",
        sites=None,
        settings=settings,
    )
    assert batch.status == "success" and [e.field for e in batch.errors] == ["qty"]
    clean = await forecast(client, viewer_headers, "NAN-1")
    assert [h["y"] for h in clean["history"]] == values

    await observe(clean_db, "NAN-1", "demand", [(days[-1], float("nan"))])
    body = await forecast(client, viewer_headers, "NAN-1")
    assert any("ignored 1 row(s)" in note for note in body["components"]["notes"])
    # The NaN spoiled its month's sum, so that month is read as having no sales.
    assert body["history"][-1]["y"] == 0.0 and len(body["history"]) == 30


async def test_negative_sales_are_net_returns_and_forecasts_stay_at_or_above_zero(
    client: httpx.AsyncClient, viewer_headers: dict[str, str], clean_db: Database,
    settings: Settings,
) -> None:  # fmt: skip
    await item(clean_db, settings, "RET-1")
    days = months_before(AS_OF, 24)
    values = [4.0, 0.0, 2.0, 0.0, 0.0, 1.0] * 4
    await ingest(clean_db, settings, sales=sales("RET-1", days, values))
    await observe(clean_db, "RET-1", "demand", [(days[i], -6.0) for i in (3, 9, 15, 21, 23)])
    body = await forecast(client, viewer_headers, "RET-1")
    history = [h["y"] for h in body["history"]]
    assert history[3] == -6.0 and history[23] == -5.0  # returns kept as net demand
    assert any("negative net values" in note for note in body["components"]["notes"])


async def test_duplicated_dates_are_summed_and_a_resent_row_is_not_counted_twice(
    client: httpx.AsyncClient, viewer_headers: dict[str, str], clean_db: Database,
    settings: Settings,
) -> None:  # fmt: skip
    await item(clean_db, settings, "DUP-1")
    days, values = months_before(AS_OF, 24), seasonal(24)
    await ingest(clean_db, settings, sales=sales("DUP-1", days, values))
    same_day = [{"sku": "DUP-1", "date": days[-1].isoformat(), "qty": 40, "order_id": "EXTRA"}]
    await ingest(clean_db, settings, sales=same_day)
    await ingest(clean_db, settings, sales=same_day)  # resent under a new batch reference
    body = await forecast(client, viewer_headers, "DUP-1")
    assert body["history"][-1]["y"] == values[-1] + 40


async def test_a_gap_of_years_keeps_only_the_history_after_it(
    client: httpx.AsyncClient, viewer_headers: dict[str, str], clean_db: Database,
    settings: Settings,
) -> None:  # fmt: skip
    await item(clean_db, settings, "GAP-1")
    old = months_before(date(2017, 1, 15), 24)
    recent = months_before(AS_OF, 24)
    await ingest(clean_db, settings, sales=sales("GAP-1", old, [500.0] * 24, prefix="OLD"))
    await ingest(clean_db, settings, sales=sales("GAP-1", recent, seasonal(24)))
    body = await forecast(client, viewer_headers, "GAP-1")
    assert body["history"][0]["ds"] == recent[0].replace(day=1).isoformat()
    assert len(body["history"]) == 24
    assert any("follows a gap" in note for note in body["components"]["notes"])
    assert max(p["yhat"] for p in body["points"]) < 400  # the old regime does not leak in


@pytest.mark.parametrize("period", ["daily", "weekly", "quarterly"])
async def test_every_period_forecasts_the_same_facts(
    client: httpx.AsyncClient, viewer_headers: dict[str, str], clean_db: Database,
    settings: Settings, period: str,
) -> None:  # fmt: skip
    await item(clean_db, settings, "PER-1")
    days, values = months_before(AS_OF, 36), seasonal(36)
    await ingest(clean_db, settings, sales=sales("PER-1", days, values))
    r = await client.post(
        "/api/v1/forecasts", json={**ASK, "entity_id": "PER-1", "period": period, "horizon": 4},
        headers=viewer_headers,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["period"] == period and len(body["points"]) == 4
    running = period_start(pd.DatetimeIndex([AS_OF]), period)[0].date()  # type: ignore[arg-type]
    complete = sum(v for d, v in zip(days, values, strict=True) if d < running)
    assert sum(h["y"] for h in body["history"]) == complete
