"""The `embeddings` table as a vector store: upserts that skip unchanged text, one partial
HNSW index per model (created on the fly for a model first seen), and k-NN SQL that the
index serves.

Queries name the model and the vector size as literals: a partial index is only chosen
when the planner can prove `model = '<name>'` from the statement itself, which a bound
parameter in a generic plan cannot do. Model names are therefore checked against a
strict pattern before they reach any SQL text.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy import Text, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, REAL
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.core.errors import ValidationFailed
from opscopilot.store.embedders import Embedder, EmbeddingError, get_embedder
from opscopilot.store.models.search import FUZZY_EMBEDDING_MODEL, hnsw_index_name, hnsw_params

log = logging.getLogger(__name__)

_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/@+\-]{0,199}$")
# pgvector indexes `vector` up to 2,000 dimensions; larger models are searched exactly.
MAX_INDEXED_DIM = 2000
# Texts are embedded and written this many at a time: one embedding call (a remote model
# splits it further) and one executemany, so memory stays flat on a bulk load.
UPSERT_CHUNK = 1000
# A load this large, and larger than what the model's index holds, is written with the
# index dropped and rebuilt after: pgvector builds a graph many times faster than it
# grows one row by row (measured here: 0.5 ms against 3 ms a row at 256 dimensions).
BULK_REBUILD_MIN = 2000
# Client-side bound on building one index (see _execute_unbounded): generous, not endless.
INDEX_BUILD_TIMEOUT_S = 6 * 3600.0
# Memory a graph build may take, for its transaction (build_memory_kb): 100,000 vectors of
# 256 dimensions need about 210 MB; a larger catalogue builds partly on disk past this.
BUILD_MEMORY_MAX_KB = 1024 * 1024

_indexed: set[tuple[str, str, int]] = set()
# A pooled connection's info key: the HNSW breadth set on it for good (set_search_depth).
_DEPTH_KEY = "opscopilot.hnsw_ef_search"


def current_model() -> str:
    """The configured semantic embedding model (settings ingest.embedding_model)."""
    from opscopilot.core.settings import get_settings

    return get_settings().ingest.embedding_model


def models_for(model: str | None) -> list[str]:
    """The models an entity is embedded with: the fuzzy one always, and the semantic one."""
    semantic = model or current_model()
    if semantic == FUZZY_EMBEDDING_MODEL:
        return [FUZZY_EMBEDDING_MODEL]
    return [FUZZY_EMBEDDING_MODEL, semantic]


async def query_vectors(query: str, models: Sequence[str]) -> dict[str, list[float]]:
    """The query embedded by each model; a remote model that fails is left out (its
    channel is skipped, the others still answer)."""
    out: dict[str, list[float]] = {}
    for name in models:
        embedder = get_embedder(name)
        try:
            (vec,) = await embedder.embed([query])
        except EmbeddingError as exc:
            if embedder.local:
                raise
            log.warning("semantic channel skipped", extra={"model": name, "error": str(exc)})
            continue
        out[name] = vec
    return out


def checked_model(model: str) -> str:
    if not _MODEL_NAME.match(model):
        raise ValidationFailed(f"not a usable embedding model name: {model!r}", field="model")
    return model


def content_hash(embedder: Embedder, text_: str) -> str:
    # The embedder's revision is part of the hash: a tokenizer change re-embeds everything.
    revision = getattr(embedder, "revision", "")
    return hashlib.sha256(f"{revision}\n{text_}".encode()).hexdigest()


async def _database_key(session: AsyncSession) -> str:
    conn = await session.connection()
    return str(conn.engine.url)


async def ensure_index(session: AsyncSession, *, model: str, dim: int) -> bool:
    """Create the model's partial HNSW index unless it exists (once per process and server).

    Returns False when the size cannot be indexed (searches of that model scan exactly).
    """
    model = checked_model(model)
    if dim > MAX_INDEXED_DIM:
        return False
    key = (await _database_key(session), model, dim)
    if key in _indexed:
        return True
    name = hnsw_index_name(model)
    exists = await session.scalar(
        text("SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = :n"),
        {"n": name},
    )
    if exists:
        _indexed.add(key)
        return True
    log.info("creating HNSW index for embedding model", extra={"model": model, "dim": dim})
    params = hnsw_params(model)
    await _size_build_memory(session, model=model, dim=dim, m=params["m"])
    # not remembered: the writer's transaction may still roll the index back
    with_ = ", ".join(f"{k} = {v}" for k, v in params.items())
    await _execute_unbounded(
        session,
        f"CREATE INDEX IF NOT EXISTS {name} ON embeddings USING hnsw "
        f"((embedding::vector({dim})) vector_cosine_ops) WITH ({with_}) "
        f"WHERE model = '{model}'",
    )
    return True


def build_memory_kb(*, rows: int, dim: int, m: int, held_kb: int) -> int:
    """maintenance_work_mem (kB) for building a graph over `rows` vectors: pgvector builds
    in memory while the graph fits there, then inserts the rest on disk, many times slower
    (its notice "hnsw graph no longer fits into maintenance_work_mem"). A node holds its
    vector and its neighbour lists (2m on the ground layer, 16 bytes each), plus headroom.
    Never below what the server already grants, never above BUILD_MEMORY_MAX_KB."""
    need = rows * (4 * dim + 40 * m + 256) // 1024 + 1
    return max(held_kb, min(need, BUILD_MEMORY_MAX_KB))


async def _size_build_memory(session: AsyncSession, *, model: str, dim: int, m: int) -> None:
    rows = await session.scalar(
        text("SELECT count(*) FROM embeddings WHERE model = :m"), {"m": model}
    )
    held = await session.scalar(
        text("SELECT setting::bigint FROM pg_settings WHERE name = 'maintenance_work_mem'")
    )
    kb = build_memory_kb(rows=int(rows or 0), dim=dim, m=m, held_kb=int(held or 0))
    if kb > int(held or 0):
        await session.execute(text(f"SET LOCAL maintenance_work_mem = '{kb}kB'"))


async def _execute_unbounded(session: AsyncSession, sql: str) -> None:
    """Run one statement without the statement timeouts that protect API requests (server
    and driver side), in the session's transaction: a graph over a whole catalogue takes
    minutes (100,000 items: about 6 on a loaded 2-core machine), and a batch that wrote
    its vectors must not fail on building their index."""
    previous = await session.scalar(text("SELECT current_setting('statement_timeout')"))
    await session.execute(text("SET LOCAL statement_timeout = 0"))
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    await raw.driver_connection.execute(sql, timeout=INDEX_BUILD_TIMEOUT_S)  # type: ignore[union-attr]
    await session.execute(
        text("SELECT set_config('statement_timeout', :t, true)"), {"t": str(previous)}
    )


_UPSERT = text(
    "INSERT INTO embeddings (id, entity_type, entity_id, model, content_hash, embedding, terms) "
    "VALUES (:id, :entity_type, :entity_id, :model, :content_hash, "
    "CAST(:vec AS real[])::vector, :terms) "
    "ON CONFLICT (entity_type, entity_id, model) DO UPDATE SET content_hash = "
    "EXCLUDED.content_hash, embedding = EXCLUDED.embedding, terms = EXCLUDED.terms, "
    "created_at = now()"
).bindparams(bindparam("vec", type_=ARRAY(REAL)), bindparam("terms", type_=ARRAY(Text)))
_SET_TERMS = text(
    "UPDATE embeddings SET terms = :terms WHERE entity_type = :entity_type "
    "AND entity_id = :entity_id AND model = :model"
).bindparams(bindparam("terms", type_=ARRAY(Text)))


async def upsert_texts(
    session: AsyncSession,
    *,
    entity_type: str,
    texts: Mapping[uuid.UUID, str],
    embedder: Embedder,
    terms: Mapping[uuid.UUID, list[str]] | None = None,
) -> list[uuid.UUID]:
    """Embed the texts whose content changed for this model and upsert them (with their
    `terms`, when given); returns the ids (re)embedded. Unchanged texts cost one indexed
    lookup and no embedding call; their terms are updated in place if they differ."""
    if not texts:
        return []
    model = checked_model(embedder.name)
    hashes = {eid: content_hash(embedder, t) for eid, t in texts.items()}
    rows = await session.execute(
        text(
            "SELECT entity_id, content_hash, terms FROM embeddings WHERE entity_type = :t "
            "AND model = :m AND entity_id = ANY(:ids)"
        ),
        {"t": entity_type, "m": model, "ids": list(texts)},
    )
    current = {r.entity_id: (r.content_hash, r.terms) for r in rows}
    changed = [eid for eid, h in hashes.items() if current.get(eid, ("", None))[0] != h]
    if terms is not None:
        stale = [
            {"entity_type": entity_type, "entity_id": eid, "model": model, "terms": terms[eid]}
            for eid, (h, held) in current.items()
            if h == hashes[eid] and held != terms[eid]
        ]
        if stale:
            await session.execute(_SET_TERMS, stale)
    if not changed:
        return []
    rebuild: bool | None = None  # decided once the first answer tells the vector size
    done: list[uuid.UUID] = []
    try:
        for start in range(0, len(changed), UPSERT_CHUNK):
            part = changed[start : start + UPSERT_CHUNK]
            vectors = await embedder.embed([texts[eid] for eid in part])
            if embedder.dim is None:
                raise EmbeddingError(f"embedding model {model} did not report its vector size")
            if rebuild is None:
                rebuild = await _prepare_load(session, model=model, dim=embedder.dim,
                                              rows=len(changed))  # fmt: skip
            await session.execute(
                _UPSERT,
                [
                    {
                        "id": uuid.uuid4(),
                        "entity_type": entity_type,
                        "entity_id": eid,
                        "model": model,
                        "content_hash": hashes[eid],
                        "vec": vec,
                        "terms": terms[eid] if terms is not None else None,
                    }
                    for eid, vec in zip(part, vectors, strict=True)
                ],
            )
            done.extend(part)
    except EmbeddingError:
        if rebuild and embedder.dim is not None:  # the rows written so far keep their index
            await _rebuild_index(session, model=model, dim=embedder.dim)
        raise
    if rebuild and embedder.dim is not None:
        await _rebuild_index(session, model=model, dim=embedder.dim)
    return done


async def _prepare_load(session: AsyncSession, *, model: str, dim: int, rows: int) -> bool:
    """Before writing `rows` vectors: drop the model's index when rebuilding it after is
    cheaper (a first or bulk load; True), else make sure it exists (False)."""
    rebuild = rows >= BULK_REBUILD_MIN and dim <= MAX_INDEXED_DIM
    if rebuild:
        held = await session.scalar(
            text("SELECT count(*) FROM embeddings WHERE model = :m"), {"m": model}
        )
        rebuild = rows >= int(held or 0)
    if rebuild:
        # holds the table's lock until the writer commits: meant for first and bulk loads
        await session.execute(text(f"DROP INDEX IF EXISTS {hnsw_index_name(model)}"))
        forget_index(model)
    else:
        await ensure_index(session, model=model, dim=dim)
    return rebuild


async def _rebuild_index(session: AsyncSession, *, model: str, dim: int) -> None:
    await ensure_index(session, model=model, dim=dim)
    # fresh statistics, or the planner takes the new rows for a handful and skips HNSW
    await session.execute(text("ANALYZE embeddings"))


def forget_index(model: str) -> None:
    """Forget that the model's index exists (it was dropped), so the next write checks."""
    for key in [k for k in _indexed if k[1] == model]:
        _indexed.discard(key)


