"""The generated catalogue and its labelled queries are what the quality test claims."""

from __future__ import annotations

from collections import Counter

from tests.fixtures.catalog import generate_catalog
from tests.fixtures.catalog_labels import ANCHORS, QUERIES


def test_catalogue_is_deterministic_unique_and_keeps_anchors_unambiguous() -> None:
    first = generate_catalog(3000)
    assert [i.sku for i in first] == [i.sku for i in generate_catalog(3000)]
    assert len({i.sku for i in first}) == len(first) == 3000
    anchor_keys = set().union(*(a.clash_keys() for a in ANCHORS))
    generated = first[len(ANCHORS) :]
    assert not any(i.clash_keys() & anchor_keys for i in generated)
    # near misses exist: the same kind and size as an anchor from someone else
    anchor_kind_size = {(a.kind, a.primary) for a in ANCHORS}
    assert sum((i.kind, i.primary) in anchor_kind_size for i in generated) > 20
    assert sum(i.name.isupper() for i in generated) > 500  # ERP-style terse texts


def test_labelled_set_covers_every_kind_of_query() -> None:
    assert len(QUERIES) >= 50
    skus = {a.sku for a in ANCHORS}
    assert all(q.sku in skus for q in QUERIES)
    kinds = Counter(q.kind for q in QUERIES)
    assert set(kinds) == {"misspelling", "abbreviation", "supplier", "partial", "erp", "sku"}
    assert min(kinds.values()) >= 3
