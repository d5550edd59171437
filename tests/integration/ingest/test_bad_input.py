"""Bad input at the request level: each a 422 (or 413) naming the problem, never a 500."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from opscopilot.store.engine import Database

BASE = {"source_type": "erp", "source_id": "erp_001", "batch_reference": "b1"}


async def _batches(db: Database) -> int:
    async with db.session() as session:
        return int(
            (await session.execute(text("SELECT count(*) FROM raw_data_batches"))).scalar_one()
        )


async def test_unknown_source_type_lists_valid_values(
    client: httpx.AsyncClient, operator_headers: dict[str, str]
) -> None:
    body = {**BASE, "source_type": "crm", "data": {"items": [{"sku": "A", "name": "A"}]}}
    r = await client.post("/api/v1/ingest", json=body, headers=operator_headers)
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["field"] == "source_type"
    assert all(v in err["message"] for v in ("erp", "accounting", "inventory", "sales"))


async def test_unknown_record_kind_lists_valid_kinds(
    client: httpx.AsyncClient, operator_headers: dict[str, str]
) -> None:
    body = {**BASE, "data": {"widgets": [{"sku": "A"}]}}
    r = await client.post("/api/v1/ingest", json=body, headers=operator_headers)
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["field"] == "data"
    assert "widgets" in err["message"] and "receipts" in err["message"]


@pytest.mark.parametrize("data", [{}, {"items": []}, {"items": [], "sales": []}])
async def test_empty_batch_is_422(
    client: httpx.AsyncClient, operator_headers: dict[str, str], data: dict[str, object],
    clean_db: Database,
) -> None:  # fmt: skip
    r = await client.post("/api/v1/ingest", json={**BASE, "data": data}, headers=operator_headers)
    assert r.status_code == 422
    assert "empty batch" in r.json()["error"]["message"]
    assert await _batches(clean_db) == 0


@pytest.mark.parametrize(
    "data",
    [{"items": "ITEM-001"}, {"items": ["ITEM-001"]}, {"sales": {"sku": "A"}}],
)
async def test_wrong_shapes_are_422(
    client: httpx.AsyncClient, operator_headers: dict[str, str], data: dict[str, object]
) -> None:
    r = await client.post("/api/v1/ingest", json={**BASE, "data": data}, headers=operator_headers)
    assert r.status_code == 422
    assert r.json()["error"]["field"].startswith("data")


async def test_fifty_megabyte_body_is_refused(
    client: httpx.AsyncClient, operator_headers: dict[str, str], clean_db: Database
) -> None:
    filler = "x" * 1000
    items = ",".join(f'{{"sku":"S{i}","name":"{filler}"}}' for i in range(50_000))
    head = '{"source_type":"erp","source_id":"e","batch_reference":"big","data":{"items":['
    body = head + items + "]}}"
    assert len(body) > 50_000_000
    r = await client.post(
        "/api/v1/ingest",
        content=body.encode(),
        headers={**operator_headers, "content-type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"
    assert await _batches(clean_db) == 0


async def test_a_viewer_cannot_ingest_and_a_plant_key_stays_in_its_plant(
    client: httpx.AsyncClient, viewer_headers: dict[str, str], key_factory: object
) -> None:
    body = {**BASE, "data": {"items": [{"sku": "A", "name": "A"}]}}
    assert (
        await client.post("/api/v1/ingest", json=body, headers=viewer_headers)
    ).status_code == 403
    plant_b = await key_factory("operator", "op-b", ["plant-b"])  # type: ignore[operator]
    r = await client.post("/api/v1/ingest", json={**body, "site": "main"}, headers=plant_b)
    assert r.status_code == 403
    r = await client.post(
        "/api/v1/ingest",
        json={**BASE, "batch_reference": "b2", "data": {
            "items": [{"sku": "A", "name": "A"}],
            "inventory": [{"sku": "A", "on_hand": 1}, {"sku": "A", "on_hand": 2, "site": "main"}],
        }},
        headers=plant_b,
    )  # fmt: skip
    batch = r.json()
    assert batch["site"] == "plant-b"
    assert (batch["inserted"], batch["rejected"]) == (2, 1)
    assert batch["errors"][0]["field"] == "site"
