"""The built-in anomaly detector on seeded synthetic series with known anomalies."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from opscopilot.inference.builtin.anomaly import AnomalyDetector
from opscopilot.inference.builtin.forest import (
    ForestScorer,
    fit_reference_forest,
    reference_scorer,
)
from opscopilot.inference.validation import schema_errors

MODEL = AnomalyDetector()


def series(values: Any, *, label: str = "2024-W{:02d}") -> list[dict[str, Any]]:
    return [
        {"period": label.format(i + 1), "value": None if v is None else float(v)}
        for i, v in enumerate(values)
    ]


def seasonal_demand(seed: int, n: int = 104, season: int = 52) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 120 + 40 * np.sin(2 * np.pi * t / season) + rng.normal(0, 6, n)


def predict(input: dict[str, Any]) -> dict[str, Any]:
    assert schema_errors(MODEL.input_schema, input) == []
    output = MODEL.predict(input)
    assert schema_errors(MODEL.output_schema, output) == []
    return output


def test_spike_and_drop_are_found_with_reason_and_direction() -> None:
    values = seasonal_demand(1)
    values[60] = 340.0
    values[80] = 20.0
    out = predict({"item": "A-100", "series": series(values), "season_length": 52})
    assert out["status"] == "ok" and out["season_length_used"] == 52
    found = {a["index"]: a for a in out["anomalies"]}
    assert set(found) == {60, 80}
    spike, drop = found[60], found[80]
    assert spike["period"] == "2024-W61" and spike["direction"] == "high"
    assert drop["direction"] == "low"
    assert spike["robust_z"] > 5 and drop["robust_z"] < -5
    assert 0 < spike["score"] <= 1
    expected = spike["expected"]
    pct = (340 - expected) / expected * 100
    assert spike["reason"] == (
        f"demand 340 vs expected {expected:.4g} ({pct:+.0f} %), "
        f"{abs(spike['robust_z']):.1f} robust deviations"
    )


def test_seasonal_peaks_are_not_anomalies_when_the_season_is_known() -> None:
    values = seasonal_demand(2)
    out = predict({"series": series(values), "season_length": 52})
    assert out["anomalies"] == []


def test_level_shift_raises_no_alarm_at_the_shift() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        values = np.concatenate([rng.normal(100, 3, 26), rng.normal(200, 3, 26)])
        out = predict({"series": series(values)})
        assert not [a for a in out["anomalies"] if 22 <= a["index"] <= 29]


def test_quality_metric_names_the_reason_and_dates_label_periods() -> None:
    values = [0.8, 0.9, 0.85, 0.95, 0.9, 0.88, 4.2, 0.92, 0.87, 0.9, 0.86, 0.91]
    points = [{"date": f"2024-03-{i + 1:02d}", "value": v} for i, v in enumerate(values)]
    out = predict({"series": points, "metric": "scrap rate %"})
    assert [a["period"] for a in out["anomalies"]] == ["2024-03-07"]
    assert out["anomalies"][0]["reason"].startswith("scrap rate % 4.2 vs expected 0.9")


@pytest.mark.parametrize("values", [[], [5.0], [1.0, 2.0, 3.0, 4.0, 5.0], [None] * 20])
def test_short_series_report_insufficient_data(values: list[float | None]) -> None:
    out = predict({"series": series(values)})
    assert out["status"] == "insufficient_data"
    assert out["anomalies"] == []
    assert "at least 6" in out["note"]


def test_constant_series_has_no_anomalies() -> None:
    out = predict({"series": series([7.0] * 30)})
    assert out["status"] == "ok"
    assert out["anomalies"] == []
    assert out["note"] == "constant series: nothing deviates"


def test_flat_series_with_one_change_flags_it_plainly() -> None:
    out = predict({"series": series([5, 5, 5, 5, 50, 5, 5, 5])})
    [anomaly] = out["anomalies"]
    assert anomaly["index"] == 4
    assert anomaly["reason"] == (
        "demand 50 vs expected 5 (+900 %), the rest of the series does not vary"
    )


def test_intermittent_demand_flags_only_the_outsized_order() -> None:
    values = [0, 0, 3, 0, 0, 0, 4, 0, 0, 2, 0, 0, 0, 5, 0, 0, 3, 0, 0, 0, 2, 0, 40, 0, 0, 3]
    out = predict({"series": series(values)})
    assert [a["index"] for a in out["anomalies"]] == [22]
    assert out["anomalies"][0]["deviation_pct"] is None  # expected 0: no percentage


def test_missing_values_are_skipped_never_flagged() -> None:
    values: list[float | None] = list(seasonal_demand(4, n=40, season=10))
    values[5] = None
    values[30] = 400.0
    out = predict({"series": series(values), "season_length": 10})
    assert [a["index"] for a in out["anomalies"]] == [30]


def test_too_long_season_falls_back_with_a_note() -> None:
    out = predict({"series": series(seasonal_demand(5, n=60)), "season_length": 52})
    assert out["season_length_used"] is None
    assert out["note"] == "season length 52 needs 104 points; analysed without"


def test_batch_results_equal_single_results() -> None:
    rng = np.random.default_rng(6)
    entries = []
    for i in range(12):
        n = (30, 52, 104)[i % 3]
        values = 50 + rng.normal(0, 4, n)
        values[rng.integers(n)] += 60
        entries.append({"item": f"I{i}", "series": series(values)})
    entries.append({"item": "short", "series": series([1, 2])})
    batch = predict({"items": entries, "season_length": 52, "metric": "orders"})
    singles = [predict({**e, "season_length": 52, "metric": "orders"}) for e in entries]
    assert batch["items"] == singles
    assert all(len(r["anomalies"]) >= 1 for r in batch["items"][:-1])


def test_results_are_deterministic() -> None:
    values = seasonal_demand(7)
    values[10] *= 2.5
    input = {"series": series(values), "season_length": 52}
    assert MODEL.predict(input) == MODEL.predict(input)


def test_pure_noise_rarely_raises_an_alarm() -> None:
    rng = np.random.default_rng(8)
    entries = [{"series": series(100 + rng.normal(0, 5, 52))} for _ in range(200)]
    out = MODEL.predict({"items": entries})
    flagged = sum(len(r["anomalies"]) for r in out["items"])
    assert flagged / (200 * 52) < 0.01


def test_threshold_controls_sensitivity() -> None:
    values = np.random.default_rng(9).normal(100, 5, 52)
    values[20] += 40  # eight noise sigmas
    strict = MODEL.predict({"series": series(values), "threshold": 12})
    loose = MODEL.predict({"series": series(values)})
    assert strict["anomalies"] == []
    assert [a["index"] for a in loose["anomalies"]] == [20]


def test_fast_scorer_matches_sklearn_score_samples() -> None:
    forest, _ = fit_reference_forest(seed=11)
    scorer = ForestScorer.from_forest(forest)
    x = np.random.default_rng(12).normal(0, 4, (300, 3))
    np.testing.assert_allclose(scorer.score(x), -forest.score_samples(x), rtol=1e-12)


def test_reference_cut_is_a_high_quantile() -> None:
    scorer = reference_scorer()
    assert 0.5 < scorer.cut < 1


def test_input_schema_names_bad_fields() -> None:
    errors = schema_errors(MODEL.input_schema, {"series": [{"value": "high"}], "season_length": 0})
    assert {e["field"] for e in errors} == {"series[0].value", "season_length"}
