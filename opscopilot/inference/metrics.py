"""Per model version metrics from recorded jobs: calls, error rate, latency, accuracy.

Pure functions over plain values, so the store layer maps `inference_jobs` rows to
JobObservation and the same code serves the API, the metrics endpoint and "compare".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

FINISHED = frozenset({"succeeded", "failed", "timed_out"})
ERRORS = frozenset({"failed", "timed_out"})


@dataclass(frozen=True)
class JobObservation:
    status: str
    latency_ms: float | None


@dataclass(frozen=True)
class VersionMetrics:
    calls: int
    errors: int
    error_rate: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_mean_ms: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default), q in [0, 100]; None if empty."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError("q must be within 0 and 100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_percentiles(latencies_ms: Sequence[float]) -> dict[str, float | None]:
    return {"p50": percentile(latencies_ms, 50), "p95": percentile(latencies_ms, 95)}


def error_rate(statuses: Iterable[str]) -> float | None:
    """Share of finished runs that failed or timed out; queued and running runs are not
    counted, since they have no outcome yet."""
    finished = [s for s in statuses if s in FINISHED]
    if not finished:
        return None
    return sum(s in ERRORS for s in finished) / len(finished)


def summarize_jobs(jobs: Iterable[JobObservation]) -> VersionMetrics:
    finished = [j for j in jobs if j.status in FINISHED]
    errors = sum(j.status in ERRORS for j in finished)
    # Latency of successful runs only: a timeout's latency is the timeout itself.
    latencies = [
        j.latency_ms for j in finished if j.status == "succeeded" and j.latency_ms is not None
    ]
    return VersionMetrics(
        calls=len(finished),
        errors=errors,
        error_rate=errors / len(finished) if finished else None,
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
        latency_mean_ms=sum(latencies) / len(latencies) if latencies else None,
    )


def _pairs(actual: Sequence[float], predicted: Sequence[float]) -> list[tuple[float, float]]:
    if len(actual) != len(predicted):
        raise ValueError(f"{len(actual)} actuals but {len(predicted)} predictions")
    return [
        (float(a), float(p))
        for a, p in zip(actual, predicted, strict=True)
        if math.isfinite(a) and math.isfinite(p)
    ]


def mae(actual: Sequence[float], predicted: Sequence[float]) -> float | None:
    pairs = _pairs(actual, predicted)
    return sum(abs(a - p) for a, p in pairs) / len(pairs) if pairs else None


def rmse(actual: Sequence[float], predicted: Sequence[float]) -> float | None:
    pairs = _pairs(actual, predicted)
    return math.sqrt(sum((a - p) ** 2 for a, p in pairs) / len(pairs)) if pairs else None


def mape(actual: Sequence[float], predicted: Sequence[float]) -> float | None:
    """Mean absolute percentage error in percent, over periods with a non-zero actual
    (a zero actual has no percentage error); None if every actual is zero."""
    pairs = [(a, p) for a, p in _pairs(actual, predicted) if a != 0]
    return 100 * sum(abs(a - p) / abs(a) for a, p in pairs) / len(pairs) if pairs else None


def accuracy(actual: Sequence[Any], predicted: Sequence[Any]) -> float | None:
    """Share of exact label matches (classifiers)."""
    if len(actual) != len(predicted):
        raise ValueError(f"{len(actual)} actuals but {len(predicted)} predictions")
    if not actual:
        return None
    matches: int = sum(bool(a == p) for a, p in zip(actual, predicted, strict=True))
    return matches / len(actual)


def accuracy_metrics(
    kind: str, actual: Sequence[Any], predicted: Sequence[Any]
) -> dict[str, float | None]:
    """The ground-truth metrics that fit the model kind."""
    if kind == "classifier":
        return {"accuracy": accuracy(actual, predicted)}
    return {
        "mae": mae(actual, predicted),
        "mape": mape(actual, predicted),
        "rmse": rmse(actual, predicted),
    }


Better = Literal["lower", "higher"]
_DIRECTION: dict[str, Better] = {
    "error_rate": "lower",
    "latency_p50_ms": "lower",
    "latency_p95_ms": "lower",
    "latency_mean_ms": "lower",
    "mae": "lower",
    "mape": "lower",
    "rmse": "lower",
    "mase": "lower",
    "rmsse": "lower",
    "wql": "lower",
    "accuracy": "higher",
}
# Registered numbers (training or backtest) keep their metric's direction.
_PREFIXES = ("backtest_", "registered_")


def direction_of(name: str) -> Better | None:
    for prefix in ("", *_PREFIXES):
        if name.startswith(prefix) and name[len(prefix) :] in _DIRECTION:
            return _DIRECTION[name[len(prefix) :]]
    return None


def compare(metrics_a: dict[str, Any], metrics_b: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Side by side: per metric both values, the difference b - a, and which is better
    (None when a value is missing, equal, or the metric has no direction)."""
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(set(metrics_a) | set(metrics_b)):
        a, b = metrics_a.get(name), metrics_b.get(name)
        delta = better = None
        if isinstance(a, int | float) and isinstance(b, int | float):
            delta = b - a
            direction = direction_of(name)
            if direction and a != b:
                better = "b" if (b < a) == (direction == "lower") else "a"
        out[name] = {"a": a, "b": b, "delta": delta, "better": better}
    return out
