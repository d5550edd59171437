"""Pure helpers of the registry and service: version order, names, scoring, comparison."""

from __future__ import annotations

from datetime import date

import pytest

from opscopilot.core.errors import ValidationFailed
from opscopilot.inference.actuals import predictions_of, score
from opscopilot.inference.forecasters import forecaster_name, forecaster_spec
from opscopilot.inference.item_input import _label
from opscopilot.inference.metrics import compare, direction_of
from opscopilot.inference.records import canonical
from opscopilot.inference.registry import version_key
from opscopilot.inference.schemas import VersionUsage
from opscopilot.inference.stats import comparable, verdict


def test_versions_sort_semantically() -> None:
    versions = ["1.10.0", "1.9.0", "2.0.0-rc1", "2.0.0", "1.9.0+build.7", "0.1.0"]
    ordered = sorted(versions, key=version_key, reverse=True)
    assert ordered[:3] == ["2.0.0", "2.0.0-rc1", "1.10.0"]
    assert ordered[-1] == "0.1.0"


def test_forecaster_names_are_registry_safe() -> None:
    assert forecaster_name("AutoETS") == "forecast.autoets"
    assert forecaster_name("forecast.adida") == "forecast.adida"
    assert forecaster_name("Seasonal Naive") == "forecast.seasonal-naive"
    spec = forecaster_spec("ADIDA", "0.3.0")
    assert spec.kind == "forecaster" and spec.hints.is_slow and spec.params["family"] == "ADIDA"


def test_canonical_input_ignores_key_order() -> None:
    a = canonical({"series": [{"value": 1, "period": "P1"}], "metric": "demand"})
    b = canonical({"metric": "demand", "series": [{"period": "P1", "value": 1}]})
    assert a.digest == b.digest and a.json == b.json
    assert canonical({"series": [{"value": 2}]}).digest != a.digest


def test_predictions_are_found_by_convention() -> None:
    assert predictions_of({"predictions": [1, 2]}) == [1, 2]
    assert predictions_of({"outputs": {"Y": [[1.5], [2.5]]}}) == [1.5, 2.5]
    assert predictions_of({"points": [{"mean": 3}, {"yhat": 4}]}) == [3, 4]
    assert predictions_of({"outputs": {"a": [1], "b": [2]}}) is None
    assert predictions_of({"anomalies": []}) is None


def test_scores_follow_the_model_kind() -> None:
    regression = score("regressor", [2.0, 0.0, 4.0], [1.0, 1.0, 4.0])
    assert regression["n"] == 3 and regression["n_nonzero"] == 2
    assert regression["mae"] == pytest.approx(2 / 3) and regression["mape"] == pytest.approx(25.0)
    classes = score("classifier", ["ok", "scrap", "ok"], ["ok", "ok", "ok"])
    assert classes == {"n": 3, "accuracy": pytest.approx(2 / 3)}
    assert score("classifier", [1.0, 0], [1, 0.0])["accuracy"] == 1.0
    with pytest.raises(ValidationFailed, match="2 actual values for 3 predictions"):
        score("regressor", [1, 2], [1, 2, 3])
    with pytest.raises(ValidationFailed, match="must be numbers"):
        score("regressor", ["a"], [1.0])


def test_comparison_keeps_directions_of_registered_metrics() -> None:
    assert direction_of("backtest_rmsse") == "lower" and direction_of("registered_mae") == "lower"
    assert direction_of("backtest_coverage_80") is None
    a = comparable(VersionUsage(calls=10, error_rate=0.1, mae=2.0), {"backtest": {"rmsse": 0.9}})
    b = comparable(VersionUsage(calls=12, error_rate=0.0, mae=2.5), {"backtest": {"rmsse": 0.8}})
    table = compare(a, b)
    assert table["error_rate"]["better"] == "b" and table["mae"]["better"] == "a"
    assert table["backtest_rmsse"]["better"] == "b" and table["calls"]["better"] is None
    sentence = verdict("1.0.0", "1.1.0", table, shared=0)
    assert "1.1.0 is better on backtest_rmsse, error_rate" in sentence
    assert "worse on mae" in sentence and "not a paired test" in sentence
    assert "No measured difference" in verdict("a", "b", compare({}, {}), shared=0)


def test_period_labels() -> None:
    assert _label(date(2024, 5, 1), "monthly") == "2024-05"
    assert _label(date(2024, 12, 30), "weekly") == "2025-W01"
    assert _label(date(2024, 7, 1), "quarterly") == "2024-Q3"
    assert _label(date(2024, 7, 3), "daily") == "2024-07-03"
