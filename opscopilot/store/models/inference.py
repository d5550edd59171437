"""The AI runtime: model registry with versions, and every inference run."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from opscopilot.store.models.base import Base, created_at, uuid_pk


class AIModel(Base):
    __tablename__ = "ai_models"
    __table_args__ = (
        UniqueConstraint("name", "version"),
        # One active version per name.
        Index(
            "uq_ai_models_active_name",
            "name",
            unique=True,
            postgresql_where=text("is_active"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    format: Mapped[str] = mapped_column(String(16), default="builtin")
    # Where the version came from: "builtin", "entry point NAME (DIST VERSION)", "upload".
    origin: Mapped[str | None] = mapped_column(String(300))
    # module:attribute of an entry-point model, re-imported by isolated worker processes.
    entrypoint: Mapped[str | None] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    input_schema: Mapped[dict[str, Any]] = mapped_column(default=dict)
    output_schema: Mapped[dict[str, Any]] = mapped_column(default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    training_meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # ExecutionHints: slow (always queued), isolated (killable process), timeout, batch size.
    execution: Mapped[dict[str, Any]] = mapped_column(default=dict)
    artifact: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Names the local cached copy of the artifact and guards it against a swapped file.
    artifact_sha256: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="registered")
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    is_shadow: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = created_at()
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class InferenceJob(Base):
    __tablename__ = "inference_jobs"
    __table_args__ = (Index("ix_inference_jobs_model", "model_name", "model_version", "queued_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(64))
    input: Mapped[dict[str, Any]] = mapped_column()
    input_hash: Mapped[str] = mapped_column(String(64))
    output: Mapped[dict[str, Any] | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="queued")
    error: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    shadow: Mapped[bool] = mapped_column(Boolean, default=False)
    # A shadow run points at the caller's run on the same input, so actuals score both.
    primary_job_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    actual: Mapped[dict[str, Any] | None] = mapped_column()
    accuracy: Mapped[float | None] = mapped_column(Float)
    # Ground-truth scores of this run: n, and mae / mape / rmse or accuracy by model kind.
    scores: Mapped[dict[str, Any] | None] = mapped_column()
    site: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str | None] = mapped_column(String(200))
    queued_at: Mapped[datetime] = created_at()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
