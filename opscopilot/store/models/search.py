"""Embeddings keyed by model (a partial HNSW index per model) and document chunks."""

from __future__ import annotations

import uuid
from datetime import datetime

from pgvector.sqlalchemy import Vector
from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, cast, text
from sqlalchemy.orm import Mapped, mapped_column

from opscopilot.store.models.base import Base, created_at, uuid_pk

# The offline default embedder: hashed character n-grams, no download.
DEFAULT_EMBEDDING_MODEL = "hash-ngram-256"
DEFAULT_EMBEDDING_DIM = 256


class Embedding(Base):
    __tablename__ = "embeddings"
    __table_args__ = (UniqueConstraint("entity_type", "entity_id", "model"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[uuid.UUID] = mapped_column()
    model: Mapped[str] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(64))
    embedding: Mapped[list[float]] = mapped_column(Vector())
    created_at: Mapped[datetime] = created_at()


def hnsw_index(model: str, dim: int) -> Index:
    """A partial HNSW index over one model's vectors (the column itself has no fixed size);
    queries must cast the same way (`embedding::vector(dim)`) and filter on the model."""
    slug = "".join(c if c.isalnum() else "_" for c in model).lower()
    return Index(
        f"ix_embeddings_hnsw_{slug}",
        cast(Embedding.__table__.c.embedding, Vector(dim)).label("vec"),
        postgresql_using="hnsw",
        postgresql_where=text(f"model = '{model}'"),
        postgresql_with={"m": 16, "ef_construction": 64},
        postgresql_ops={"vec": "vector_cosine_ops"},
    )


hnsw_index(DEFAULT_EMBEDDING_MODEL, DEFAULT_EMBEDDING_DIM)


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
