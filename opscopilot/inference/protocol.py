"""The interface every model implements, and the spec it is registered with.

A model is any object with a name, version, kind, input and output JSON Schemas and a
synchronous, pure, CPU-only `predict(input) -> output` over JSON-shaped dicts. Built-in
models, entry-point plugins and uploaded ONNX / skops artifacts all meet this one
interface, so the registry, the runner and the metrics never care where a model came from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from opscopilot.inference.validation import compile_schema

ModelKind = Literal["forecaster", "anomaly_detector", "recommender", "classifier", "regressor"]
ModelFormat = Literal["builtin", "entrypoint", "onnx", "skops"]

MODEL_KINDS: tuple[ModelKind, ...] = (
    "forecaster",
    "anomaly_detector",
    "recommender",
    "classifier",
    "regressor",
)
# Names appear in URLs (/api/v1/models/{name}), so keep them URL-safe.
NAME_PATTERN = r"^[a-z][a-z0-9_.-]{0,199}$"
# Semantic versions, so "roll back to the previous version" has an order to follow.
VERSION_PATTERN = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$"
)


@runtime_checkable
class Model(Protocol):
    """What the runtime needs from a model. Plain class attributes satisfy the properties."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def kind(self) -> ModelKind: ...

    @property
    def input_schema(self) -> dict[str, Any]: ...

    @property
    def output_schema(self) -> dict[str, Any]: ...

    def predict(self, input: dict[str, Any]) -> dict[str, Any]:
        """Pure and synchronous: same input, same output; no IO, no global state."""
        ...


class ExecutionHints(BaseModel):
    """How a model wants to be run; a model may expose these as a `hints` attribute."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    is_slow: bool = Field(False, description="Always queue as a job, never run inline.")
    isolate: bool = Field(
        False,
        description="Run in a killable worker process: the model may hang or leak.",
    )
    batch_field: str | None = Field(
        None, description="Top-level input list whose length is the request's batch size."
    )
    max_inline_items: int | None = Field(
        None, ge=1, description="Above this many batch items, queue instead of running inline."
    )
    timeout_s: float = Field(30.0, gt=0, le=3600)


DEFAULT_HINTS = ExecutionHints()
# Code or files from outside this repository may hang; only our own models run in a thread.
UNTRUSTED_CODE_HINTS = ExecutionHints(isolate=True)


def hints_of(model: object) -> ExecutionHints:
    hints = getattr(model, "hints", None)
    return hints if isinstance(hints, ExecutionHints) else DEFAULT_HINTS


class TrainingMeta(BaseModel):
    """Where a model came from. Known keys are typed; a plant's extra keys are kept."""

    model_config = ConfigDict(extra="allow")

    trained_at: datetime | None = None
    dataset: str | None = None
    n_samples: int | None = Field(None, ge=0)
    features: list[str] = Field(default_factory=list)
    notes: str | None = None


def check_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Refuse a schema that is not valid Draft 2020-12 or does not describe an object."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "(root)"
        raise ValueError(f"not a valid JSON Schema at {where}: {exc.message}") from None
    if schema.get("type") != "object":
        raise ValueError('must describe a JSON object (type: "object"): predict takes a dict')
    compile_schema(schema)
    return schema


class ModelSpec(BaseModel):
    """Everything the registry stores about one model version."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    version: str = Field(pattern=VERSION_PATTERN, max_length=64)
    kind: ModelKind
    format: ModelFormat = "builtin"
    description: str | None = Field(None, max_length=2000)
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    params: dict[str, Any] = Field(default_factory=dict)
    training_meta: TrainingMeta = Field(default_factory=TrainingMeta)
    metrics: dict[str, Any] = Field(default_factory=dict)
    entrypoint: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$",
        description="module:attribute of an entry-point model (format entrypoint only).",
    )
    hints: ExecutionHints = DEFAULT_HINTS

    @field_validator("input_schema", "output_schema")
    @classmethod
    def _valid_schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        return check_json_schema(schema)

    @model_validator(mode="after")
    def _entrypoint_matches_format(self) -> ModelSpec:
        if self.format == "entrypoint" and self.entrypoint is None:
            raise ValueError("format 'entrypoint' needs entrypoint 'module:attribute'")
        if self.format != "entrypoint" and self.entrypoint is not None:
            raise ValueError(f"entrypoint is only for format 'entrypoint', not {self.format!r}")
        return self


def spec_of(
    model: Model,
    *,
    format: ModelFormat = "builtin",
    entrypoint: str | None = None,
    description: str | None = None,
    params: dict[str, Any] | None = None,
    training_meta: TrainingMeta | None = None,
    metrics: dict[str, Any] | None = None,
) -> ModelSpec:
    """The registration spec of a live model object; optional attributes fill the rest."""
    doc = description or getattr(model, "description", None)
    return ModelSpec(
        name=model.name,
        version=model.version,
        kind=model.kind,
        format=format,
        description=doc,
        input_schema=model.input_schema,
        output_schema=model.output_schema,
        params=params if params is not None else dict(getattr(model, "params", {}) or {}),
        training_meta=training_meta or TrainingMeta(),
        metrics=metrics or {},
        entrypoint=entrypoint,
        hints=hints_of(model),
    )
