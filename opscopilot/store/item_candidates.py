"""The candidate query of item search: every channel in one statement, one round trip;
then the rows of the few items answered with (`fetch_items`).

Channels, each answering (channel, item id, distance):
- `sku`: the SKU as typed, with separators dropped ("sen80314"), a SKU-looking word of the
  query, or an external system's id (an ERP's ItemNo) mapped to the item;
- `sku_prefix`: a typed SKU fragment ("BRG-504");
- `fuzzy` and `semantic`: k-NN over the partial HNSW index of each embedding model;
- `term`: items holding one of the query's rare words (a part number, a code, an unusual
  size), from a GIN index on the fuzzy rows' terms: near twins crowd an HNSW search, and a
  word only a few items have finds them whatever the breadth;
- `trigram`: pg_trgm word similarity, only where the server has the extension.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import JSON, text
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.store.driver import fetch_records
from opscopilot.store.models.items import ManufacturingItem
from opscopilot.store.models.search import FUZZY_EMBEDDING_MODEL
from opscopilot.store.text_features import canonical_tokens
from opscopilot.store.vectors import knn_sql, query_param, set_search_depth

log = logging.getLogger(__name__)

_SKU_LIKE = re.compile(r"^[\w./\-]{3,}$")
_COMPACT_SKU = "regexp_replace(lower(i.sku), '[^a-z0-9]', '', 'g')"
TRIGRAM_TEXT = "lower(name || ' ' || coalesce(supplier_name, ''))"
TRIGRAM_INDEX = "ix_manufacturing_items_name_trgm"
# The answer's items are read by a second statement, for the few ranked first. Carried
# by every candidate row (~100 rows of ~30 columns, planning parameters aggregated for
# each) to answer with 10, they cost more than the round trip: at 100,000 items the
# candidate statement took 4.6 against 3.7 ms and 1.2-1.5 against 0.8 ms of the API's
# CPU with and without them (interleaved runs), the second statement ~0.2 ms of Postgres.
# The JSON attributes come as text, decoded here; the terms untyped (asyncpg's lists).
_ITEM_COLUMNS = list(ManufacturingItem.__table__.columns)
_RAW_JSON = frozenset(c.name for c in _ITEM_COLUMNS if isinstance(c.type, JSON))
_ITEM_SELECT = ", ".join(
    f"i.{c.name}::text AS {c.name}" if c.name in _RAW_JSON else f"i.{c.name}" for c in _ITEM_COLUMNS
)
# Planning parameters per site, as parallel arrays ordered by site (native array decoding:
# the floats come as the server holds them).
_PARAMS = ("site", "lead_time_days", "lead_time_std_days", "safety_stock", "reorder_point")
_PARAMS_AGG = ", ".join(f"array_agg(p.{c} ORDER BY p.site) AS ps_{c}" for c in _PARAMS)
_PARAMS_SELECT = ", ".join(f"sp.ps_{c}" for c in _PARAMS)

_trigram: dict[str, bool] = {}
# A word on this many items' rows or more is common: the term channel leaves it out (its
# index would read thousands of rows for it). At 100,000 items the channel took the
# labelled queries' right item in the top 3 from 0.800 to 0.922 at ef_search 80
# (bench/search); counting words on 300 items as common instead kept fewer right items.
COMMON_TERM_ROWS = 1000
# How long a process trusts the common words it read (statistics change with ANALYZE).
COMMON_TERMS_TTL_S = 600.0
_common: dict[str, tuple[float, frozenset[str]]] = {}


class Candidate(NamedTuple):  # ~100 per query: a tuple is cheaper to make than a dataclass
    channel: str
    item_id: uuid.UUID
    distance: float
    sku: str
    terms: list[str] | None  # canonical tokens of the item's text, from its fuzzy row


class SiteParams(NamedTuple):
    site: str
    lead_time_days: float | None
    lead_time_std_days: float | None
    safety_stock: float | None
    reorder_point: float | None


class FoundItem(NamedTuple):
    values: dict[str, Any]  # the item's columns by name, its JSON decoded
    site_params: list[SiteParams]  # by site (when asked for)


async def fetch_items(
    session: AsyncSession,
    ids: Sequence[uuid.UUID],
    *,
    site_params: bool = False,
    sites: tuple[str, ...] | None = None,
) -> dict[uuid.UUID, FoundItem]:
    """The items of `ids` (those still there); with `site_params`, each with its planning
    parameters at `sites` (all sites when None), in the same round trip."""
    if not ids:
        return {}
    params: dict[str, Any] = {"ids": list(ids)}
    more, lateral = "", ""
    if site_params:
        mine = ""
        if sites is not None:
            mine = "AND p.site = ANY(:param_sites)"
            params["param_sites"] = list(sites)
        more = f", {_PARAMS_SELECT}"
        lateral = (
            f" LEFT JOIN LATERAL (SELECT {_PARAMS_AGG} FROM item_site_params p "
            f"WHERE p.item_id = i.id {mine}) sp ON true"
        )
    sql = f"SELECT {_ITEM_SELECT}{more} FROM manufacturing_items i{lateral} WHERE i.id = ANY(:ids)"
    out: dict[uuid.UUID, FoundItem] = {}
    size = len(_ITEM_COLUMNS)
    for record in await fetch_records(session, sql, params):
        values = {c.name: record[n] for n, c in enumerate(_ITEM_COLUMNS)}
        for name in _RAW_JSON:
            if values[name] is not None:
                values[name] = json.loads(values[name])
        found = _site_params(record[size:]) if site_params else []
        out[values["id"]] = FoundItem(values, found)
    return out


def _site_params(arrays: Sequence[Any]) -> list[SiteParams]:
    sites, *values = arrays
    if sites is None:
        return []
    return [SiteParams(site, *(v[n] for v in values)) for n, site in enumerate(sites)]


async def _database(session: AsyncSession) -> str:
    """The key of the per-process facts about the session's database."""
    return str((await session.connection()).engine.url)


