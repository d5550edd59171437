"""Pydantic schemas of the AI runtime's API: registry, inference, jobs, metrics, compare."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from opscopilot.inference.protocol import NAME_PATTERN, VERSION_PATTERN, ModelKind, TrainingMeta

JobStatus = Literal["queued", "running", "succeeded", "failed", "timed_out"]
ModelStatus = Literal["registered", "active", "inactive", "retired"]


class ModelCreate(BaseModel):
    """A version of a built-in or installed entry-point model, described in JSON. The
    code is the truth for kind, schemas and execution; given schemas must match it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    version: str = Field(pattern=VERSION_PATTERN, max_length=64)
    format: Literal["builtin", "entrypoint"] = "entrypoint"
    kind: ModelKind | None = None
    entrypoint: str | None = Field(None, description="module:attribute, if several provide it.")
    description: str | None = Field(None, max_length=2000)
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    training_meta: TrainingMeta = Field(default_factory=TrainingMeta)
    metrics: dict[str, Any] = Field(default_factory=dict)
    activate: bool | None = Field(
        None, description="Make it the active version (default: only if the name has none)."
    )


class ArtifactCreate(BaseModel):
    """The `spec` part of a multipart upload; the schemas are derived from the artifact."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    version: str = Field(pattern=VERSION_PATTERN, max_length=64)
    kind: ModelKind
    format: Literal["onnx", "skops"] | None = Field(
        None, description="Default: from the file name (.onnx / .skops)."
    )
    description: str | None = Field(None, max_length=2000)
    params: dict[str, Any] = Field(default_factory=dict)
    training_meta: TrainingMeta = Field(default_factory=TrainingMeta)
    metrics: dict[str, Any] = Field(default_factory=dict)
    trusted_types: list[str] = Field(
        default_factory=list,
        description="Extra scikit-learn / numpy / scipy types a skops file may hold.",
    )
    timeout_s: float = Field(30.0, gt=0, le=3600)
    activate: bool | None = None


class VersionUsage(BaseModel):
    """Measured from recorded runs (shadow runs count for their own version)."""

    calls: int = 0
    errors: int = 0
    error_rate: float | None = None
    pending: int = 0
    shadow_calls: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_mean_ms: float | None = None
    with_actuals: int = 0
    mae: float | None = None
    mape: float | None = None
    rmse: float | None = None
    accuracy: float | None = None
    last_call_at: datetime | None = None


class ModelVersionRead(BaseModel):
    name: str
    version: str
    kind: str
    format: str
    origin: str | None
    description: str | None
    status: ModelStatus
    is_active: bool
    is_shadow: bool
    runnable: bool
    created_at: datetime
    activated_at: datetime | None
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    params: dict[str, Any]
    training_meta: dict[str, Any]
    metrics: dict[str, Any] = Field(description="Registered metrics (training, backtest).")
    execution: dict[str, Any]
    artifact_sha256: str | None
    usage: VersionUsage


class ModelSummary(BaseModel):
    name: str
    kind: str
    description: str | None
    active_version: str | None
    latest_version: str
    versions: list[str]
    shadow_versions: list[str]


class ModelList(BaseModel):
    models: list[ModelSummary]


class ModelDetail(BaseModel):
    name: str
    kind: str
    active_version: str | None
    versions: list[ModelVersionRead]


class ShadowUpdate(BaseModel):
    enabled: bool = True


class InferRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    model: str = Field(max_length=200)
    version: str | None = Field(None, max_length=64, description="Default: the active one.")
    input: dict[str, Any]
    run_async: bool = Field(
        False, alias="async", description="Queue as a job and return its id at once."
    )
    site: str | None = Field(None, max_length=64)


class InferResponse(BaseModel):
    job_id: uuid.UUID
    model: str
    version: str
    status: JobStatus
    output: dict[str, Any] | None = None
    latency_ms: float | None = None
    reason: str | None = Field(None, description="Why the request was queued.")
    poll: str | None = None


class ItemInferRequest(BaseModel):
    model: str = Field("anomaly-detector", max_length=200)
    version: str | None = Field(None, max_length=64)
    sku: str = Field(max_length=100)
    kind: Literal["demand", "quality"] = "demand"
    period: Literal["daily", "weekly", "monthly", "quarterly"] = "monthly"
    site: str | None = Field(None, max_length=64)


class InferJobRead(BaseModel):
    id: uuid.UUID
    model: str
    version: str
    status: JobStatus
    shadow: bool
    primary_job_id: uuid.UUID | None
    input_hash: str
    output: dict[str, Any] | None
    error: str | None
    latency_ms: float | None
    queue_wait_ms: float | None
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    site: str | None
    actor: str | None
    actual: dict[str, Any] | None
    scores: dict[str, Any] | None
    shadow_jobs: list[uuid.UUID] = Field(default_factory=list)


class ActualCreate(BaseModel):
    """What really happened, in the order of the model's predictions."""

    values: list[float | int | str | bool] = Field(min_length=1, max_length=100_000)


class VersionMetrics(BaseModel):
    version: str
    status: str
    is_active: bool
    is_shadow: bool
    usage: VersionUsage
    registered: dict[str, Any]


class MetricComparison(BaseModel):
    a: Any
    b: Any
    delta: float | None
    better: Literal["a", "b"] | None


class CompareRead(BaseModel):
    name: str
    a: VersionMetrics
    b: VersionMetrics
    metrics: dict[str, MetricComparison]
    shared_inputs: int = Field(description="Distinct inputs both versions ran on (shadow).")
    verdict: str
