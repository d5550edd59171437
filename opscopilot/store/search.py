"""Finding items the way people ask for them, and keeping their vectors current.

`search_items` gathers candidates in one round trip (item_candidates.py), ranks them, and
reads the rows of the items it answers with in a second. The channels: the SKU (exact,
without separators, or a typed prefix) and external ids; the fuzzy channel, hashed
character n-gram and word vectors of model `hash-ngram-256` (typo-tolerant, no pg_trgm
needed); the semantic channel, the configured embedding model when it is another one; and
pg_trgm where the server has it. Vector channels are k-NN over partial HNSW indexes.
Candidates are ranked by how much of the query they cover (typo-tolerant, sizes exact:
ranking.py) with the channels' reciprocal ranks (RRF) added as the tie-break; an exact
SKU hit comes first, a SKU prefix next.

`index_items` (or an `ItemIndexBatch` gathering a whole batch's items) is called on every
item write, inside the writer's transaction.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.instrumentation import manager_of_class
from sqlalchemy.orm.util import identity_key

from opscopilot.store.doc_search import DocHit, search_documents
from opscopilot.store.embedders import EmbeddingError, get_embedder
from opscopilot.store.engine import Database
from opscopilot.store.item_candidates import (
    Candidate,
    SiteParams,
    ensure_trigram_index,
    fetch_candidates,
    fetch_items,
)
from opscopilot.store.models.items import ManufacturingItem
from opscopilot.store.models.search import FUZZY_EMBEDDING_MODEL
from opscopilot.store.ranking import RRF_K, Coverage, channel_ranks, rrf
from opscopilot.store.text_features import canonical_tokens, item_search_text
from opscopilot.store.vectors import (
    checked_model,
    current_model,
    models_for,
    query_vectors,
    upsert_texts,
)

log = logging.getLogger(__name__)

__all__ = [
    "DocHit",
    "ItemHit",
    "ItemIndexBatch",
    "current_model",
    "embed_missing_items",
    "index_items",
    "reembed_all",
    "search_documents",
    "search_items",
]

# Per vector channel: candidates fetched (at least). Fewer cost answers: at 100,000 items,
# 3 or 2 per answer instead of 4 put the labelled queries' right item in the top 3 for
# 0.900 and 0.878 instead of 0.911 (ef_search 400). The HNSW breadth used for them is
# the setting ingest.search_ef_search (docs/search.md has its measured trade-off).
MIN_CANDIDATES = 40
SKU_EXACT_BONUS = 3.0
SKU_PREFIX_BONUS = 1.5


@dataclass(frozen=True)
class ItemHit:
    values: dict[str, Any]  # the item's columns as the search read them, by name
    score: float
    matched: str  # "sku", "fuzzy" or "semantic": the strongest reason it was found
    # its planning parameters at the searched sites, by site (asked with `site_params`)
    site_params: list[SiteParams] = field(default_factory=list)
    session: AsyncSession | None = field(default=None, repr=False, compare=False)

    @cached_property
    def item(self) -> ManufacturingItem:
        """The item as an ORM object of the search's session (the one already in it, if
        any), made on first use: attaching ten items cost ~0.6 ms of a search that the API,
        which answers from `values`, does not need."""
        if self.session is None:
            raise ValueError("a hit made without a session has only its values")
        return _attached(self.session, self.values)


def item_text(item: ManufacturingItem) -> str:
    """Everything an item is found by: what candidates are ranked on, and what a semantic
    model embeds."""
    return item_search_text(
        sku=item.sku,
        name=item.name,
        description=item.description,
        supplier_name=item.supplier_name,
        category=item.category,
        attributes=item.attributes,
    )


def fuzzy_text(item: ManufacturingItem) -> str:
    """What the fuzzy vector embeds: the words an item is asked for by. Not its long prose,
    whose shared boilerplate ("double acting, magnetic piston ...") drowns the words that
    tell near twins apart; not its SKU, a token of its own per item that scatters the
    twins at random (the SKU channel finds SKUs). Both cost the HNSW graph dearly: recall@10
    at 100,000 items, ef_search 200, was 0.85 with the SKU and 0.96 without (measured)."""
    return item_search_text(
        sku="",
        name=item.name,
        description=None,
        supplier_name=item.supplier_name,
        category=None,
        attributes=item.attributes,
    )


def _text_for(model: str, item: ManufacturingItem) -> str:
    return fuzzy_text(item) if model == FUZZY_EMBEDDING_MODEL else item_text(item)


def _terms_for(model: str, items: Sequence[ManufacturingItem]) -> dict[uuid.UUID, list[str]] | None:
    """The ranking terms ride on the fuzzy model's rows."""
    if model != FUZZY_EMBEDDING_MODEL:
        return None
    return {i.id: list(canonical_tokens(item_text(i))) for i in items}


