"""Vectors are written on item writes, skipped when unchanged, and indexed per model."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.store import vectors
from opscopilot.store.engine import Database
from opscopilot.store.models import Embedding, ManufacturingItem
from opscopilot.store.search import ItemIndexBatch, index_items, search_items
from tests.integration.search.conftest import AddItems

GASKET = {"sku": "GSK-1", "name": "Flat gasket NBR 50 x 3 mm", "supplier_name": "ACME Seals",
          "description": "Flat ring gasket, NBR", "attributes": {"material": "NBR"}}  # fmt: skip
BEARING = {"sku": "BRG-1", "name": "Deep groove ball bearing 6204-2RS", "supplier_name": "SKF"}


async def vectors_of(db: Database) -> dict[tuple[str, str], str]:
    async with db.session() as s:
        rows = await s.execute(
            select(ManufacturingItem.sku, Embedding.model, Embedding.content_hash).join(
                ManufacturingItem, ManufacturingItem.id == Embedding.entity_id
            )
        )
        return {(sku, model): h for sku, model, h in rows}


async def test_item_writes_get_vectors_and_unchanged_text_is_skipped(
    clean_db: Database, add_items: AddItems
) -> None:
    await add_items([GASKET, BEARING])
    before = await vectors_of(clean_db)
    assert set(before) == {("GSK-1", "hash-ngram-256"), ("BRG-1", "hash-ngram-256")}
    async with clean_db.transaction() as s:
        items = list(await s.scalars(select(ManufacturingItem).order_by(ManufacturingItem.sku)))
        # as loaded back (JSONB reorders attribute keys): nothing to do
        assert await index_items(s, items=items) == 0
        gasket = next(i for i in items if i.sku == "GSK-1")
        gasket.description = "Flat ring gasket, nitrile rubber"  # prose: not in the fuzzy text
        assert await index_items(s, items=items) == 0
        # ... but in the ranking terms, updated in place
        terms = await s.scalar(select(Embedding.terms).where(Embedding.entity_id == gasket.id))
        assert terms is not None and "rubber" in terms
        gasket.name = "Flat gasket NBR 50 x 2 mm"
        assert await index_items(s, items=items) == 1
    after = await vectors_of(clean_db)
    assert after[("GSK-1", "hash-ngram-256")] != before[("GSK-1", "hash-ngram-256")]
    assert after[("BRG-1", "hash-ngram-256")] == before[("BRG-1", "hash-ngram-256")]


async def test_a_new_model_gets_its_own_partial_hnsw_index_beside_the_old_vectors(
    clean_db: Database, add_items: AddItems, drop_runtime_indexes: None
) -> None:
    await add_items([GASKET, BEARING], model="hash-ngram-64")
    assert set(await vectors_of(clean_db)) == {
        (sku, model) for sku in ("GSK-1", "BRG-1") for model in ("hash-ngram-256", "hash-ngram-64")
    }
    async with clean_db.session() as s:
        definition = await s.scalar(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"),
            {"n": "ix_embeddings_hnsw_hash_ngram_64"},
        )
        assert definition is not None
        assert "vector(64)" in definition and "'hash-ngram-64'" in definition
        assert "m='24'" in definition.replace(" ", "")
        hits = await search_items(s, query="gasket acme", model="hash-ngram-64")
    assert hits[0].item.sku == "GSK-1"
    assert hits[0].matched == "semantic"  # the configured model is not the fuzzy one here


async def test_a_bulk_load_rebuilds_the_index_after_writing(
    clean_db: Database, add_items: AddItems, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vectors, "BULK_REBUILD_MIN", 5)
    await add_items(
        [
            {"sku": f"ORG-{n}", "name": f"O-ring {n} x 2 mm NBR", "supplier_name": "Parker"}
            for n in range(10, 20)
        ]  # fmt: skip
    )
    async with clean_db.session() as s:
        valid = await s.scalar(
            text(
                "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE c.relname = 'ix_embeddings_hnsw_hash_ngram_256'"
            )
        )
        assert valid is True
        hits = await search_items(s, query="oring 17 x 2 parker", limit=3)
    assert hits[0].item.sku == "ORG-17"


async def _index_oid(s: AsyncSession) -> int | None:
    oid = await s.scalar(
        text("SELECT oid FROM pg_class WHERE relname = 'ix_embeddings_hnsw_hash_ngram_256'")
    )
    return None if oid is None else int(oid)


async def test_a_batch_indexes_its_chunks_at_once_and_only_what_changed(
    clean_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # chunks of 4 items each stay under the bulk size; the batch of 8 does not
    monkeypatch.setattr(vectors, "BULK_REBUILD_MIN", 6)
    monkeypatch.setattr(vectors, "UPSERT_CHUNK", 3)  # several embed + write rounds
    records = [
        {"sku": f"VLV-{n}", "name": f"Ball valve DN{n} brass", "supplier_name": "Festo"}
        for n in (10, 15, 20, 25, 32, 40, 50, 65)
    ]  # fmt: skip
    async with clean_db.transaction() as s:
        before = await _index_oid(s)
        batch = ItemIndexBatch()
        for start in (0, 4):
            chunk = [ManufacturingItem(**r) for r in records[start : start + 4]]
            s.add_all(chunk)
            await s.flush()
            batch.add(chunk)
        assert len(batch) == 8
        assert await batch.flush(s) == 8
        assert len(batch) == 0
        rebuilt = await _index_oid(s)
    assert rebuilt is not None and rebuilt != before  # built once, for the whole batch
    async with clean_db.transaction() as s:
        items = list(await s.scalars(select(ManufacturingItem)))
        again = ItemIndexBatch()
        again.add(items)
        assert await again.flush(s) == 0  # nothing changed: nothing embedded or written
        valve = next(i for i in items if i.sku == "VLV-25")
        valve.name = "Ball valve DN25 stainless"
        again.add(items)
        assert await again.flush(s) == 1
        assert await _index_oid(s) == rebuilt  # one changed item goes into the graph
    assert len(await vectors_of(clean_db)) == 8
    async with clean_db.session() as s:
        hits = await search_items(s, query="ball valve dn25 stainles", limit=1)
    assert hits[0].item.sku == "VLV-25"


async def test_vectors_must_have_the_model_size(clean_db: Database) -> None:
    async with clean_db.transaction() as s:
        item = ManufacturingItem(sku="X-1", name="x")
        s.add(item)
        await s.flush()
        with pytest.raises(DBAPIError, match="expected 256 dimensions"):
            await s.execute(
                text(
                    "INSERT INTO embeddings (id, entity_type, entity_id, model, content_hash, "
                    "embedding) VALUES (gen_random_uuid(), 'item', :id, 'hash-ngram-256', 'h', "
                    "'[1,2,3]')"
                ),
                {"id": item.id},
            )
        await s.rollback()


async def test_index_builds_are_not_cut_short_by_the_request_statement_timeout(
    clean_db: Database,
) -> None:
    async with clean_db.transaction() as s:
        await s.execute(text("SET LOCAL statement_timeout = '50ms'"))
        with pytest.raises(DBAPIError, match="statement timeout"):
            async with s.begin_nested():
                await s.execute(text("SELECT pg_sleep(0.3)"))
        # what an index build goes through: the same 0.3 s passes, and the timeout is back
        await vectors._execute_unbounded(s, "SELECT pg_sleep(0.3)")
        assert await s.scalar(text("SELECT current_setting('statement_timeout')")) == "50ms"
