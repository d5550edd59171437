"""POST /api/v1/ingest and GET /api/v1/batch/{id}: the original example, lifecycle,
duplicates, races, row errors and atomicity."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import text

from opscopilot.store.engine import Database

ORIGINAL: dict[str, Any] = {
    "source_type": "erp",
    "source_id": "erp_001",
    "batch_reference": "batch_20240101_001",
    "data": {"items": [{"sku": "ITEM-001", "name": "Component A", "qty": 100}]},
}


async def _scalar(db: Database, sql: str, **params: Any) -> Any:
    async with db.session() as session:
        return (await session.execute(text(sql), params)).scalar()


async def test_original_example_creates_item_and_snapshot(
    client: httpx.AsyncClient, operator_headers: dict[str, str], clean_db: Database
) -> None:
    r = await client.post("/api/v1/ingest", json=ORIGINAL, headers=operator_headers)
    assert r.status_code == 201, r.text
    batch = r.json()
    assert batch["status"] == "success"
    assert (batch["received"], batch["inserted"], batch["rejected"]) == (1, 1, 0)
    assert batch["created"] is True
    item = (await client.get("/api/v1/items/ITEM-001", headers=operator_headers)).json()
    assert item["name"] == "Component A"
    inv = (await client.get("/api/v1/inventory/ITEM-001", headers=operator_headers)).json()
    assert inv["on_hand"] == 100
    assert [loc["location"] for loc in inv["locations"]] == ["default"]
    got = (await client.get(f"/api/v1/batch/{batch['id']}", headers=operator_headers)).json()
    assert got["payload"]["data"] == ORIGINAL["data"]
    assert got["status"] == "success"
    audits = await _scalar(clean_db, "SELECT count(*) FROM master_data_audits")
    assert audits == 1


async def test_same_reference_is_not_processed_twice(
    client: httpx.AsyncClient, operator_headers: dict[str, str], clean_db: Database
) -> None:
    first = await client.post("/api/v1/ingest", json=ORIGINAL, headers=operator_headers)
    changed = {**ORIGINAL, "data": {"items": [{"sku": "ITEM-001", "name": "Other", "qty": 5}]}}
    again = await client.post("/api/v1/ingest", json=changed, headers=operator_headers)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["created"] is False
    item = (await client.get("/api/v1/items/ITEM-001", headers=operator_headers)).json()
    assert item["name"] == "Component A"
    assert await _scalar(clean_db, "SELECT count(*) FROM raw_data_batches") == 1


async def test_racing_requests_share_one_batch(
    client: httpx.AsyncClient, operator_headers: dict[str, str], clean_db: Database
) -> None:
    body = {
        **ORIGINAL,
        "data": {
            "items": [{"sku": "ITEM-001", "name": "Component A"}],
            "sales": [
                {"sku": "ITEM-001", "date": "2024-01-02", "qty": 3, "order_id": f"SO-{i}"}
                for i in range(50)
            ],
        },
    }
    responses = await asyncio.gather(
        *[client.post("/api/v1/ingest", json=body, headers=operator_headers) for _ in range(4)]
    )
    assert all(r.status_code in (200, 201) for r in responses), [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.status_code == 201 for r in responses) == 1
    assert await _scalar(clean_db, "SELECT count(*) FROM observations") == 50
    assert await _scalar(clean_db, "SELECT count(*) FROM raw_data_batches") == 1


async def test_resend_under_new_reference_is_duplicate_and_unchanged(
    client: httpx.AsyncClient, operator_headers: dict[str, str]
) -> None:
    sales = [
        {"sku": "ITEM-001", "date": "2024-01-02", "qty": 3, "order_id": "SO-1", "line": 1},
        {"sku": "ITEM-001", "date": "2024-01-03", "qty": 4, "order_id": "SO-2", "line": 1},
    ]
    body = {**ORIGINAL, "data": {"items": ORIGINAL["data"]["items"], "sales": sales}}
    first = (await client.post("/api/v1/ingest", json=body, headers=operator_headers)).json()
    assert (first["inserted"], first["unchanged"]) == (3, 0)
    second = (
        await client.post(
            "/api/v1/ingest", json={**body, "batch_reference": "resend"}, headers=operator_headers
        )
    ).json()
    assert second["duplicate_of"] == first["id"]
    assert (second["received"], second["inserted"], second["updated"]) == (3, 0, 0)
    assert second["unchanged"] == 3
    sales[1]["qty"] = 40
    third = (
        await client.post(
            "/api/v1/ingest",
            json={**body, "batch_reference": "corrected", "data": {"sales": sales}},
            headers=operator_headers,
        )
    ).json()
    assert third["duplicate_of"] is None
    assert (third["inserted"], third["updated"], third["unchanged"]) == (0, 1, 1)
    series = (
        await client.get(
            "/api/v1/items/ITEM-001/series/demand?period=monthly", headers=operator_headers
        )
    ).json()
    assert [p["value"] for p in series["points"]] == [43.0]


async def test_row_errors_are_reported_and_good_rows_applied(
    client: httpx.AsyncClient, operator_headers: dict[str, str], clean_db: Database
) -> None:
    body = {
        "source_type": "inventory",
        "source_id": "wms",
        "batch_reference": "b1",
        "data": {
            "items": [{"sku": "A-1", "name": "Alpha"}, {"name": "no sku"}],
            "inventory": [
                {"sku": "A-1", "location": "W1", "on_hand": 10},
                {"sku": "A-1", "location": "W2", "on_hand": -5},
                {"sku": "A-1", "location": "W3", "on_hand": "lots"},
                {"sku": "NOPE", "location": "W1", "on_hand": 1},
            ],
            "sales": [{"sku": "A-1", "date": "2999-01-01", "qty": 1}],
        },
    }
    r = await client.post("/api/v1/ingest", json=body, headers=operator_headers)
    assert r.status_code == 201
    batch = r.json()
    assert batch["status"] == "success"
    assert (batch["received"], batch["inserted"], batch["rejected"]) == (7, 2, 5)
    reasons = {(e["kind"], e["row"], e["field"]): e["reason"] for e in batch["errors"]}
    assert "is required" in reasons[("items", 2, "sku")]
    assert "must be >= 0" in reasons[("inventory", 2, "on_hand")]
    assert "not a number" in reasons[("inventory", 3, "on_hand")]
    assert "unknown sku 'NOPE'" in reasons[("inventory", 4, "sku")]
    assert "in the future" in reasons[("sales", 1, "date")]
    assert await _scalar(clean_db, "SELECT count(*) FROM inventory_snapshots") == 1


async def test_duplicate_skus_in_one_batch(
    client: httpx.AsyncClient, operator_headers: dict[str, str], clean_db: Database
) -> None:
    body = {
        **ORIGINAL,
        "data": {
            "items": [
                {"sku": "D-1", "name": "One"},
                {"sku": "D-2", "name": "Two"},
                {"sku": "D-1", "name": "Uno"},
                {"sku": "D-2", "name": "Two"},
            ]
        },
    }
    batch = (await client.post("/api/v1/ingest", json=body, headers=operator_headers)).json()
    assert (batch["inserted"], batch["unchanged"], batch["rejected"]) == (1, 1, 2)
    assert {(e["row"], e["field"]) for e in batch["errors"]} == {(1, "key"), (3, "key")}
    assert await _scalar(clean_db, "SELECT count(*) FROM manufacturing_items") == 1


async def test_a_database_failure_applies_nothing_and_retry_applies_all(
    client: httpx.AsyncClient, operator_headers: dict[str, str], clean_db: Database
) -> None:
    # A trigger stands in for the database refusing one row deep inside the apply.
    async with clean_db.transaction() as session:
        await session.execute(
            text(
                "CREATE OR REPLACE FUNCTION oc_test_refuse() RETURNS trigger AS $$ BEGIN "
                "IF NEW.on_hand = 666 THEN RAISE EXCEPTION 'refused by test'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
        )
        await session.execute(
            text(
                "CREATE TRIGGER oc_test_refuse BEFORE INSERT ON inventory_snapshots "
                "FOR EACH ROW EXECUTE FUNCTION oc_test_refuse()"
            )
        )
    body = {
        **ORIGINAL,
        "data": {
            "items": [{"sku": "T-1", "name": "T"}],
            "sales": [{"sku": "T-1", "date": "2024-01-01", "qty": 1}],
            "inventory": [{"sku": "T-1", "on_hand": 666}],
        },
    }
    try:
        r = await client.post("/api/v1/ingest", json=body, headers=operator_headers)
        assert r.status_code == 201
        failed = r.json()
        assert failed["status"] == "failed"
        assert "refused by test" in failed["error"]
        for table in ("manufacturing_items", "observations", "master_data_audits"):
            assert await _scalar(clean_db, f"SELECT count(*) FROM {table}") == 0
    finally:
        async with clean_db.transaction() as session:
            await session.execute(text("DROP TRIGGER oc_test_refuse ON inventory_snapshots"))
    retried = await client.post(f"/api/v1/batch/{failed['id']}/retry", headers=operator_headers)
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "success"
    assert retried.json()["attempts"] == 2
    assert await _scalar(clean_db, "SELECT count(*) FROM observations") == 2
    again = await client.post(f"/api/v1/batch/{failed['id']}/retry", headers=operator_headers)
    assert again.status_code == 409


async def test_expired_lease_turns_failed_and_is_retryable(
    client: httpx.AsyncClient, operator_headers: dict[str, str], clean_db: Database
) -> None:
    r = await client.post("/api/v1/ingest", json=ORIGINAL, headers=operator_headers)
    batch_id = r.json()["id"]
    # What a crash mid-apply leaves: processing, nothing applied, a lease in the past.
    async with clean_db.transaction() as session:
        await session.execute(text("TRUNCATE manufacturing_items CASCADE"))
        await session.execute(
            text(
                "UPDATE raw_data_batches SET status = 'processing', "
                "lease_expires_at = now() - interval '1 second' WHERE id = :id"
            ),
            {"id": batch_id},
        )
    got = (await client.get(f"/api/v1/batch/{batch_id}", headers=operator_headers)).json()
    assert got["status"] == "failed"
    assert "lease expired" in got["error"]
    health = (await client.get("/api/v1/ingest/health", headers=operator_headers)).json()
    assert [b["id"] for b in health["failed_batches"]] == [batch_id]
    retried = await client.post(f"/api/v1/batch/{batch_id}/retry", headers=operator_headers)
    assert retried.json()["status"] == "success"
    assert (await client.get("/api/v1/items/ITEM-001", headers=operator_headers)).status_code == 200


async def test_a_concurrent_writer_of_the_same_fact_does_not_fail_the_batch(
    client: httpx.AsyncClient, operator_headers: dict[str, str], clean_db: Database
) -> None:
    await client.post("/api/v1/ingest", json=ORIGINAL, headers=operator_headers)
    sale = {"sku": "ITEM-001", "date": "2024-01-02", "qty": 3, "order_id": "SO-9", "line": 1}
    async with clean_db.sessions() as other:
        # Another transaction holds an uncommitted insert of the same fact: our plain INSERT
        # waits for it, then meets the unique key and falls back to the upsert.
        await other.execute(
            text(
                "INSERT INTO observations (site, item_id, kind, obs_date, value, natural_key) "
                "SELECT 'main', id, 'demand', '2024-01-02', 5, 'r:SO-9:1' "
                "FROM manufacturing_items WHERE sku = 'ITEM-001'"
            )
        )
        body = {**ORIGINAL, "batch_reference": "race", "data": {"sales": [sale]}}
        task = asyncio.create_task(
            client.post("/api/v1/ingest", json=body, headers=operator_headers)
        )
        await asyncio.sleep(0.5)
        assert not task.done()
        await other.commit()
    batch = (await task).json()
    assert (batch["status"], batch["updated"], batch["inserted"]) == ("success", 1, 0)
    assert await _scalar(clean_db, "SELECT value FROM observations WHERE kind = 'demand'") == 3