class ItemIndexBatch:
    """Items written during one transaction, indexed together at its end (`flush`).

    A batch writes its items a chunk at a time; indexing each chunk on its own grew the
    HNSW graph row by row (10,000 new items: 128 s of a 141 s ingest, measured), while one
    pass over the lot embeds a chunk at a time and lets a first or bulk load build the
    graph in one go. Only the texts are held, so the ORM objects can go."""

    def __init__(self, *, model: str | None = None) -> None:
        self.models = models_for(model)
        self._texts: dict[str, dict[uuid.UUID, str]] = {m: {} for m in self.models}
        self._terms: dict[uuid.UUID, list[str]] = {}

    def __len__(self) -> int:
        return len(self._terms)

    def add(self, items: Sequence[ManufacturingItem]) -> None:
        """Remember the items' searchable texts as they are now (ids must be set)."""
        for item in items:
            if item.id is None:
                raise ValueError(f"item {item.sku} has no id yet: flush the session first")
            for name in self.models:
                self._texts[name][item.id] = _text_for(name, item)
            self._terms[item.id] = list(canonical_tokens(item_text(item)))

    async def flush(self, session: AsyncSession) -> int:
        """Embed the items whose searchable text changed (fuzzy and semantic vectors) and
        upsert them; returns how many items got a new vector.

        A remote model that fails leaves its vectors missing rather than failing the
        write: search still works on SKU and the fuzzy channel, and `search.reembed` fills
        the gap."""
        if not self._terms:
            return 0
        await ensure_trigram_index(session)
        written: set[uuid.UUID] = set()
        for name in self.models:
            texts = self._texts[name]
            embedder = get_embedder(name)
            try:
                changed = await upsert_texts(
                    session,
                    entity_type="item",
                    texts=texts,
                    embedder=embedder,
                    terms=self._terms if name == FUZZY_EMBEDDING_MODEL else None,
                )
            except EmbeddingError as exc:
                if embedder.local:
                    raise
                log.warning(
                    "item vectors left for the re-embed job",
                    extra={"model": name, "items": len(texts), "error": str(exc)},
                )
                continue
            written.update(changed)
        for held in self._texts.values():
            held.clear()
        self._terms.clear()
        return len(written)


async def index_items(
    session: AsyncSession, *, items: Sequence[ManufacturingItem], model: str | None = None
) -> int:
    """Index created or changed items now (see `ItemIndexBatch.flush`); returns how many
    got a new vector. Texts that did not change cost no embedding and no write."""
    if not items:
        return 0
    if any(i.id is None for i in items):
        await session.flush()
    batch = ItemIndexBatch(model=model)
    batch.add(items)
    return await batch.flush(session)


async def embed_missing_items(session: AsyncSession, *, model: str, limit: int = 256) -> int:
    """Embed up to `limit` items that have no vector for `model` yet (old models' vectors
    stay beside them); returns how many were embedded."""
    embedder = get_embedder(model)
    missing = await session.scalars(
        text(
            "SELECT i.id FROM manufacturing_items i WHERE NOT EXISTS (SELECT 1 FROM embeddings e "
            "WHERE e.entity_type = 'item' AND e.entity_id = i.id AND e.model = :m) "
            "ORDER BY i.id LIMIT :n"
        ),
        {"m": checked_model(model), "n": limit},
    )
    ids = list(missing)
    if not ids:
        return 0
    items = list(
        await session.scalars(select(ManufacturingItem).where(ManufacturingItem.id.in_(ids)))
    )
    texts = {i.id: _text_for(model, i) for i in items}
    changed = await upsert_texts(
        session,
        entity_type="item",
        texts=texts,
        embedder=embedder,
        terms=_terms_for(model, items),
    )
    return len(changed)


async def reembed_all(db: Database, *, model: str, batch_size: int = 256) -> int:
    """Embed every item and document chunk lacking a vector for `model`, one committed
    batch at a time (an interrupted run resumes where it stopped); returns the count."""
    from opscopilot.store.doc_search import embed_missing_chunks

    total = 0
    for embed_missing in (embed_missing_items, embed_missing_chunks):
        while True:
            async with db.transaction() as session:
                done = await embed_missing(session, model=model, limit=batch_size)
            total += done
            if done < batch_size:
                break
    return total


