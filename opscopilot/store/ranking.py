"""Pure ranking maths for search: token coverage with typo tolerance, and rank fusion.

Coverage asks "how much of what was typed does this item say?": each canonical query
token scores 1 when the item has it, a little less for a near spelling (one edit in a
short word, two in a long one, transpositions included) or a typed prefix, and nothing
otherwise; sizes and other numbers count only when exact (50 is not 500).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from functools import lru_cache
from operator import itemgetter
from typing import TypeVar

from opscopilot.store.text_features import is_number
from opscopilot.store.vocabulary import UNITS

K = TypeVar("K", bound=Hashable)

RRF_K = 60
NEAR_SPELLING = 0.8
PREFIX = 0.7
# A unit says little on its own ("110mm" against an ERP's "110X5.33"): it counts, lightly.
UNIT_WEIGHT = 0.3


@lru_cache(maxsize=262_144)
def within_edits(a: str, b: str, budget: int) -> bool:
    """Optimal-string-alignment distance of a and b is at most `budget`."""
    if abs(len(a) - len(b)) > budget:
        return False
    if a == b:
        return True
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            v = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                v = min(v, prev2[j - 2] + 1)
            cur[j] = v
        if min(cur) > budget:
            return False
        prev2, prev = prev, cur
    return prev[len(b)] <= budget


def edit_budget(token: str) -> int:
    if len(token) < 4 or not token.isalpha():
        return 0
    return 1 if len(token) < 8 else 2


def term_match(q: str, term: str) -> float:
    """How well one query token is matched by one item token (0 to 1)."""
    if q == term:
        return 1.0
    if is_number(q) or not q.isalpha():
        return 0.0
    budget = edit_budget(q)
    if budget and term.isalpha() and within_edits(q, term, budget):
        return NEAR_SPELLING
    if len(q) >= 3 and term.startswith(q):
        return PREFIX
    return 0.0


def token_match(q: str, item_tokens: Iterable[str]) -> float:
    """How well one query token is matched by an item's tokens (0 to 1)."""
    if isinstance(item_tokens, frozenset | set) and q in item_tokens:
        return 1.0
    return max((term_match(q, t) for t in item_tokens), default=0.0)


class Coverage:
    """Coverage of one query over many candidates: weighted share of the distinct query
    tokens each candidate matches, typo-tolerant. Candidates share most of their words,
    so each distinct item token is judged once per query, and only the few that match a
    query token at all (near spellings, prefixes) are kept to look up per candidate."""

    def __init__(self, query_tokens: Sequence[str]) -> None:
        self.tokens = list(dict.fromkeys(query_tokens))
        self.weights = [UNIT_WEIGHT if q in UNITS else 1.0 for q in self.tokens]
        self.total = sum(self.weights)
        self._judged: set[str] = set()
        # per query token: the partial matches seen so far (item token -> score < 1)
        self._partial: list[dict[str, float]] = [{} for _ in self.tokens]
        # per query token that can match partly: (token, edit budget, prefix allowed);
        # numbers and codes match exactly or not at all
        self._fuzzy = [
            (q, partial, edit_budget(q), len(q) >= 3)
            for q, partial in zip(self.tokens, self._partial, strict=True)
            if q.isalpha() and not is_number(q)
        ]

    def judge(self, terms: frozenset[str]) -> None:
        """Judge item tokens ahead of the candidates that have them (a search passes every
        candidate's tokens at once: one pass instead of a set difference per candidate)."""
        new = terms - self._judged
        self._judged |= new
        if not new or not self._fuzzy:
            return
        # term_match, as filters: a prefix is found by bisecting the sorted tokens, a near
        # spelling only among the tokens of a length within the edit budget (most tokens
        # fail both); a near spelling outranks a prefix of the same token
        ordered = sorted(new)
        by_length: dict[int, list[str]] = {}
        for t in ordered:
            by_length.setdefault(len(t), []).append(t)
        for q, partial, budget, prefix in self._fuzzy:
            if prefix:
                at = bisect_left(ordered, q)
                while at < len(ordered) and ordered[at].startswith(q):
                    if ordered[at] != q:
                        partial[ordered[at]] = PREFIX
                    at += 1
            if budget:
                size = len(q)
                for length in range(size - budget, size + budget + 1):
                    for t in by_length.get(length, ()):
                        if t != q and t.isalpha() and within_edits(q, t, budget):
                            partial[t] = NEAR_SPELLING

    def __call__(self, terms: frozenset[str]) -> float:
        self.judge(terms)
        return self.score(terms)

    def score(self, terms: Collection[str]) -> float:
        """Coverage of tokens already judged (`judge`): the per-candidate half of a call."""
        if not self.total:
            return 0.0
        got = 0.0
        for q, weight, partial in zip(self.tokens, self.weights, self._partial, strict=True):
            if q in terms:
                got += weight
            elif partial:
                # the max over the partial matches the item has, from the smaller side
                if len(partial) <= len(terms):
                    best = max((v for t, v in partial.items() if t in terms), default=0.0)
                else:
                    best = max((partial.get(t, 0.0) for t in terms), default=0.0)
                got += weight * best
        return got / self.total


def coverage(query_tokens: Sequence[str], item_tokens: frozenset[str]) -> float:
    """Weighted share of the (distinct) query tokens the item matches, typo-tolerant."""
    return Coverage(query_tokens)(item_tokens)


def rrf(rank: int | None, weight: float = 1.0, k: int = RRF_K) -> float:
    """Reciprocal rank fusion term for a 1-based rank (0 when the list did not have it)."""
    return 0.0 if rank is None else weight / (k + rank)


def dense_ranks(scores: Mapping[str, float] | Iterable[tuple[str, float]]) -> dict[str, int]:
    """1-based ranks, higher score first, equal scores sharing a rank."""
    pairs = sorted(scores.items() if isinstance(scores, Mapping) else scores, key=lambda p: -p[1])
    ranks: dict[str, int] = {}
    rank, last = 0, None
    for key, score in pairs:
        if score != last:
            rank += 1
            last = score
        ranks[key] = rank
    return ranks


def channel_ranks(rows: Iterable[tuple[str, K, float]]) -> dict[K, dict[str, int]]:
    """(channel, key, distance) rows to each key's 1-based rank in every channel it is in."""
    by_channel: dict[str, list[tuple[float, K]]] = {}
    for channel, key, distance in rows:
        pairs = by_channel.get(channel)
        if pairs is None:
            by_channel[channel] = pairs = []
        pairs.append((distance, key))
    ranks: dict[K, dict[str, int]] = {}
    for channel, pairs in by_channel.items():
        pairs.sort(key=_distance)  # stable: equal distances keep the rows' order
        for rank, (_d, key) in enumerate(pairs, 1):
            held = ranks.get(key)
            if held is None:
                ranks[key] = {channel: rank}
            elif channel not in held:
                held[channel] = rank
    return ranks


_distance = itemgetter(0)
