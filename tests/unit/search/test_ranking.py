"""Coverage with typo tolerance, and rank fusion."""

from __future__ import annotations

from opscopilot.store.ranking import (
    UNIT_WEIGHT,
    Coverage,
    channel_ranks,
    coverage,
    dense_ranks,
    rrf,
    token_match,
    within_edits,
)
from opscopilot.store.text_features import canonical_tokens


def toks(text: str) -> frozenset[str]:
    return frozenset(canonical_tokens(text))


def test_within_edits_counts_a_transposition_as_one() -> None:
    assert within_edits("bearnig", "bearing", 1)
    assert within_edits("vlave", "valve", 1)
    assert within_edits("gaskit", "gasket", 1)
    assert not within_edits("gasket", "basket", 0)
    assert not within_edits("sensor", "censer", 1)
    assert within_edits("transmiter", "transmitter", 1)


def test_short_words_and_numbers_must_match_exactly() -> None:
    assert token_match("50", toks("gasket 500 mm")) == 0.0
    assert token_match("nbr", toks("epdm gasket")) == 0.0
    assert token_match("gaskit", toks("gasket")) < 1.0
    assert token_match("gaskit", toks("gasket")) > 0.0


def test_coverage_prefers_the_item_that_says_everything_typed() -> None:
    query = canonical_tokens("gasket acme 50mm")
    right = toks("Flat gasket NBR 50 x 3 mm | ACME Seals Ltd")
    other_supplier = toks("Flat gasket NBR 50 x 3 mm | Klinger")
    other_size = toks("Flat gasket NBR 40 x 3 mm | ACME Seals Ltd")
    assert coverage(query, right) == 1.0
    assert coverage(query, other_supplier) < 1.0
    assert coverage(query, other_size) < 1.0


def test_a_missing_unit_costs_less_than_a_missing_size() -> None:
    query = canonical_tokens("oring 110mm epdm")
    no_unit = toks("ORING 110X5.33 EPDM70")
    wrong_size = toks("O-ring 12 x 3 mm EPDM 70 Shore A")
    assert coverage(query, no_unit) > coverage(query, wrong_size)


def test_rrf_and_ranks() -> None:
    assert rrf(None) == 0.0
    assert rrf(1) > rrf(2) > 0
    assert dense_ranks({"a": 0.9, "b": 0.9, "c": 0.1}) == {"a": 1, "b": 1, "c": 2}
    ranks = channel_ranks([("fuzzy", "x", 0.3), ("fuzzy", "y", 0.1), ("sku", "x", 0.0)])
    assert ranks == {"y": {"fuzzy": 1}, "x": {"fuzzy": 2, "sku": 1}}


def test_coverage_over_many_candidates_equals_judging_each_token_on_its_own() -> None:
    """Coverage judges each distinct item token once per query and keeps the partial
    matches; the scores must be those of token_match, candidate by candidate."""
    from opscopilot.store.vocabulary import UNITS

    items = [toks(t) for t in (
        "Flat gasket NBR 50 x 3 mm ACME Seals", "Flat gasket EPDM 50 x 3 mm Parker",
        "Gaskets kit 500 mm", "Deep groove ball bearing 6204-2RS SKF", "Bearing housing",
        "Hex bolt M8 x 40 8.8 zinc", "Ball valve DN25 brass", "O-ring 32 x 2.5 FKM viton",
    )]  # fmt: skip
    for query in ("gaskit 50mm acme", "bearnig 6204", "bal valv dn25", "hex m8 zink", "o rin"):
        q = list(dict.fromkeys(canonical_tokens(query)))
        weights = [UNIT_WEIGHT if t in UNITS else 1.0 for t in q]
        covers = Coverage(q)
        for item in items:
            alone = sum(w * token_match(t, item) for t, w in zip(q, weights, strict=True))
            assert abs(covers(item) - alone / sum(weights)) < 1e-12, (query, item)