async def search_items(
    session: AsyncSession,
    *,
    query: str,
    limit: int = 10,
    sites: tuple[str, ...] | None = None,
    model: str | None = None,
    exact: bool = False,
    ef_search: int | None = None,
    site_params: bool = False,
) -> list[ItemHit]:
    """Items for a free-text query, best first.

    `sites` limits the search to items used at those sites (and unclaimed ones); `model`
    overrides the configured embedding model; `exact` scans instead of using the HNSW
    indexes (the ground truth benchmarks compare against); `ef_search` is the HNSW
    breadth (default: settings ingest.search_ef_search); `site_params` also reads each hit's
    planning parameters at `sites` (all sites when None), with the hits' rows.
    """
    query = query.strip()
    if not query or limit <= 0:
        return []
    found = await fetch_candidates(
        session,
        query=query,
        vectors=await query_vectors(query, models_for(model)),
        k=max(MIN_CANDIDATES, 4 * limit),
        ef_search=ef_search or search_breadth(),
        sites=sites,
        exact=exact,
    )
    if not found:
        return []
    terms_of = {c.item_id: c.terms for c in found}
    unindexed = [item_id for item_id, terms in terms_of.items() if terms is None]
    if unindexed:  # no fuzzy row yet (written before this search existed): tokenise here
        for item in await session.scalars(
            select(ManufacturingItem).where(ManufacturingItem.id.in_(unindexed))
        ):
            terms_of[item.id] = list(canonical_tokens(item_text(item)))
    best = rank_candidates(query, found, terms_of)[:limit]
    rows = await fetch_items(
        session, [c.item_id for _, c, _ in best], site_params=site_params, sites=sites
    )
    return [
        ItemHit(
            values=row.values,
            score=score,
            matched=_reason(channels),
            site_params=row.site_params,
            session=session,
        )
        for score, candidate, channels in best
        if (row := rows.get(candidate.item_id)) is not None  # unless deleted in between
    ]


def search_breadth() -> int:
    """The configured HNSW breadth of item search (settings ingest.search_ef_search)."""
    from opscopilot.core.settings import get_settings

    return get_settings().ingest.search_ef_search


def rank_candidates(
    query: str, found: Sequence[Candidate], terms_of: dict[uuid.UUID, list[str] | None]
) -> list[tuple[float, Candidate, dict[str, int]]]:
    """Each found item once, best first: (score, a row of it, its rank per channel).

    The score: the query's coverage of the item's terms, plus the RRF terms of the fused
    channels, plus the SKU bonuses; equal scores go by SKU."""
    ranks = channel_ranks((c.channel, c.item_id, c.distance) for c in found)
    rows = {c.item_id: c for c in found}
    covers = Coverage(canonical_tokens(query))
    # Every distinct token judged at once; each item's terms stay the list the row brought:
    # a set per item would hash every freshly decoded string again (~2,000 a search), where
    # a query token's membership test in a list of ~25 only compares lengths, mostly.
    covers.judge(frozenset().union(*(terms for terms in terms_of.values() if terms)))
    scored: list[tuple[float, str, Candidate, dict[str, int]]] = []
    for item_id, channels in ranks.items():
        score = covers.score(terms_of[item_id] or ())
        # the fused channels' RRF terms, summed in a fixed order (as sum() over them did)
        fused = 0.0
        for channel in _FUSED:
            rank = channels.get(channel)
            if rank is not None:
                fused += 1.0 / (RRF_K + rank)  # rrf(rank), inlined
        score += fused
        if "sku" in channels:
            score += SKU_EXACT_BONUS
        elif "sku_prefix" in channels:
            score += SKU_PREFIX_BONUS + rrf(channels["sku_prefix"])
        row = rows[item_id]
        scored.append((round(score, 6), row.sku, row, channels))
    scored.sort(key=_best_first)
    return [(score, row, channels) for score, _sku, row, channels in scored]


def _best_first(s: tuple[float, str, Candidate, dict[str, int]]) -> tuple[float, str]:
    return (-s[0], s[1])


_FUSED = ("semantic", "fuzzy", "trigram")


def _attached(session: AsyncSession, values: dict[str, Any]) -> ManufacturingItem:
    """The session's item for a row the search read: the one already in the session if
    any, else one made from the row, persistent and unmodified, as a query would have
    loaded it."""
    key = identity_key(ManufacturingItem, (values["id"],))
    held = session.identity_map.get(key)
    if held is not None:
        return held  # type: ignore[no-any-return]
    # Filled the way a query's loader fills it (the instance's dict), not through the
    # constructor, whose per-attribute change events cost more than the rest of the search.
    item: ManufacturingItem = _ITEM_MANAGER.new_instance()
    item.__dict__.update({_ATTRS[name]: value for name, value in values.items()})
    make_transient_to_detached(item)
    session.add(item)
    return item


_ITEM_MANAGER = manager_of_class(ManufacturingItem)


_ATTRS = {prop.columns[0].name: prop.key for prop in sa_inspect(ManufacturingItem).column_attrs}


def _reason(channels: dict[str, int]) -> str:
    if "sku" in channels or "sku_prefix" in channels:
        return "sku"
    fuzzy = min(channels.get("fuzzy", 10**9), channels.get("trigram", 10**9))
    semantic = channels.get("semantic")
    if semantic is not None and semantic <= fuzzy:
        return "semantic"
    return "fuzzy"
