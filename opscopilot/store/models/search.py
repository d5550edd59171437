"""Embeddings keyed by model (a partial HNSW index per model) and document chunks."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    cast,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from opscopilot.store.models.base import Base, created_at, uuid_pk
from opscopilot.store.models.items import ExternalMapping, ManufacturingItem

# The offline default embedder: hashed words and character n-grams, no download.
DEFAULT_EMBEDDING_MODEL = "hash-ngram-256"
DEFAULT_EMBEDDING_DIM = 256
# Item search's fuzzy channel, kept whatever semantic model is configured: the hashed
# character n-grams (and words) of the default model, typo-tolerant, no pg_trgm needed.
FUZZY_EMBEDDING_MODEL = DEFAULT_EMBEDDING_MODEL


class Embedding(Base):
    __tablename__ = "embeddings"
    __table_args__ = (UniqueConstraint("entity_type", "entity_id", "model"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[uuid.UUID] = mapped_column()
    model: Mapped[str] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(64))
    embedding: Mapped[list[float]] = mapped_column(Vector())
    # The canonical tokens of the entity's whole text (on the fuzzy model's row), so that
    # search ranks candidates by coverage without loading and re-tokenising them.
    terms: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    created_at: Mapped[datetime] = created_at()


def hnsw_index_name(model: str) -> str:
    slug = "".join(c if c.isalnum() else "_" for c in model).lower()
    if len(slug) > 40:  # identifiers stop at 63 bytes; keep long model names apart
        slug = f"{slug[:31]}_{hashlib.sha1(model.encode()).hexdigest()[:8]}"
    return f"ix_embeddings_hnsw_{slug}"


def hnsw_params(model: str) -> dict[str, int]:
    """Graph degree and build breadth. Hashed n-gram vectors are sparse, and a catalogue
    is full of near twins (one gasket in eight materials from six suppliers): with the
    usual m=16 / ef_construction=64 the graph strands short queries in the wrong family
    (recall@10 0.89 at 30,000 items, ef_search 100). Measured at 100,000 items, m=24,
    recall@10 at ef_search 100 / 150 / 200 by ef_construction: 200: 0.92 / 0.93 / 0.95;
    400: 0.95 / 0.97 / 0.98; 800: 0.96 / 0.98 / 0.98 (bench/search). A broader build buys
    what each search would otherwise pay for with its own breadth, for a longer build
    (800: about 6 minutes on a loaded 2-core machine, twice 400's). m=32 / 128 gave
    0.92-0.94 at 200, m=48 / 200 0.95 at 200, searching slower (more neighbours per step).
    Learned dense embeddings do well on the usual settings."""
    if model.startswith("hash-"):
        return {"m": 24, "ef_construction": 800}
    return {"m": 16, "ef_construction": 64}


def hnsw_index(model: str, dim: int) -> Index:
    """A partial HNSW index over one model's vectors (the column itself has no fixed size);
    queries must cast the same way (`embedding::vector(dim)`) and filter on the model."""
    return Index(
        hnsw_index_name(model),
        cast(Embedding.__table__.c.embedding, Vector(dim)).label("vec"),
        postgresql_using="hnsw",
        postgresql_where=text(f"model = '{model}'"),
        postgresql_with=hnsw_params(model),
        postgresql_ops={"vec": "vector_cosine_ops"},
    )


hnsw_index(DEFAULT_EMBEDDING_MODEL, DEFAULT_EMBEDDING_DIM)

# Item search's lookups on the items' own tables: SKU equality and prefix (as typed, and
# with separators dropped: "sen80314" finds SEN-80314), and external ids (an ERP's ItemNo).
Index(
    "ix_manufacturing_items_sku_lower",
    func.lower(ManufacturingItem.__table__.c.sku).label("sku_lower"),
    postgresql_ops={"sku_lower": "text_pattern_ops"},
)
Index(
    "ix_manufacturing_items_sku_compact",
    func.regexp_replace(
        func.lower(ManufacturingItem.__table__.c.sku), text("'[^a-z0-9]'"), text("''"), text("'g'")
    ).label("sku_compact"),
    postgresql_ops={"sku_compact": "text_pattern_ops"},
)
Index(
    "ix_external_mappings_external_id_lower",
    func.lower(ExternalMapping.__table__.c.external_id),
)
# Item search's term channel: the items holding one of a query's rare words (a part
# number, a size, a supplier's code), whatever the HNSW breadth found.
Index(
    "ix_embeddings_item_terms",
    Embedding.__table__.c.terms,
    postgresql_using="gin",
    # no pending list: after a bulk load it made every lookup scan megabytes of new entries
    postgresql_with={"fastupdate": "off"},
    postgresql_where=text(f"model = '{FUZZY_EMBEDDING_MODEL}' AND entity_type = 'item'"),
)


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[uuid.UUID] = uuid_pk()
    path: Mapped[str] = mapped_column(Text, unique=True)
    title: Mapped[str] = mapped_column(String(500))
    content_hash: Mapped[str] = mapped_column(String(64))
    site: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at()


class DocumentChunk(Base):
    __tablename__ = "document_chunks"
    __table_args__ = (UniqueConstraint("document_id", "ordinal"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(Integer)
    heading: Mapped[str | None] = mapped_column(Text)
    page: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
