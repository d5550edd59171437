"""Every number in an explanation is one of the forecast's stored components or scores."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from opscopilot.forecasting import ENGINE_VERSION
from opscopilot.forecasting.backtest import EngineConfig, SeriesForecast, forecast_series
from opscopilot.forecasting.explain import Explanation, PreviousForecast, explain
from opscopilot.forecasting.frames import period_starts_after

HISTORY_START = pd.Timestamp("2021-01-01")


def _forecast(y: np.ndarray, model: str | None = None) -> tuple[SeriesForecast, pd.DatetimeIndex]:
    result = forecast_series(y, config=EngineConfig(period="monthly", horizon=12, model=model))
    last = pd.date_range(HISTORY_START, periods=len(y), freq="MS")[-1]
    return result, period_starts_after(last, "monthly", 12)


def _assert_only_stored_numbers(explanation: Explanation) -> None:
    text = explanation.text
    for key, shown in explanation.shown.items():
        assert shown in text, key
    for shown in sorted(explanation.shown.values(), key=len, reverse=True):
        text = text.replace(shown, " ")
    assert not re.search(r"\d", text), f"unexplained number left in: {text!r}"


def seasonal(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(48)
    return np.round(60 + 20 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 2, 48))


def test_every_number_is_a_stored_component_or_score() -> None:
    y = seasonal()
    result, starts = _forecast(y)
    previous = PreviousForecast("ADIDA", starts - pd.DateOffset(months=1), np.full(12, 40.0))
    explanation = explain(result, history=y, starts=starts, period="monthly", previous=previous)
    _assert_only_stored_numbers(explanation)

    numbers = explanation.numbers
    assert result.backtest is not None
    assert numbers["backtest_rmsse"] == result.backtest.rmsse
    assert numbers["backtest_mae"] == result.backtest.mae
    assert numbers["backtest_coverage"] == result.backtest.coverage[80]
    assert numbers["windows"] == result.backtest.windows
    assert numbers["candidates"] == len(result.scores)
    assert numbers["level"] == pytest.approx(result.mean.mean())
    assert numbers["peak_value"] == pytest.approx(result.mean.max())
    assert numbers["zero_share"] == result.zero_share
    overlap = result.mean[:11]
    assert numbers["new_level"] == pytest.approx(overlap.mean())
    assert numbers["change_share"] == pytest.approx(overlap.mean() / 40.0 - 1)
    assert f"the model changed from ADIDA to {result.model}" in explanation.text
    assert result.model in explanation.text and "peaks in" in explanation.text


def test_an_engine_change_since_the_previous_forecast_is_said_with_both_versions() -> None:
    y = seasonal(1)
    result, starts = _forecast(y)
    before = starts - pd.DateOffset(months=1)

    def explained(engine_version: str | None) -> Explanation:
        previous = PreviousForecast(result.model, before, np.full(12, 50.0), engine_version)
        return explain(result, history=y, starts=starts, period="monthly", previous=previous)

    changed = explained("1.9.3")
    _assert_only_stored_numbers(changed)
    assert changed.numbers["previous_engine_version"] == "1.9.3"
    assert changed.numbers["engine_version"] == ENGINE_VERSION
    assert f"engine changed from version 1.9.3 to {ENGINE_VERSION}" in changed.text
    for same in (explained(ENGINE_VERSION), explained(None)):  # None: stored before versions
        assert "engine" not in same.text and "previous_engine_version" not in same.numbers


def test_intermittent_and_trend_are_described_from_the_model() -> None:
    rng = np.random.default_rng(2)
    parts = (rng.random(40) < 0.15) * rng.integers(1, 5, 40).astype(float)
    result, starts = _forecast(parts)
    explanation = explain(result, history=parts, starts=starts, period="monthly")
    _assert_only_stored_numbers(explanation)
    assert "intermittent" in explanation.text
    assert explanation.shown["zero_share"] == f"{result.zero_share * 100:.0f}%"

    trend = 10 + 2.0 * np.arange(40) + rng.normal(0, 0.5, 40)
    rising, starts = _forecast(trend, model="AutoETS")
    explained = explain(rising, history=trend, starts=starts, period="monthly")
    _assert_only_stored_numbers(explained)
    assert "rising by" in explained.text
    assert explained.numbers["trend_per_period"] == pytest.approx(
        np.polyfit(np.arange(12), rising.mean, 1)[0]
    )


def test_naive_and_fallback_forecasts_say_so() -> None:
    short = np.array([4.0, 6.0, 5.0])
    naive = forecast_series(
        short, config=EngineConfig(period="monthly", horizon=12, allow_naive=True)
    )
    starts = period_starts_after(pd.Timestamp("2024-03-01"), "monthly", 12)
    text = explain(naive, history=short, starts=starts, period="monthly").text
    assert "naive forecast" in text

    flat, starts = _forecast(np.full(30, 5.0), model="AutoETS")
    explanation = explain(flat, history=np.full(30, 5.0), starts=starts, period="monthly")
    _assert_only_stored_numbers(explanation)
    assert "fallback" in explanation.text


def test_quality_rates_are_shown_as_percentages() -> None:
    rng = np.random.default_rng(3)
    rates = np.clip(0.02 + rng.normal(0, 0.004, 36), 0, 1)
    config = EngineConfig.for_kind("rate", period="monthly", horizon=12)
    result = forecast_series(rates, config=config)
    starts = period_starts_after(pd.Timestamp("2023-12-01"), "monthly", 12)
    explanation = explain(result, history=rates, starts=starts, period="monthly", kind="rate")
    _assert_only_stored_numbers(explanation)
    assert explanation.shown["level"] == f"{result.mean.mean():.2%}"
