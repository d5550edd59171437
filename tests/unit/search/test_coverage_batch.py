"""Search judges every candidate's tokens in one pass (`Coverage.judge`) before scoring:
the scores must be exactly those of judging candidate by candidate."""

from __future__ import annotations

from opscopilot.store.ranking import Coverage
from opscopilot.store.text_features import canonical_tokens

TEXTS = (
    "Flat gasket NBR 50 x 3 mm ACME Seals", "Flat gasket EPDM 50 x 3 mm Parker",
    "Gaskets kit 500 mm", "Deep groove ball bearing 6204-2RS SKF", "Bearing housing",
    "Hex bolt M8 x 40 8.8 zinc", "Ball valve DN25 brass", "O-ring 32 x 2.5 FKM viton",
    "Gasketing tape", "Baring tool", "Valves assortment", "Zinc plated washer M8",
)  # fmt: skip
QUERIES = ("gaskit 50mm acme", "bearnig 6204", "bal valv dn25", "hex m8 zink", "o rin", "gasket")


def test_judging_all_tokens_first_scores_each_candidate_the_same() -> None:
    items = [frozenset(canonical_tokens(t)) for t in TEXTS]
    for query in QUERIES:
        one_by_one = Coverage(canonical_tokens(query))
        expected = [one_by_one(item) for item in items]
        batched = Coverage(canonical_tokens(query))
        batched.judge(frozenset().union(*items))
        assert [batched(item) for item in items] == expected, query
    # the partial matches do count: a misspelling scores, neither 0 nor 1
    covers = Coverage(canonical_tokens("gaskit"))
    covers.judge(frozenset().union(*items))
    assert 0 < covers(items[0]) < 1


def test_scoring_an_items_token_list_equals_scoring_its_set() -> None:
    """Search scores each candidate's terms as the list its row brought (duplicates and
    all), from whichever side is smaller: prefixes that match many tokens, near spellings
    that match a few; the scores must be those of the set."""
    lists = [list(canonical_tokens(t)) * 2 for t in TEXTS]
    for query in (*QUERIES, "ga", "bal", "gasketing tape", "zin wash m8"):
        covers = Coverage(canonical_tokens(query))
        covers.judge(frozenset().union(*lists))
        by_set = Coverage(canonical_tokens(query))
        assert [covers.score(terms) for terms in lists] == [
            by_set(frozenset(terms)) for terms in lists
        ], query
