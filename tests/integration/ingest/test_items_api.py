"""The unified data API: items (create/update, audit history), inventory, series,
processes and external ids."""

from __future__ import annotations

import httpx

ITEM = {"sku": "ITEM-001", "name": "Component A", "uom": "EA", "standard_cost": 50.00,
        "supplier_name": "Supplier X"}  # fmt: skip


async def _ingest(client: httpx.AsyncClient, headers: dict[str, str], ref: str,
                  data: dict[str, object], **extra: object) -> dict[str, object]:  # fmt: skip
    body = {"source_type": "erp", "source_id": "erp_001", "batch_reference": ref, "data": data,
            **extra}  # fmt: skip
    r = await client.post("/api/v1/ingest", json=body, headers=headers)
    assert r.status_code == 201, r.text
    out: dict[str, object] = r.json()
    return out


async def test_original_item_example_and_history(
    client: httpx.AsyncClient, operator_headers: dict[str, str]
) -> None:
    r = await client.post("/api/v1/items", json=ITEM, headers=operator_headers)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["action"] == "inserted" and created["standard_cost"] == 50.0
    same = await client.post("/api/v1/items", json=ITEM, headers=operator_headers)
    assert same.status_code == 200 and same.json()["action"] == "unchanged"
    changed = await client.post(
        "/api/v1/items",
        json={"sku": "ITEM-001", "standard_cost": 55.5, "safety_stock": 20, "color": "blue"},
        headers=operator_headers,
    )
    assert changed.json()["action"] == "updated"
    assert changed.json()["name"] == "Component A"  # untouched fields are kept
    assert changed.json()["attributes"] == {"color": "blue"}
    assert changed.json()["sites"][0]["safety_stock"] == 20
    batch = await _ingest(client, operator_headers, "b1",
                          {"items": [{"sku": "ITEM-001", "name": "Component A2"}]})  # fmt: skip
    history = (await client.get("/api/v1/items/ITEM-001/history", headers=operator_headers)).json()
    items = [h for h in history if h["entity_type"] == "item"]
    assert [h["action"] for h in items] == ["update", "update", "create"]
    assert items[0]["before"]["name"] == "Component A"
    assert items[0]["after"]["name"] == "Component A2"
    assert items[0]["batch_id"] == batch["id"] and items[0]["batch_reference"] == "b1"
    assert items[1]["before"]["standard_cost"] == 50.0
    assert items[1]["after"]["standard_cost"] == 55.5
    assert items[1]["actor"] == "operator-user"
    assert [h["entity_key"] for h in history if h["entity_type"] == "item_site_params"] == [
        "ITEM-001@main"
    ]


async def test_item_reads_and_errors(
    client: httpx.AsyncClient, operator_headers: dict[str, str], viewer_headers: dict[str, str]
) -> None:
    assert (
        await client.post("/api/v1/items", json=ITEM, headers=viewer_headers)
    ).status_code == 403
    r = await client.post("/api/v1/items", json={"sku": "NEW-1"}, headers=operator_headers)
    assert r.status_code == 422 and r.json()["error"]["field"] == "name"
    r = await client.post("/api/v1/items", json={**ITEM, "standard_cost": -1},
                          headers=operator_headers)  # fmt: skip
    assert r.status_code == 422
    for sku in ("B-2", "A-1", "C-3"):
        await client.post("/api/v1/items", json={"sku": sku, "name": sku},
                          headers=operator_headers)  # fmt: skip
    page = (await client.get("/api/v1/items?limit=2", headers=viewer_headers)).json()
    assert [i["sku"] for i in page["items"]] == ["A-1", "B-2"] and page["next_after"] == "B-2"
    rest = (await client.get("/api/v1/items?after=B-2", headers=viewer_headers)).json()
    assert [i["sku"] for i in rest["items"]] == ["C-3"]
    missing = await client.get("/api/v1/items/NOPE", headers=viewer_headers)
    assert missing.status_code == 404