async def delete_vectors(
    session: AsyncSession, *, entity_type: str, entity_ids: Sequence[uuid.UUID]
) -> None:
    if entity_ids:
        await session.execute(
            text("DELETE FROM embeddings WHERE entity_type = :t AND entity_id = ANY(:ids)"),
            {"t": entity_type, "ids": list(entity_ids)},
        )


async def set_search_depth(session: AsyncSession, *, ef_search: int) -> None:
    """HNSW breadth for the session's k-NN queries; filtered scans keep going until enough
    rows pass.

    A search would spend a round trip per query on this (as many as its k-NN itself on a
    warm index), so a pooled connection that is idle gets it as its own session setting,
    once: pgvector's settings only steer HNSW scans, and every k-NN path of ours sets the
    breadth it wants. Inside a transaction already begun, it is set for that transaction.
    """
    conn = await session.connection()
    if conn.info.get(_DEPTH_KEY) == ef_search:
        return
    driver = (await conn.get_raw_connection()).driver_connection
    if driver is not None and not driver.is_in_transaction():
        # before the session's lazy BEGIN; SET outlives it, a rollback does not undo it
        await driver.execute(
            f"SET hnsw.ef_search = {int(ef_search)}; SET hnsw.iterative_scan = relaxed_order"
        )
        conn.info[_DEPTH_KEY] = ef_search
        return
    await session.execute(
        text(
            "SELECT set_config('hnsw.ef_search', :ef, true), "
            "set_config('hnsw.iterative_scan', 'relaxed_order', true)"
        ),
        {"ef": str(ef_search)},
    )