async def trigram_available(session: AsyncSession) -> bool:
    """Whether the server has pg_trgm installed in this database (asked once per database
    per process). The embedded server has not; a managed Postgres often has."""
    key = await _database(session)
    if key not in _trigram:
        found = await session.scalar(
            text("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')")
        )
        _trigram[key] = bool(found)
        if found:
            log.info("pg_trgm found: item search adds a trigram channel")
    return _trigram[key]


async def common_terms(session: AsyncSession) -> frozenset[str]:
    """The words on at least COMMON_TERM_ROWS rows, from the planner's statistics (none
    before the first ANALYZE, or in a small catalogue: then every word counts as rare, and
    the channel's LIMIT bounds what it reads)."""
    key = await _database(session)
    held = _common.get(key)
    now = time.monotonic()
    if held is None or now - held[0] > COMMON_TERMS_TTL_S:
        rows = await session.execute(
            text(
                "SELECT w.elem FROM pg_stats s, unnest(s.most_common_elems::text::text[], "
                "s.most_common_elem_freqs) AS w(elem, share) WHERE s.schemaname = "
                "current_schema() AND s.tablename = 'embeddings' AND s.attname = 'terms' "
                "AND w.elem IS NOT NULL AND w.share * (1 - s.null_frac) * (SELECT c.reltuples "
                "FROM pg_class c WHERE c.oid = 'embeddings'::regclass) >= :rows"
            ),
            {"rows": COMMON_TERM_ROWS},
        )
        held = (now, frozenset(r[0] for r in rows))
        _common[key] = held
    return held[1]


async def ensure_trigram_index(session: AsyncSession) -> None:
    """The trigram channel's GIN index, where pg_trgm exists (item writes call this)."""
    if await trigram_available(session):
        await session.execute(
            text(
                f"CREATE INDEX IF NOT EXISTS {TRIGRAM_INDEX} ON manufacturing_items "
                f"USING gin (({TRIGRAM_TEXT}) gin_trgm_ops)"
            )
        )


def site_clause(column: str) -> str:
    """Items are global; a site-limited search sees the items used at its sites (planning
    parameters or stock there) and the items no site has claimed yet."""
    params = f"SELECT 1 FROM item_site_params p WHERE p.item_id = {column}"
    stock = f"SELECT 1 FROM inventory_snapshots v WHERE v.item_id = {column}"
    mine = (
        f"EXISTS ({params} AND p.site = ANY(:sites)) OR EXISTS ({stock} AND v.site = ANY(:sites))"
    )
    claimed = f"EXISTS ({params}) OR EXISTS ({stock})"
    return f"AND (({mine}) OR NOT ({claimed}))"


