"""Document chunks (SOPs, manuals) as search results with their references, for cited
answers: title, path, heading and page travel with every hit.

Chunks are few next to items, so they are ranked by an exact scan of their own vectors
(fuzzy and semantic), then by query coverage like items.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.store.embedders import get_embedder
from opscopilot.store.models.search import FUZZY_EMBEDDING_MODEL, Document, DocumentChunk
from opscopilot.store.ranking import Coverage, channel_ranks, rrf
from opscopilot.store.text_features import canonical_tokens
from opscopilot.store.vectors import (
    knn_sql,
    models_for,
    query_param,
    query_vectors,
    upsert_texts,
)

# Words a question is phrased with, not what it is about.
QUESTION_WORDS = frozenset(
    "how what who whom when where which why do does did can could should must may i we you "
    "is are was be my our your it this that there a an on at in".split()
)


@dataclass(frozen=True)
class DocHit:
    document_id: uuid.UUID
    chunk_id: uuid.UUID
    title: str
    path: str
    heading: str | None
    page: int | None
    text: str
    score: float

    @property
    def reference(self) -> str:
        """A citation a person can follow: title, section and page."""
        parts = [self.title]
        if self.heading:
            parts.append(self.heading)
        if self.page is not None:
            parts.append(f"p. {self.page}")
        return " · ".join(parts)


def chunk_text(title: str, chunk: DocumentChunk) -> str:
    # The title and heading carry what a section is about when its body does not say it.
    head = " > ".join(p for p in (title, chunk.heading) if p)
    return f"{head}\n{chunk.text}"


async def index_chunks(
    session: AsyncSession,
    *,
    title: str,
    chunks: Sequence[DocumentChunk],
    model: str | None = None,
) -> int:
    """Embed one document's chunks (fuzzy and semantic); returns how many were embedded."""
    if not chunks:
        return 0
    if any(c.id is None for c in chunks):
        await session.flush()
    texts = {c.id: chunk_text(title, c) for c in chunks}
    written: set[uuid.UUID] = set()
    for name in models_for(model):
        written.update(
            await upsert_texts(
                session,
                entity_type="chunk",
                texts=texts,
                embedder=get_embedder(name),
                terms=_terms_for(name, chunks),
            )
        )
    return len(written)


def _terms_for(model: str, chunks: Sequence[DocumentChunk]) -> dict[uuid.UUID, list[str]] | None:
    # The passage itself must answer: its terms are its heading and body. The title, shared
    # by every chunk of a document, speaks through the vectors (which embed it).
    if model != FUZZY_EMBEDDING_MODEL:
        return None
    return {c.id: list(canonical_tokens(f"{c.heading or ''}\n{c.text}")) for c in chunks}


async def embed_missing_chunks(session: AsyncSession, *, model: str, limit: int = 256) -> int:
    """Embed up to `limit` chunks that have no vector for `model` yet."""
    rows = (
        await session.execute(
            select(DocumentChunk, Document.title)
            .join(Document, Document.id == DocumentChunk.document_id)
            .where(
                text(
                    "NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.entity_type = 'chunk' "
                    "AND e.entity_id = document_chunks.id AND e.model = :m)"
                )
            )
            .order_by(DocumentChunk.id)
            .limit(limit),
            {"m": model},
        )
    ).all()
    texts = {chunk.id: chunk_text(title, chunk) for chunk, title in rows}
    changed = await upsert_texts(
        session,
        entity_type="chunk",
        texts=texts,
        embedder=get_embedder(model),
        terms=_terms_for(model, [chunk for chunk, _title in rows]),
    )
    return len(changed)


async def search_documents(
    session: AsyncSession,
    *,
    query: str,
    limit: int = 5,
    site: str | None = None,
    model: str | None = None,
) -> list[DocHit]:
    """The document passages that best answer a query, with their references.

    `site` keeps global documents and those of that site; without it, all documents.
    """
    query = query.strip()
    if not query or limit <= 0:
        return []
    vectors = await query_vectors(query, models_for(model))
    if not vectors:
        return []
    where = ""
    params: dict[str, Any] = {"k": max(20, 4 * limit)}
    if site is not None:
        where = (
            "AND EXISTS (SELECT 1 FROM document_chunks c JOIN documents d ON d.id = "
            "c.document_id WHERE c.id = e.entity_id AND (d.site IS NULL OR d.site = :site))"
        )
        params["site"] = site
    ctes, parts = [], []
    for n, (name, vec) in enumerate(vectors.items()):
        channel = "fuzzy" if name == FUZZY_EMBEDDING_MODEL else "semantic"
        sql = knn_sql(model=name, dim=len(vec), entity_type="chunk", where=where, exact=True)
        ctes.append(f"c{n} AS MATERIALIZED ({sql})")
        parts.append(f"SELECT '{channel}' AS ch, id, d FROM c{n}")
        params[query_param(name)] = vec
    ctes.append(f"cand AS ({' UNION ALL '.join(parts)})")
    rows = (
        await session.execute(
            text(
                f"WITH {', '.join(ctes)} SELECT cand.ch, cand.id, cand.d, t.terms FROM cand "
                "LEFT JOIN embeddings t ON t.entity_type = 'chunk' AND t.entity_id = cand.id "
                f"AND t.model = '{FUZZY_EMBEDDING_MODEL}'"
            ),
            params,
        )
    ).all()
    ranks = channel_ranks((r.ch, r.id, float(r.d)) for r in rows)
    terms = {r.id: frozenset(r.terms or ()) for r in rows}
    covers = Coverage([t for t in canonical_tokens(query) if t not in QUESTION_WORDS])
    scores = {
        chunk_id: round(
            covers(terms[chunk_id]) + rrf(channels.get("semantic")) + rrf(channels.get("fuzzy")),
            6,
        )
        for chunk_id, channels in ranks.items()
    }
    best = sorted(scores, key=lambda c: -scores[c])[: limit * 2]
    loaded = await session.execute(
        select(DocumentChunk, Document)
        .join(Document, Document.id == DocumentChunk.document_id)
        .where(DocumentChunk.id.in_(best))
    )
    hits = [
        DocHit(
            document_id=doc.id,
            chunk_id=chunk.id,
            title=doc.title,
            path=doc.path,
            heading=chunk.heading,
            page=chunk.page,
            text=chunk.text,
            score=scores[chunk.id],
        )
        for chunk, doc in loaded.all()
    ]
    hits.sort(key=lambda h: (-h.score, h.path, h.heading or ""))
    return hits[:limit]
