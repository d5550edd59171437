"""Item search channels: SKU, external ids, fuzzy vectors, sites; and the HNSW index use."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from opscopilot.store.engine import Database
from opscopilot.store.models import (
    ExternalMapping,
    InventorySnapshot,
    ItemSiteParams,
    ManufacturingItem,
)
from opscopilot.store.search import search_items
from opscopilot.store.vectors import knn_sql, query_param, set_search_depth
from tests.fixtures.catalog import generate_catalog
from tests.integration.search.conftest import AddItems


async def load(add_items: AddItems, n: int = 400) -> list[ManufacturingItem]:
    return await add_items([c.record() for c in generate_catalog(n)])


async def skus(db: Database, query: str, **kw: object) -> list[str]:
    async with db.session() as s:
        return [h.item.sku for h in await search_items(s, query=query, **kw)]  # type: ignore[arg-type]


async def test_sku_as_typed_compact_prefix_and_inside_a_query(
    clean_db: Database, add_items: AddItems
) -> None:
    await load(add_items)
    async with clean_db.session() as s:
        exact = await search_items(s, query="brg-50421", limit=3)
    assert exact[0].item.sku == "BRG-50421" and exact[0].matched == "sku"
    assert (await skus(clean_db, "BRG50421"))[0] == "BRG-50421"
    assert (await skus(clean_db, "skf bearing BRG-50421"))[0] == "BRG-50421"
    assert (await skus(clean_db, "GSK-102", limit=5))[0] == "GSK-10234"
    # every SKU that starts with what was typed comes before anything found otherwise
    prefixed = await skus(clean_db, "BRG-5", limit=8)
    assert len(prefixed) == 8
    assert all(sku.startswith("BRG-5") for sku in prefixed)
    # LIKE wildcards typed by a user are literal characters
    assert "GSK-10234" not in await skus(clean_db, "GSK-1_234", limit=5)


async def test_an_external_system_id_finds_the_item(
    clean_db: Database, add_items: AddItems
) -> None:
    (item,) = await add_items([{"sku": "VLV-9", "name": "Ball valve 1/2in brass"}])
    async with clean_db.transaction() as s:
        s.add(ExternalMapping(system="erp_sap", entity_type="item", external_id="100-4711",
                              internal_id=item.id))  # fmt: skip
    async with clean_db.session() as s:
        (hit,) = await search_items(s, query="100-4711", limit=1)
    assert (hit.item.sku, hit.matched) == ("VLV-9", "sku")


async def test_words_misspellings_and_suppliers_rank_the_right_item_first(
    clean_db: Database, add_items: AddItems
) -> None:
    await load(add_items)
    async with clean_db.session() as s:
        hits = await search_items(s, query="gaskit acme 50 mm", limit=5)
    assert hits[0].item.sku == "GSK-10234"
    assert hits[0].matched == "fuzzy"
    assert hits[0].score > hits[1].score
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert (await skus(clean_db, "presure transmiter 10 bar wika", limit=3))[0] == "SEN-80314"
    assert await skus(clean_db, "   ") == []


async def test_sites_see_their_items_and_the_unclaimed_ones(
    clean_db: Database, add_items: AddItems
) -> None:
    north, south, free = await add_items(
        [
            {"sku": "GSK-N", "name": "Flat gasket EPDM 80 x 3 mm"},
            {"sku": "GSK-S", "name": "Flat gasket EPDM 80 x 2 mm"},
            {"sku": "GSK-F", "name": "Flat gasket EPDM 80 x 4 mm"},
        ]  # fmt: skip
    )
    async with clean_db.transaction() as s:
        s.add(ItemSiteParams(item_id=north.id, site="north", safety_stock=10))
        s.add(InventorySnapshot(item_id=south.id, site="south", location="A1", on_hand=5,
                                as_of=datetime.now(UTC)))  # fmt: skip
    query = "epdm gasket 80"
    assert set(await skus(clean_db, query)) == {"GSK-N", "GSK-S", "GSK-F"}
    assert set(await skus(clean_db, query, sites=("north",))) == {"GSK-N", "GSK-F"}
    assert set(await skus(clean_db, query, sites=("south", "east"))) == {"GSK-S", "GSK-F"}
    # the SKU channel obeys the sites too
    assert "GSK-S" not in await skus(clean_db, "GSK-S", sites=("north",))


async def test_vector_queries_are_served_by_the_partial_hnsw_index(
    clean_db: Database, add_items: AddItems
) -> None:
    await load(add_items, 200)
    sql = knn_sql(model="hash-ngram-256", dim=256, entity_type="item")
    params = {query_param("hash-ngram-256"): [0.0625] * 256, "k": 10}
    async with clean_db.transaction() as s:
        await set_search_depth(s, ef_search=100)
        # a tiny table is cheaper to sort than to walk; forbid the sort to see the index fit
        await s.execute(text("SET LOCAL enable_sort = off"))
        plan = "\n".join(r[0] for r in await s.execute(text("EXPLAIN " + sql), params))
        assert "ix_embeddings_hnsw_hash_ngram_256" in plan
        exact = knn_sql(model="hash-ngram-256", dim=256, entity_type="item", exact=True)
        plan = "\n".join(r[0] for r in await s.execute(text("EXPLAIN " + exact), params))
        assert "hnsw" not in plan and "Sort" in plan


async def test_index_and_exact_scan_agree_on_a_small_catalogue(
    clean_db: Database, add_items: AddItems
) -> None:
    await load(add_items, 300)
    for query in ("skf 6204 2rs", "hex bolt m8x30 stainless", "optibelt spa 1250"):
        ann = await skus(clean_db, query, limit=5)
        exact = await skus(clean_db, query, limit=5, exact=True)
        # equal distances may come back in either order: the same best, nearly the same five
        assert ann[0] == exact[0]
        assert len(set(ann) & set(exact)) >= 4


async def test_a_deleted_item_leaves_no_hit(clean_db: Database, add_items: AddItems) -> None:
    (item,) = await add_items([{"sku": "GSK-D", "name": "Flat gasket cork 60 x 2 mm"}])
    async with clean_db.transaction() as s:
        await s.delete(await s.get(ManufacturingItem, item.id))
    assert await skus(clean_db, "cork gasket 60") == []
