"""The HNSW breadth a search asks for is the one its k-NN runs with: set once on an idle
pooled connection (outliving the session's transaction), or for the transaction when the
session is already inside one; and the items a search answers with are the session's own."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from opscopilot.core.settings import reset_settings
from opscopilot.store.engine import Database
from opscopilot.store.models import ManufacturingItem
from opscopilot.store.search import search_items
from opscopilot.store.vectors import set_search_depth
from tests.integration.search.conftest import AddItems

SHOW = text("SELECT current_setting('hnsw.ef_search'), current_setting('hnsw.iterative_scan')")


async def test_the_breadth_holds_on_an_idle_connection_and_inside_a_transaction(
    db: Database,
) -> None:
    async with db.engine.connect() as conn:
        async with db.sessions(bind=conn) as session:
            await set_search_depth(session, ef_search=123)
            assert tuple((await session.execute(SHOW)).one()) == ("123", "relaxed_order")
        # the next session on the same connection keeps it without asking again
        async with db.sessions(bind=conn) as session:
            await set_search_depth(session, ef_search=123)
            assert (await session.execute(SHOW)).one()[0] == "123"
    async with db.sessions() as session:
        await session.execute(text("SELECT 1"))  # the transaction has begun
        await set_search_depth(session, ef_search=77)
        assert (await session.execute(SHOW)).one()[0] == "77"


async def test_a_search_runs_at_the_configured_breadth(
    clean_db: Database, add_items: AddItems, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_items([{"sku": "GSK-50-ACME", "name": "Gasket 50mm EPDM"}])
    monkeypatch.setenv("OPSCOPILOT_INGEST__SEARCH_EF_SEARCH", "321")
    reset_settings()
    try:
        async with clean_db.sessions() as session:
            await session.execute(text("SELECT 1"))  # inside a transaction: set for it
            assert [h.item.sku for h in await search_items(session, query="gasket")] == [
                "GSK-50-ACME"
            ]
            assert (await session.execute(SHOW)).one()[0] == "321"
            # an explicit breadth wins over the setting
            await search_items(session, query="gasket", ef_search=222)
            assert (await session.execute(SHOW)).one()[0] == "222"
    finally:
        monkeypatch.delenv("OPSCOPILOT_INGEST__SEARCH_EF_SEARCH")
        reset_settings()


async def test_hits_are_the_sessions_items(clean_db: Database, add_items: AddItems) -> None:
    await add_items(
        [
            {"sku": "GSK-50-ACME", "name": "Gasket 50mm EPDM", "supplier_name": "Acme Seals"},
            {"sku": "GSK-60-ACME", "name": "Gasket 60mm EPDM", "supplier_name": "Acme Seals"},
        ]
    )
    async with clean_db.sessions() as session:
        loaded = await session.scalar(
            select(ManufacturingItem).where(ManufacturingItem.sku == "GSK-50-ACME")
        )
        hits = await search_items(session, query="gasket 50mm acme")
        assert hits[0].item is loaded
        other = next(h.item for h in hits if h.item.sku == "GSK-60-ACME")
        assert other.name == "Gasket 60mm EPDM" and other.supplier_name == "Acme Seals"
        assert other in session and other not in session.dirty
        other.name = "Gasket 60mm FKM"  # an item from search is written like any other
        await session.commit()
    async with clean_db.sessions() as session:
        renamed = await session.scalar(
            select(ManufacturingItem.name).where(ManufacturingItem.sku == "GSK-60-ACME")
        )
        assert renamed == "Gasket 60mm FKM"
