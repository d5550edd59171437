"""The candidate statement of item search: a row found by SKU carries its item's terms,
read from the item's fuzzy row only for such rows; the term channel finds items by a
rare word of the query."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.store import item_candidates
from opscopilot.store.driver import fetch_records, positional
from opscopilot.store.engine import Database
from opscopilot.store.item_candidates import fetch_candidates
from opscopilot.store.models.search import FUZZY_EMBEDDING_MODEL
from opscopilot.store.vectors import query_vectors
from tests.integration.search.conftest import AddItems

GASKETS = [
    {"sku": "GSK-50-ACME", "name": "Gasket 50mm EPDM", "supplier_name": "Acme Seals"},
    {"sku": "GSK-60-ACME", "name": "Gasket 60mm EPDM", "supplier_name": "Acme Seals"},
]


async def terms_of(db: Database) -> dict[str, list[str]]:
    async with db.session() as session:
        rows = await session.execute(
            text(
                "SELECT i.sku, e.terms FROM embeddings e JOIN manufacturing_items i "
                "ON i.id = e.entity_id WHERE e.model = :m"
            ),
            {"m": FUZZY_EMBEDDING_MODEL},
        )
        return {sku: terms for sku, terms in rows}


async def test_a_sku_row_carries_the_terms_of_its_items_fuzzy_row(
    clean_db: Database, add_items: AddItems
) -> None:
    await add_items(GASKETS)
    stored = await terms_of(clean_db)
    async with clean_db.session() as session:
        # no vector channel: the SKU channels' rows read no vectors
        found = await fetch_candidates(
            session, query="gsk-50-acme", vectors={}, k=40, ef_search=40, sites=None,
            exact=False,
        )  # fmt: skip
    assert stored["GSK-50-ACME"]
    assert sorted((c.channel, c.sku, c.terms) for c in found if c.channel != "term") == [
        ("sku", "GSK-50-ACME", stored["GSK-50-ACME"]),
        ("sku_prefix", "GSK-50-ACME", stored["GSK-50-ACME"]),
    ]


async def test_every_channel_row_has_its_items_terms_and_row(
    clean_db: Database, add_items: AddItems
) -> None:
    await add_items(GASKETS)
    stored = await terms_of(clean_db)
    query = "GSK-60-ACME gasket"
    async with clean_db.session() as session:
        found = await fetch_candidates(
            session, query=query, vectors=await query_vectors(query, [FUZZY_EMBEDDING_MODEL]),
            k=40, ef_search=40, sites=None, exact=False,
        )  # fmt: skip
    assert {(c.channel, c.sku) for c in found} >= {
        ("sku", "GSK-60-ACME"), ("fuzzy", "GSK-60-ACME"), ("fuzzy", "GSK-50-ACME"),
    }  # fmt: skip
    assert all(c.terms == stored[c.sku] for c in found)


async def test_the_term_channel_finds_items_by_a_rare_word_of_the_query(
    clean_db: Database, add_items: AddItems, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(item_candidates, "COMMON_TERM_ROWS", 10)  # 1,000 in a real plant
    # thirty gaskets that differ only by a part number: "gasket" and "acme" are common
    await add_items(
        [{"sku": f"GSK-{n}", "name": f"Gasket EPDM PN{n:03d}", "supplier_name": "Acme Seals"}
         for n in range(30)]
    )  # fmt: skip
    async with clean_db.transaction() as session:
        await session.execute(text("ANALYZE embeddings"))
    # a cache of its own: the statistics cached so far predate ANALYZE, and what it reads with
    # a threshold of 10 must not outlive the test
    monkeypatch.setattr(item_candidates, "_common", {})
    async with clean_db.session() as session:
        assert {"gasket", "acme"} <= await item_candidates.common_terms(session)
        found = await fetch_candidates(
            session, query="acme gasket pn017", vectors={}, k=40, ef_search=40, sites=None,
            exact=False,
        )  # fmt: skip
    assert [(c.channel, c.sku) for c in found] == [("term", "GSK-17")]


def _nodes(node: dict[str, Any]) -> Iterator[tuple[str, int]]:
    yield node["Node Type"], node["Actual Loops"]
    for child in node.get("Plans", []):
        yield from _nodes(child)


async def test_each_channel_runs_once_when_the_items_statistics_say_empty(
    clean_db: Database, add_items: AddItems, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A first load into a table last analysed empty: the planner takes the items for one row
    # and may loop over them with the channels inside; each channel must still run once.
    await add_items(
        [{"sku": f"GSK-{n}", "name": f"Gasket EPDM PN{n:03d}", "supplier_name": "Acme Seals"}
         for n in range(300)]
    )  # fmt: skip
    seen: list[tuple[str, dict[str, Any]]] = []

    async def capture(session: AsyncSession, sql: str, params: dict[str, Any]) -> Any:
        seen.append((sql, params))
        return await fetch_records(session, sql, params)

    monkeypatch.setattr(item_candidates, "fetch_records", capture)
    async with clean_db.transaction() as session:
        await session.execute(
            text(
                "UPDATE pg_class SET reltuples = 0, relpages = 1 "
                "WHERE oid = 'manufacturing_items'::regclass"
            )
        )
    try:
        async with clean_db.session() as session:
            vectors = await query_vectors("gasket pn017 gsk-17", [FUZZY_EMBEDDING_MODEL])
            await fetch_candidates(
                session, query="gasket pn017 gsk-17", vectors=vectors, k=40, ef_search=40,
                sites=None, exact=False,
            )  # fmt: skip
            (sql, params), *_ = seen
            conn = await session.connection()
            statement, names = positional(sql, conn.dialect)
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None
            explained = await driver.fetchval(
                f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", *(params[n] for n in names)
            )  # the engine's driver may decode json itself
            (plan,) = json.loads(explained) if isinstance(explained, str) else explained
    finally:
        async with clean_db.transaction() as session:
            await session.execute(text("ANALYZE manufacturing_items"))
    # the channels are the parts of one UNION ALL: it runs once, not once per item
    unions = [loops for node, loops in _nodes(plan["Plan"]) if node == "Append"]
    assert unions == [1], unions