async def test_inventory_by_sku_or_id_latest_per_location(
    client: httpx.AsyncClient, operator_headers: dict[str, str]
) -> None:
    await _ingest(client, operator_headers, "s1", {
        "items": [{"sku": "ITEM-001", "name": "Component A"}],
        "inventory": [
            {"sku": "ITEM-001", "location": "W1", "on_hand": 10, "as_of": "2024-01-01"},
            {"sku": "ITEM-001", "location": "W1", "on_hand": 7, "allocated": 2,
             "as_of": "2024-01-02T08:00:00Z"},
            {"sku": "ITEM-001", "location": "W2", "on_hand": 5, "as_of": "2024-01-01"},
            {"sku": "ITEM-001", "location": "X9", "on_hand": 99, "site": "plant-b"},
        ],
    })  # fmt: skip
    by_sku = (await client.get("/api/v1/inventory/ITEM-001", headers=operator_headers)).json()
    assert by_sku["on_hand"] == 7 + 5 + 99 and by_sku["available"] == by_sku["on_hand"] - 2
    assert len(by_sku["history"]) == 4
    by_id = (
        await client.get(f"/api/v1/inventory/{by_sku['item_id']}?site=main",
                         headers=operator_headers)
    ).json()  # fmt: skip
    assert {(s["location"], s["on_hand"]) for s in by_id["locations"]} == {("W1", 7), ("W2", 5)}
    series = (
        await client.get("/api/v1/items/ITEM-001/series/inventory?period=daily&site=main",
                         headers=operator_headers)
    ).json()  # fmt: skip
    assert [(p["period_start"], p["value"]) for p in series["points"]] == [
        ("2024-01-01", 15.0), ("2024-01-02", 7.0)]  # fmt: skip


async def test_quality_rate_is_weighted_and_gaps_stay_missing(
    client: httpx.AsyncClient, operator_headers: dict[str, str]
) -> None:
    await _ingest(client, operator_headers, "q1", {
        "items": [{"sku": "G-1", "name": "Gasket"}],
        "quality": [
            {"sku": "G-1", "date": "2024-01-03", "inspected": 100, "defects": 1, "lot": "L1"},
            {"sku": "G-1", "date": "2024-01-20", "inspected": 900, "defects": 99, "lot": "L2"},
            {"sku": "G-1", "date": "2024-03-05", "inspected": 10, "defect_rate": 0.5, "lot": "L3"},
        ],
        "sales": [{"sku": "G-1", "date": "2024-01-05", "qty": 4},
                  {"sku": "G-1", "date": "2024-03-05", "qty": 6}],
    }, source_type="quality")  # fmt: skip
    q = (await client.get("/api/v1/items/G-1/series/quality", headers=operator_headers)).json()
    assert [(p["period_start"], p["rate"]) for p in q["points"]] == [
        ("2024-01-01", 0.1), ("2024-03-01", 0.5)]  # fmt: skip
    assert q["points"][0]["weight"] == 1000
    d = (await client.get("/api/v1/items/G-1/series/demand", headers=operator_headers)).json()
    assert [p["value"] for p in d["points"]] == [4.0, 0.0, 6.0]


