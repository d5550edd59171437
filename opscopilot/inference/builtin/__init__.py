"""Built-in models, registered at start: real models, no mocks."""

from __future__ import annotations

from opscopilot.inference.protocol import Model, ModelSpec, spec_of


def builtin_models() -> list[Model]:
    # Imported here so that importing the package does not load numpy-heavy modules.
    from opscopilot.inference.builtin.anomaly import AnomalyDetector
    from opscopilot.inference.builtin.reorder import ReorderRecommender

    return [AnomalyDetector(), ReorderRecommender()]


def builtin_specs() -> list[ModelSpec]:
    """Registration metadata of every built-in model (format builtin)."""
    return [spec_of(model) for model in builtin_models()]
