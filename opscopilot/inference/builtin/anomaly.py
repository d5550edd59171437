"""Anomaly detector over an item's demand or quality observations.

Two detectors, one verdict:

1. A robust seasonal baseline (`baseline.py`) gives each period an expected value and a
   robust z (residual / MAD-sigma). |z| >= threshold (3.5, Iglewicz and Hoaglin's cut-off
   for modified z-scores) is an anomaly on its own.
2. A seeded IsolationForest (`forest.py`) scores each period's residual features (z,
   jump, neighbour contrast) against a reference of anomaly-free series. A borderline
   point (|z| >= 0.7 * threshold) that the forest isolates beyond its reference 99.5th
   percentile is an anomaly too: a lone spike that reverts is more suspicious than the
   same deviation inside a noisy stretch.

The forest is not fitted on the request's own data: that would make an item's verdict
depend on which other items share its batch, cost ~80 ms per single-item call, and mean
nothing on a 10-point series. The reference fit is batch-invariant and deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from opscopilot.inference.builtin import baseline as bl
from opscopilot.inference.builtin import forest
from opscopilot.inference.builtin.anomaly_schemas import INPUT_SCHEMA, OUTPUT_SCHEMA
from opscopilot.inference.protocol import ExecutionHints, ModelKind

NAME = "anomaly-detector"
VERSION = "1.0.0"
DEFAULT_THRESHOLD = 3.5
CONFIRM_FRACTION = 0.7


@dataclass
class SeriesInput:
    item: str | None
    series: list[dict[str, Any]]
    values: NDArray[np.float64]
    season: int | None
    metric: str


@dataclass
class _Group:
    members: list[int]
    missing: NDArray[np.bool_]
    analysis: bl.Analysis


def parse_input(input: dict[str, Any]) -> tuple[list[SeriesInput], bool]:
    """The series to analyse (items inherit the top-level season and metric) and whether
    the request was a batch."""
    season = input.get("season_length")
    metric = input.get("metric", "demand")
    batch = "items" in input
    entries = input["items"] if batch else [input]
    items = [
        SeriesInput(
            item=entry.get("item"),
            series=entry["series"],
            # None becomes NaN: a period that was not observed.
            values=np.array([p.get("value") for p in entry["series"]], dtype=float),
            season=entry.get("season_length", season),
            metric=entry.get("metric", metric),
        )
        for entry in entries
    ]
    return items, batch


def _fmt(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _label(point: dict[str, Any], index: int) -> str | int:
    label: str | int | None = point.get("period", point.get("date"))
    return index if label is None else label


def _anomaly(
    entry: SeriesInput,
    index: int,
    expected: float,
    z: float,
    score: float,
    *,
    confirmed: bool,
    flat: bool,
) -> dict[str, Any]:
    value = float(entry.values[index])
    pct = None if abs(expected) < 1e-9 else (value - expected) / abs(expected) * 100
    change = "" if pct is None else f" ({pct:+.0f} %)"
    spread = "the rest of the series does not vary" if flat else f"{abs(z):.1f} robust deviations"
    reason = f"{entry.metric} {_fmt(value)} vs expected {_fmt(expected)}{change}, {spread}"
    if confirmed:
        reason += f"; isolated by the forest (score {score:.2f})"
    return {
        "index": index,
        "period": _label(entry.series[index], index),
        "value": value,
        "expected": round(expected, 4),
        "deviation_pct": None if pct is None else round(pct, 1),
        "robust_z": round(z, 2),
        "score": round(score, 3),
        "direction": "high" if z > 0 else "low",
        "reason": reason,
    }


def _summary(entry: SeriesInput, threshold: float) -> dict[str, Any]:
    n = entry.values.size
    season = bl.usable_season(entry.season, n)
    valid = int(np.isfinite(entry.values).sum())
    note = None
    if valid < bl.MIN_POINTS:
        note = f"{valid} observed values; at least {bl.MIN_POINTS} are needed"
    elif entry.season is not None and entry.season >= 2 and season is None:
        note = f"season length {entry.season} needs {2 * entry.season} points; analysed without"
    return {
        "item": entry.item,
        "status": "ok" if valid >= bl.MIN_POINTS else "insufficient_data",
        "n_points": n,
        "season_length_used": season,
        "threshold": threshold,
        "anomalies": [],
        "note": note,
    }


def detect(items: list[SeriesInput], threshold: float) -> list[dict[str, Any]]:
    """Per-item results in input order. Items of equal length and season are analysed as
    one array, and all periods of the request are scored by the forest in one pass."""
    results = [_summary(entry, threshold) for entry in items]
    by_shape: dict[tuple[int, int | None], list[int]] = {}
    for i, result in enumerate(results):
        if result["status"] == "ok":
            by_shape.setdefault((result["n_points"], result["season_length_used"]), []).append(i)
    if not by_shape:
        return results

    groups = []
    for (_, season), members in by_shape.items():
        values, missing = bl.fill_missing(np.stack([items[i].values for i in members]))
        groups.append(_Group(members, missing, bl.analyse(values, missing, season)))
    scorer = forest.reference_scorer()
    pooled = np.concatenate([g.analysis.features.reshape(-1, 3) for g in groups])
    scores = scorer.score(pooled)

    offset = 0
    for group in groups:
        expected, z, _, degenerate = group.analysis
        score = scores[offset : offset + z.size].reshape(z.shape)
        offset += z.size
        strong = np.abs(z) >= threshold
        confirmed = ~strong & (np.abs(z) >= CONFIRM_FRACTION * threshold) & (score >= scorer.cut)
        flagged = (strong | confirmed) & ~group.missing
        for row, i in enumerate(group.members):
            results[i]["anomalies"] = [
                _anomaly(
                    items[i],
                    int(t),
                    float(expected[row, t]),
                    float(z[row, t]),
                    float(score[row, t]),
                    confirmed=bool(confirmed[row, t]),
                    flat=bool(degenerate[row]),
                )
                for t in np.flatnonzero(flagged[row])
            ]
            observed = items[i].values[~group.missing[row]]
            if np.ptp(observed) == 0:
                results[i]["note"] = "constant series: nothing deviates"
    return results


class AnomalyDetector:
    """Built-in anomaly detector; see the module docstring for the method."""

    name = NAME
    version = VERSION
    kind: ModelKind = "anomaly_detector"
    input_schema = INPUT_SCHEMA
    output_schema = OUTPUT_SCHEMA
    description = (
        "Anomalous periods in an item's demand or quality series: robust seasonal baseline "
        "(median trend and seasonal profile, MAD scale) plus a seeded isolation forest on "
        "the residual features. Returns each anomaly with score, direction and reason."
    )
    params = {
        "threshold": DEFAULT_THRESHOLD,
        "confirm_fraction": CONFIRM_FRACTION,
        "n_estimators": forest.N_TREES,
        "max_samples": forest.MAX_SAMPLES,
        "reference_seed": forest.REFERENCE_SEED,
        "reference_quantile": forest.REFERENCE_QUANTILE,
        "min_points": bl.MIN_POINTS,
    }
    hints = ExecutionHints(batch_field="items", max_inline_items=2000, timeout_s=60.0)

    def predict(self, input: dict[str, Any]) -> dict[str, Any]:
        items, batch = parse_input(input)
        results = detect(items, float(input.get("threshold", DEFAULT_THRESHOLD)))
        return {"items": results} if batch else results[0]