async def test_processes_and_costs(
    client: httpx.AsyncClient, operator_headers: dict[str, str]
) -> None:
    batch = await _ingest(client, operator_headers, "p1", {
        "items": [{"sku": "G-1", "name": "Gasket", "standard_cost": 1.0}],
        "processes": [{"code": "CUT-01", "name": "Cut gaskets", "sku": "G-1",
                       "steps": "punch; deburr", "cycle_time_minutes": 1.5, "yield_pct": 98}],
        "costs": [{"sku": "G-1", "standard_cost": 1.2, "effective_date": "2024-02-01"},
                  {"sku": "G-1", "standard_cost": 1.1, "effective_date": "2024-01-01"},
                  {"sku": "NOPE", "standard_cost": 3}],
    }, source_type="accounting")  # fmt: skip
    assert (batch["inserted"], batch["updated"], batch["unchanged"], batch["rejected"]) == (
        2, 2, 0, 1)  # fmt: skip
    item = (await client.get("/api/v1/items/G-1", headers=operator_headers)).json()
    assert item["standard_cost"] == 1.2
    proc = (await client.get("/api/v1/processes/CUT-01", headers=operator_headers)).json()
    assert proc["steps"] == ["punch", "deburr"] and proc["sku"] == "G-1"
    r = await client.post("/api/v1/processes", json={"code": "CUT-01", "yield_pct": 97},
                          headers=operator_headers)  # fmt: skip
    assert r.status_code == 200 and r.json()["action"] == "updated"
    listed = (await client.get("/api/v1/processes?sku=G-1", headers=operator_headers)).json()
    assert [p["code"] for p in listed] == ["CUT-01"]


SALE_777 = {"SalesDoc": "9", "DocItem": "1", "ItemNo": "777", "ShipDate": "02.01.2024",
            "QtyShipped": "3", "UoM": "EA"}  # fmt: skip


async def test_unmapped_external_ids_are_reported_then_mapped(
    client: httpx.AsyncClient, operator_headers: dict[str, str], admin_headers: dict[str, str],
    tmp_path: object,
) -> None:  # fmt: skip
    await _ingest(client, operator_headers, "m0", {"items": [{"sku": "OURS-1", "name": "Ours"}]})
    body = {"source_type": "erp", "source_id": "legacy_erp", "batch_reference": "m1",
            "mapping": "legacy_erp",
            "data": {"sales": [SALE_777]}}  # fmt: skip
    first = (await client.post("/api/v1/ingest", json=body, headers=operator_headers)).json()
    assert (
        first["status"] == "failed" and "no mapping in legacy_erp" in first["errors"][0]["reason"]
    )
    health = (await client.get("/api/v1/ingest/health", headers=operator_headers)).json()
    assert [u["external_id"] for u in health["unmapped_ids"]] == ["777"]
    assert health["status"] == "attention"
    r = await client.put("/api/v1/external-mappings",
                         json={"system": "legacy_erp", "external_id": "777", "sku": "OURS-1"},
                         headers=admin_headers)  # fmt: skip
    assert r.status_code == 200 and r.json()["sku"] == "OURS-1"
    second = (
        await client.post("/api/v1/ingest", json={**body, "batch_reference": "m2"},
                          headers=operator_headers)
    ).json()  # fmt: skip
    assert second["status"] == "success" and second["inserted"] == 1
    mapped = (
        await client.get("/api/v1/external-mappings?q=OURS-1", headers=operator_headers)
    ).json()
    assert [m["external_id"] for m in mapped] == ["777"]
    health = (await client.get("/api/v1/ingest/health", headers=operator_headers)).json()
    assert health["unmapped_total"] == 0


async def test_sources_register_and_go_stale(
    client: httpx.AsyncClient, operator_headers: dict[str, str], admin_headers: dict[str, str]
) -> None:
    r = await client.post("/api/v1/ingest/sources", json={
        "source_id": "mes_line_4", "source_type": "mes", "expected_interval_minutes": 60},
        headers=admin_headers)  # fmt: skip
    assert r.status_code == 201 and r.json()["stale"] is True
    await _ingest(client, operator_headers, "x1", {"items": [{"sku": "A", "name": "A"}]})
    health = (await client.get("/api/v1/ingest/health", headers=operator_headers)).json()
    assert health["stale_sources"] == ["mes_line_4"]
    assert {s["source_id"]: s["stale"] for s in health["sources"]} == {
        "erp_001": False, "mes_line_4": True}  # fmt: skip
    names = (await client.get("/api/v1/ingest/mappings", headers=operator_headers)).json()
    assert "legacy_erp" in names
