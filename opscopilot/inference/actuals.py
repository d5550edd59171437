"""Ground truth for recorded runs: what really happened, scored against the predictions.

A run's predictions are found by convention in its output; the scores fit the model kind
(accuracy for classifiers, else MAE / MAPE / RMSE) and are stored on the run, and on its
shadow runs (same input), so each version's accuracy can be compared.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.core.errors import ConflictError, ValidationFailed
from opscopilot.inference import registry
from opscopilot.inference.errors import JobNotFound
from opscopilot.inference.metrics import accuracy_metrics
from opscopilot.store.models.inference import InferenceJob


def visible(job: InferenceJob, sites: tuple[str, ...] | None) -> bool:
    return sites is None or job.site is None or job.site in sites


def _flat(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if isinstance(value, dict):
            value = value.get("mean", value.get("yhat", value.get("value")))
        out.append(value)
    return out


def predictions_of(output: dict[str, Any] | None) -> list[Any] | None:
    """The predictions a run's output holds, by convention: `predictions` (skops), the
    single output of an ONNX graph, or a forecast's `mean` / `points`."""
    if not output:
        return None
    for key in ("predictions", "mean", "points", "forecast"):
        if isinstance(output.get(key), list):
            return _flat(output[key])
    outputs = output.get("outputs")
    if isinstance(outputs, dict) and len(outputs) == 1:
        (only,) = outputs.values()
        if isinstance(only, list):
            return _flat(only)
    return None


def _label(value: Any) -> str:
    # JSON has one number type: a class posted as 1.0 is the class a model predicted as 1.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def score(kind: str, actual: list[Any], predicted: list[Any]) -> dict[str, Any]:
    """Per-run ground-truth scores: accuracy for classifiers, else MAE / MAPE / RMSE."""
    if len(actual) != len(predicted):
        raise ValidationFailed(
            f"{len(actual)} actual values for {len(predicted)} predictions", field="values"
        )
    if kind == "classifier":
        return {
            "n": len(actual),
            **accuracy_metrics(kind, [_label(a) for a in actual], [_label(p) for p in predicted]),
        }
    try:
        a = [float(v) for v in actual]
        p = [float(v) for v in predicted]
    except (TypeError, ValueError):
        raise ValidationFailed(
            "actual values must be numbers for this model", field="values"
        ) from None
    pairs = [(x, y) for x, y in zip(a, p, strict=True) if math.isfinite(x) and math.isfinite(y)]
    return {
        "n": len(pairs),
        "n_nonzero": sum(1 for x, _ in pairs if x != 0),
        **accuracy_metrics(kind, a, p),
    }


async def record_actual(
    session: AsyncSession,
    *,
    job_id: uuid.UUID,
    values: list[Any],
    actor: str | None = None,
    sites: tuple[str, ...] | None = None,
) -> None:
    """Score a succeeded run (and its shadow runs, on the same input) against what really
    happened; the per-version accuracy in `get_model` and `compare_versions` follows."""
    job = await session.get(InferenceJob, job_id, with_for_update=True)
    if job is None or not visible(job, sites):
        raise JobNotFound(f"no inference job {job_id}", field="job_id")
    if job.status != "succeeded":
        raise ConflictError(f"job {job_id} is {job.status}: only a succeeded run can be scored")
    shadows = (
        await session.scalars(
            select(InferenceJob).where(
                InferenceJob.primary_job_id == job_id, InferenceJob.status == "succeeded"
            )
        )
    ).all()
    for run in (job, *shadows):
        row = await registry.get_version(session, name=run.model_name, version=run.model_version)
        predicted = predictions_of(run.output)
        if predicted is None:
            if run is job:
                raise ValidationFailed(
                    "this model's output holds no predictions to score "
                    "(expected predictions, mean, points or a single ONNX output)",
                    field="values",
                )
            continue
        if run is not job and len(predicted) != len(values):
            continue  # a shadow version that predicts another shape is not comparable
        run.scores = score(row.kind, values, predicted)
        run.accuracy = run.scores.get("accuracy")
        run.actual = {"values": values, "recorded_by": actor}
    await session.flush()
