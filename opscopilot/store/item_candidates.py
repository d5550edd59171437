"""The candidate query of item search: every channel in one statement, one round trip,
each candidate with its item's row.

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

from sqlalchemy import JSON, Float, String, Text, Uuid, column, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import ColumnClause

from opscopilot.store.models.items import ManufacturingItem
from opscopilot.store.models.search import FUZZY_EMBEDDING_MODEL
from opscopilot.store.text_features import canonical_tokens
from opscopilot.store.vectors import knn_sql, query_param, set_search_depth

log = logging.getLogger(__name__)

_SKU_LIKE = re.compile(r"^[\w./\-]{3,}$")
_COMPACT_SKU = "regexp_replace(lower(i.sku), '[^a-z0-9]', '', 'g')"
TRIGRAM_TEXT = "lower(name || ' ' || coalesce(supplier_name, ''))"
TRIGRAM_INDEX = "ix_manufacturing_items_name_trgm"
# The candidates carry their item's whole row (the statement joins it anyway), so that
# search builds the few items it answers with without another round trip. Most candidates
# are ranked and dropped: the JSON attributes come as text, decoded only for the items
# answered with (`item_row`), and the terms untyped (asyncpg's list of str as it is):
# decoding ~80 JSON documents a query was most of the Python time of reading candidates.
_ITEM_COLUMNS = list(ManufacturingItem.__table__.columns)
_RAW_JSON = frozenset(c.name for c in _ITEM_COLUMNS if isinstance(c.type, JSON))
_ITEM_SELECT = ", ".join(
    f"i.{c.name}::text AS it_{c.name}" if c.name in _RAW_JSON else f"i.{c.name} AS it_{c.name}"
    for c in _ITEM_COLUMNS
)
_RESULT_COLUMNS = [
    column("ch", String),
    column("id", Uuid),
    column("d", Float),
    column("terms"),
    *(column(f"it_{c.name}", Text if c.name in _RAW_JSON else c.type) for c in _ITEM_COLUMNS),
]

ITEM_OFFSET = 4  # ch, id, d, terms
# Planning parameters per site, as parallel arrays ordered by site (native array decoding:
# the floats come as the server holds them).
_PARAMS = ("site", "lead_time_days", "lead_time_std_days", "safety_stock", "reorder_point")
_PARAMS_AGG = ", ".join(f"array_agg(p.{c} ORDER BY p.site) AS ps_{c}" for c in _PARAMS)
_PARAMS_SELECT = ", ".join(f"sp.ps_{c}" for c in _PARAMS)
_PARAMS_COLUMNS: list[ColumnClause[Any]] = [column(f"ps_{c}") for c in _PARAMS]
_SKU_AT = ITEM_OFFSET + [c.name for c in _ITEM_COLUMNS].index("sku")

_trigram: dict[str, bool] = {}
# A word on this many items' rows or more is common: the term channel leaves it out (its
# index would read thousands of rows for it). At 100,000 items the channel took the
# labelled queries' right item in the top 3 from 0.800 to 0.922 at ef_search 80
# (bench/search); counting words on 300 items as common instead kept fewer right items.
COMMON_TERM_ROWS = 1000
# How long a process trusts the common words it read (statistics change with ANALYZE).
COMMON_TERMS_TTL_S = 600.0
_common: dict[str, tuple[float, frozenset[str]]] = {}


class Candidate(NamedTuple):  # ~80 per query: a tuple is cheaper to make than a dataclass
    channel: str
    item_id: uuid.UUID
    distance: float
    sku: str
    terms: list[str] | None  # canonical tokens of the item's text, from its fuzzy row
    row: Sequence[Any]  # the statement's row: the item's columns from `ITEM_OFFSET` on


class SiteParams(NamedTuple):
    site: str
    lead_time_days: float | None
    lead_time_std_days: float | None
    safety_stock: float | None
    reorder_point: float | None


def item_row(candidate: Candidate) -> dict[str, Any]:
    """The candidate's item row by column name, its JSON decoded."""
    values = candidate.row
    out = {c.name: values[n] for n, c in enumerate(_ITEM_COLUMNS, ITEM_OFFSET)}
    for name in _RAW_JSON:
        if out[name] is not None:
            out[name] = json.loads(out[name])
    return out


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
    site_params: bool = False,
) -> list[Candidate]:
    """A row per channel that found an item; `vectors` holds the query embedded per model.
    Items deleted since their vectors were written drop out here. `site_params`: each row
    also carries its item's planning parameters at `sites` (see `site_params_of`)."""
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
    columns, more, lateral = _RESULT_COLUMNS, "", ""
    if site_params:
        # the answer's planning parameters in the same round trip, not a query after it
        mine = ""
        if sites is not None:
            mine = "AND p.site = ANY(:param_sites)"
            params["param_sites"] = list(sites)
        columns, more = _RESULT_COLUMNS + _PARAMS_COLUMNS, f", {_PARAMS_SELECT}"
        lateral = (
            f" LEFT JOIN LATERAL (SELECT {_PARAMS_AGG} FROM item_site_params p "
            f"WHERE p.item_id = cand.id {mine}) sp ON true"
        )
    # coalesce runs its subquery only for the rows without terms (the SKU channels'): a
    # join would probe the fuzzy row of every k-NN candidate, which already has its own
    sql = (
        f"WITH {', '.join(ctes)} SELECT cand.ch, cand.id, cand.d, "
        "coalesce(cand.terms, (SELECT t.terms FROM embeddings t WHERE t.entity_type = 'item' "
        f"AND t.entity_id = cand.id AND t.model = '{FUZZY_EMBEDDING_MODEL}')) AS terms, "
        f"{_ITEM_SELECT}{more} FROM cand JOIN manufacturing_items i ON i.id = cand.id{lateral}"
    )
    rows = (await session.execute(text(sql).columns(*columns), params)).all()
    return [Candidate(r[0], r[1], float(r[2]), r[_SKU_AT], r[3], r) for r in rows]


def site_params_of(candidate: Candidate) -> list[SiteParams]:
    """The planning parameters per site of a candidate's item (`site_params=True`), by
    site, limited to the sites searched."""
    at = ITEM_OFFSET + len(_ITEM_COLUMNS)
    sites, *values = candidate.row[at : at + len(_PARAMS)]
    if sites is None:
        return []
    return [SiteParams(site, *(v[n] for v in values)) for n, site in enumerate(sites)]
