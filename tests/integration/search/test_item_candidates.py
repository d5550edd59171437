"""The candidate statement of item search: a row found by SKU carries its item's terms,
read from the item's fuzzy row only for such rows."""

from __future__ import annotations

from sqlalchemy import text

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
        # no vector channel: the only rows are the SKU channels', which read no vectors
        found = await fetch_candidates(
            session, query="gsk-50-acme", vectors={}, k=40, ef_search=40, sites=None,
            exact=False,
        )  # fmt: skip
    assert stored["GSK-50-ACME"]
    assert sorted((c.channel, c.sku, c.terms) for c in found) == [
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