def _like_prefix(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _sku_parts(query: str, params: dict[str, Any], where: str) -> list[str]:
    lowered = query.lower()
    compact = re.sub(r"[^a-z0-9]", "", lowered)
    words = [t for t in lowered.split() if len(t) >= 4 and re.search(r"\d", t)]
    params |= {"ql": lowered, "qc": compact, "words": words or [lowered]}
    parts = [
        "(SELECT 'sku' AS ch, i.id, 0.0 AS d, NULL::text[] AS terms FROM manufacturing_items i "
        "WHERE "
        f"(lower(i.sku) = :ql OR lower(i.sku) = ANY(:words) OR {_COMPACT_SKU} = :qc) "
        f"{where} LIMIT 20)",
        "(SELECT 'sku' AS ch, i.id, 0.0 AS d, NULL::text[] AS terms FROM external_mappings x "
        "JOIN manufacturing_items i "
        "ON i.id = x.internal_id WHERE x.entity_type = 'item' AND lower(x.external_id) = "
        f"ANY(ARRAY[:ql] || :words) {where} LIMIT 20)",
    ]
    if _SKU_LIKE.match(lowered) and re.search(r"\d", lowered) and len(compact) >= 4:
        params |= {"qlp": _like_prefix(lowered), "qcp": _like_prefix(compact)}
        parts.append(
            "(SELECT 'sku_prefix' AS ch, i.id, 0.0 AS d, NULL::text[] AS terms "
            "FROM manufacturing_items i WHERE "
            f"(lower(i.sku) LIKE :qlp OR {_COMPACT_SKU} LIKE :qcp) {where} "
            "ORDER BY i.sku LIMIT :k)"
        )
    return parts


async def fetch_candidates(
    session: AsyncSession,
    *,
    query: str,
    vectors: Mapping[str, Sequence[float]],
    k: int,
    ef_search: int,
    sites: tuple[str, ...] | None,
    exact: bool,
) -> list[Candidate]:
    """A row per channel that found an item; `vectors` holds the query embedded per model.
    Items deleted since their vectors were written drop out here."""
    vec_where = site_clause("e.entity_id") if sites else ""
    item_where = site_clause("i.id") if sites else ""
    # one vector channel (the default model is also the fuzzy one) looks twice as deep
    params: dict[str, Any] = {"k": k, "kv": k if len(vectors) > 1 else 2 * k}
    if sites:
        params["sites"] = list(sites)
    ctes: list[str] = []
    parts: list[str] = []
    seen = ""  # the term channel's rows skip what the fuzzy k-NN found: no row twice
    for n, (model, vec) in enumerate(vectors.items()):
        fuzzy = model == FUZZY_EMBEDDING_MODEL
        sql = knn_sql(
            model=model,
            dim=len(vec),
            entity_type="item",
            where=vec_where,
            exact=exact,
            limit_param="kv",
            columns=", e.terms" if fuzzy else ", NULL::text[] AS terms",
        )
        ctes.append(f"c{n} AS MATERIALIZED ({sql})")
        if fuzzy:
            seen = f"AND NOT EXISTS (SELECT 1 FROM c{n} WHERE c{n}.id = e.entity_id)"
        parts.append(f"SELECT '{'fuzzy' if fuzzy else 'semantic'}' AS ch, id, d, terms FROM c{n}")
        params[query_param(model)] = list(vec)
    parts.extend(_sku_parts(query, params, item_where))
    words = dict.fromkeys(canonical_tokens(query))
    common = await common_terms(session) if words else frozenset()
    rare = [t for t in words if t not in common]
    if rare:
        params |= {"rare": rare, "kt": k // 2}
        parts.append(
            "(SELECT 'term' AS ch, e.entity_id AS id, 0.0 AS d, e.terms FROM embeddings e "
            f"WHERE e.model = '{FUZZY_EMBEDDING_MODEL}' AND e.entity_type = 'item' "
            f"AND e.terms && CAST(:rare AS text[]) {seen} {vec_where} LIMIT :kt)"
        )
    if await trigram_available(session):
        parts.append(
            f"(SELECT 'trigram' AS ch, i.id, 1 - word_similarity(:ql, {TRIGRAM_TEXT}) AS d, "
            "NULL::text[] AS terms "
            f"FROM manufacturing_items i WHERE :ql <% {TRIGRAM_TEXT} {item_where} "
            "ORDER BY d LIMIT :k)"
        )
    if vectors and not exact:
        await set_search_depth(session, ef_search=max(ef_search, params["kv"]))
    # materialized: each channel runs once, whatever join the planner picks below (with an
    # items table it takes for empty, stale after a first load, it rescanned them per item)
    ctes.append(f"cand AS MATERIALIZED ({' UNION ALL '.join(parts)})")
    # coalesce runs its subquery only for the rows without terms (the SKU channels'): a
    # join would probe the fuzzy row of every k-NN candidate, which already has its own
    sql = (
        f"WITH {', '.join(ctes)} SELECT cand.ch, cand.id, cand.d, "
        "coalesce(cand.terms, (SELECT t.terms FROM embeddings t WHERE t.entity_type = 'item' "
        f"AND t.entity_id = cand.id AND t.model = '{FUZZY_EMBEDDING_MODEL}')) AS terms, "
        "i.sku FROM cand JOIN manufacturing_items i ON i.id = cand.id"
    )
    rows = await fetch_records(session, sql, params)
    return [Candidate(r[0], r[1], float(r[2]), r[4], r[3]) for r in rows]