def knn_sql(
    *,
    model: str,
    dim: int,
    entity_type: str,
    where: str = "",
    exact: bool = False,
    limit_param: str = "k",
    columns: str = "",
) -> str:
    """Nearest `:<limit_param>` entities to `:<param>` by cosine distance, as (id, d) rows.

    With `exact`, the distance is computed on the unsized column, which no index covers:
    a sequential scan, the ground truth for recall. `where` and `columns` (extra output,
    e.g. ", e.terms") are trusted SQL over `e`.
    """
    model = checked_model(model)
    if entity_type not in ("item", "chunk"):
        raise ValueError(f"unknown entity type {entity_type}")
    column = "e.embedding" if exact or dim > MAX_INDEXED_DIM else f"e.embedding::vector({dim})"
    param = f"CAST(:{query_param(model)} AS real[])::vector({dim})"
    return (
        f"SELECT e.entity_id AS id, {column} <=> {param} AS d{columns} FROM embeddings e "
        f"WHERE e.model = '{model}' AND e.entity_type = '{entity_type}' {where} "
        f"ORDER BY d LIMIT :{limit_param}"
    )


def _slug(model: str) -> str:
    return hashlib.sha1(model.encode()).hexdigest()[:10]


def query_param(model: str) -> str:
    """The bind parameter name knn_sql uses for the model's query vector (a real[])."""
    return f"qv_{_slug(model)}"
