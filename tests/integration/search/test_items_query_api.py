"""GET /api/v1/items?q= answers each hit with its planning parameters at the caller's sites,
read in the search's own round trip: the same as GET /api/v1/items/{sku} shows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from opscopilot.store.engine import Database

ITEMS: list[dict[str, Any]] = [
    {"sku": "VLV-2040", "name": "Ball valve brass 1 inch", "supplier_name": "Acme",
     "site": "north", "lead_time_days": 5.5, "safety_stock": 12},
    {"sku": "VLV-2040", "site": "south", "lead_time_days": 9.25, "reorder_point": 30.1},
    {"sku": "VLV-2041", "name": "Ball valve steel 2 inch", "supplier_name": "Acme",
     "site": "south", "lead_time_std_days": 1.75},
    {"sku": "VLV-2042", "name": "Ball valve steel 3 inch", "supplier_name": "Acme"},
]  # fmt: skip


async def _seed(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    for body in ITEMS:
        res = await client.post("/api/v1/items", json=body, headers=admin)
        assert res.status_code in (200, 201), res.text


async def _search(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    res = await client.get("/api/v1/items", params={"q": "ball valve", "limit": 10},
                           headers=headers)  # fmt: skip
    assert res.status_code == 200, res.text
    body: dict[str, Any] = res.json()
    assert [m["item"] for m in body["matches"]] == body["items"]
    return body


async def test_search_hits_carry_the_sites_parameters_get_item_shows(
    client: httpx.AsyncClient, clean_db: Database, admin_headers: dict[str, str]
) -> None:
    await _seed(client, admin_headers)
    body = await _search(client, admin_headers)
    by_sku = {i["sku"]: i for i in body["items"]}
    assert set(by_sku) == {"VLV-2040", "VLV-2041", "VLV-2042"}
    for sku, item in by_sku.items():
        single = (await client.get(f"/api/v1/items/{sku}", headers=admin_headers)).json()
        assert item == single
    assert [s["site"] for s in by_sku["VLV-2040"]["sites"]] == ["north", "south"]
    north, south = by_sku["VLV-2040"]["sites"]
    assert (north["lead_time_days"], north["safety_stock"]) == (5.5, 12)
    assert (south["lead_time_days"], south["reorder_point"]) == (9.25, 30.1)
    assert by_sku["VLV-2041"]["sites"][0]["lead_time_std_days"] == 1.75
    assert by_sku["VLV-2042"]["sites"] == []


async def test_a_site_limited_caller_sees_only_its_sites_parameters(
    client: httpx.AsyncClient,
    clean_db: Database,
    admin_headers: dict[str, str],
    key_factory: Callable[..., Awaitable[dict[str, str]]],
) -> None:
    await _seed(client, admin_headers)
    north = await key_factory("viewer", "nora", ["north"])
    body = await _search(client, north)
    by_sku = {i["sku"]: i for i in body["items"]}
    # south's own item is not theirs; the unclaimed one is everyone's
    assert set(by_sku) == {"VLV-2040", "VLV-2042"}
    assert [s["site"] for s in by_sku["VLV-2040"]["sites"]] == ["north"]
    single = (await client.get("/api/v1/items/VLV-2040", headers=north)).json()
    assert by_sku["VLV-2040"] == single
