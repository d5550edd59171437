"""Errors of the AI runtime, on the shared domain-error base so the edges map them once."""

from __future__ import annotations

from typing import Any

from opscopilot.core.errors import (
    ConflictError,
    NotFoundError,
    OpsCopilotError,
    ServiceUnavailable,
    ValidationFailed,
)


class ModelNotFound(NotFoundError):
    code = "model_not_found"


class JobNotFound(NotFoundError):
    code = "inference_job_not_found"


class RegistryConflict(ConflictError):
    """A registry change that contradicts its state: a duplicate version, retiring the
    active version, rolling back with nothing to roll back to."""

    code = "model_registry_conflict"


class ModelNotRunnable(ConflictError):
    """The version exists but cannot run here: retired, served by another engine
    (forecasters), or a built-in version this release no longer ships."""

    code = "model_not_runnable"


class QueueUnavailable(ServiceUnavailable):
    code = "inference_queue_unavailable"


class InvalidModelInput(ValidationFailed):
    """The input fails the model's JSON Schema; `errors` lists every field and reason."""

    code = "invalid_model_input"

    def __init__(self, message: str, *, errors: list[dict[str, Any]]) -> None:
        field = errors[0]["field"] if errors else None
        super().__init__(message, field=field, details=errors)
        self.errors = errors


class InvalidModelSpec(ValidationFailed):
    code = "invalid_model_spec"


class InvalidArtifact(ValidationFailed):
    """An uploaded artifact is not valid ONNX / skops, or is a format we refuse (pickle)."""

    code = "invalid_artifact"


class PluginLoadError(OpsCopilotError):
    code = "plugin_load_error"


class ModelRunFailed(OpsCopilotError):
    """The model raised, crashed or returned something unusable; the message is scrubbed."""

    # The model is an upstream component of the API: its failure is a gateway error.
    status_code = 502
    code = "model_failed"


class ModelTimedOut(OpsCopilotError):
    status_code = 504
    code = "model_timeout"
