"""The forecasting engine's models as registry entries, with their backtest metrics.

One `forecaster` entry per candidate family (`forecast.autoets`, `forecast.adida`, ...)
plus `forecast.auto` (the per-series choice by backtest), versioned by the engine version.
They are registered at start so their versions show in `GET /api/v1/models`; the
forecasting engine runs them (with explanations and alerts), so `/infer` refuses them
with a pointer. Metrics arrive from the forecasting service through
`record_forecaster_metrics` after each stored forecast and are kept as running means.
"""

from __future__ import annotations

import importlib
import math
import re
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.inference import registry
from opscopilot.inference.protocol import VERSION_PATTERN, ExecutionHints, ModelSpec
from opscopilot.inference.runtime import SERVED_BY_KEY
from opscopilot.store.models.inference import AIModel

PREFIX = "forecast."
AUTO = "auto"
SERVED_BY = "the forecasting engine (POST /api/v1/forecasts)"
ORIGIN = "forecasting engine"

_INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "What the forecasting engine fits on: one item's history by period.",
    "properties": {
        "history": {"type": "array", "items": {"type": ["number", "null"]}},
        "period": {"enum": ["daily", "weekly", "monthly", "quarterly"]},
        "horizon": {"type": "integer", "minimum": 1},
    },
    "required": ["history", "period", "horizon"],
}
_OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Point forecast with interval bounds per period.",
    "properties": {"points": {"type": "array"}, "model": {"type": "string"}},
    "required": ["points"],
}


def forecaster_name(family: str) -> str:
    """`AutoETS` -> `forecast.autoets`; a name already in registry form is kept."""
    lowered = family.lower()
    return lowered if lowered.startswith(PREFIX) else PREFIX + re.sub(r"[^a-z0-9_.-]", "-", lowered)


def engine_version() -> str | None:
    """`opscopilot.forecasting.ENGINE_VERSION` when the engine defines one (semver), else
    the application version; None when the forecasting package is absent."""
    try:
        engine = importlib.import_module("opscopilot.forecasting")
    except ModuleNotFoundError:
        return None
    version = getattr(engine, "ENGINE_VERSION", None)
    if isinstance(version, str) and re.match(VERSION_PATTERN, version):
        return version
    from opscopilot import __version__

    return __version__


def engine_families() -> list[str]:
    """`auto` and every model the engine can choose (read from its candidate table)."""
    try:
        models = importlib.import_module("opscopilot.forecasting.models")
    except ModuleNotFoundError:
        return []
    return [AUTO, *models.CANDIDATES, models.ZERO_MODEL, models.PROPHET_MODEL]


def forecaster_spec(family: str, version: str) -> ModelSpec:
    label = "per-series choice by rolling-origin backtest" if family == AUTO else family
    return ModelSpec(
        name=forecaster_name(family),
        version=version,
        kind="forecaster",
        format="builtin",
        description=f"Forecasting engine model: {label}. Runs in the forecasting service.",
        input_schema=_INPUT_SCHEMA,
        output_schema=_OUTPUT_SCHEMA,
        params={"family": family, SERVED_BY_KEY: SERVED_BY},
        hints=ExecutionHints(is_slow=True, timeout_s=300.0),
    )


def _numbers(metrics: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            if math.isfinite(float(value)):
                out[str(key)] = float(value)
    return out


async def _fold(
    session: AsyncSession, *, name: str, family: str, version: str, values: dict[str, float]
) -> None:
    row = await session.scalar(
        registry.light_query()
        .where(AIModel.name == name, AIModel.version == version)
        .with_for_update()
    )
    if row is None:
        await registry.upsert_code_models(
            session, specs=[(forecaster_spec(family, version), ORIGIN)]
        )
        row = await session.scalar(
            registry.light_query()
            .where(AIModel.name == name, AIModel.version == version)
            .with_for_update()
        )
    assert row is not None
    metrics = dict(row.metrics or {})
    means: dict[str, Any] = dict(metrics.get("backtest") or {})
    counts: dict[str, Any] = dict(metrics.get("backtest_counts") or {})
    means["forecasts"] = int(means.get("forecasts", 0)) + 1
    for key, value in values.items():
        n = int(counts.get(key, 0)) + 1
        old = float(means.get(key, 0.0)) if n > 1 else 0.0
        means[key] = old + (value - old) / n
        counts[key] = n
    metrics["backtest"], metrics["backtest_counts"] = means, counts
    row.metrics = metrics


async def record_forecaster_metrics(
    session: AsyncSession,
    *,
    model: str,
    version: str,
    metrics: dict[str, Any],
    chosen_by_backtest: bool = True,
) -> None:
    """Fold one stored forecast's backtest accuracy into its model's registry entry.

    `model` is the engine's model name (`AutoETS`, `ADIDA`, `Prophet`, ...) or a registry
    name (`forecast.autoets`); `version` the engine version; `metrics` the backtest numbers
    (e.g. `{"rmsse": 0.91, "mase": 0.84, "mae": 3.2, "coverage_80": 0.79}`; non-numeric and
    non-finite values are skipped). Each key keeps a running mean and its count in
    `ai_models.metrics["backtest"]` / `["backtest_counts"]`. When the model was picked by
    the backtest (not forced by the caller), `forecast.auto` is updated too. An entry
    missing from the registry (a new family or engine version) is registered on the fly.
    Runs in the caller's transaction; the caller commits.
    """
    values = _numbers(metrics)
    family = model[len(PREFIX) :] if model.lower().startswith(PREFIX) else model
    await _fold(session, name=forecaster_name(model), family=family, version=version, values=values)
    if chosen_by_backtest and forecaster_name(model) != forecaster_name(AUTO):
        await _fold(
            session, name=forecaster_name(AUTO), family=AUTO, version=version, values=values
        )


def forecaster_specs() -> list[ModelSpec]:
    version = engine_version()
    if version is None:
        return []
    return [forecaster_spec(family, version) for family in engine_families()]
