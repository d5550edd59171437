"""pg_trgm is used only where the server has it; the embedded server has not."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from opscopilot.store.engine import Database
from opscopilot.store.item_candidates import TRIGRAM_INDEX, trigram_available
from opscopilot.store.search import search_items
from tests.integration.search.conftest import AddItems


async def test_detection_matches_the_server(clean_db: Database) -> None:
    async with clean_db.session() as s:
        installed = await s.scalar(
            text("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")
        )
        assert await trigram_available(s) is bool(installed)


async def test_the_trigram_channel_where_the_extension_exists(
    clean_db: Database, add_items: AddItems
) -> None:
    async with clean_db.session() as s:
        if not await trigram_available(s):
            pytest.skip("this server has no pg_trgm (the embedded default): channel unused")
    await add_items([{"sku": "GSK-T", "name": "Flat gasket EPDM 65 x 3 mm"}])
    async with clean_db.session() as s:
        assert await s.scalar(
            text("SELECT 1 FROM pg_indexes WHERE indexname = :n"), {"n": TRIGRAM_INDEX}
        )
        (hit,) = await search_items(s, query="gaskte epdm 65", limit=1)
    assert (hit.item.sku, hit.matched) == ("GSK-T", "fuzzy")
