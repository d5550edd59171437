"""The backtest engine: choice, scores, intervals, bounds, short histories, bulk = single."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from opscopilot.forecasting.backtest import EngineConfig, forecast_series
from opscopilot.forecasting.bulk import forecast_bulk
from opscopilot.forecasting.errors import ForecastInputError, InsufficientHistoryError

MONTHLY = EngineConfig(period="monthly", horizon=6, quantiles=(0.1, 0.5, 0.9))


def seasonal(n: int = 48, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y: np.ndarray = np.round(50 + 0.5 * t + 15 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 3, n))
    return y


def spare_part(n: int = 40, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y: np.ndarray = (rng.random(n) < 0.2) * rng.integers(1, 4, n).astype(float)
    return y


def test_choice_scores_and_coverage_are_stored() -> None:
    result = forecast_series(seasonal(), config=MONTHLY)
    assert result.series_class == "smooth"
    assert result.model in result.scores
    assert len(result.scores) >= 5
    assert result.backtest is not None
    assert result.backtest.windows == 3
    assert result.backtest.rmsse == result.scores[result.model].rmsse
    assert set(result.backtest.coverage) == {80, 95}
    assert len(result.mean) == 6
    assert np.all(result.lower[95] <= result.lower[80])
    assert np.all(result.upper[80] <= result.upper[95])
    assert np.all(result.quantiles[0.1] <= result.quantiles[0.9])


def test_intermittent_series_get_the_croston_family() -> None:
    result = forecast_series(spare_part(), config=MONTHLY)
    assert result.series_class == "intermittent"
    assert {"ADIDA", "IMAPA", "TSB", "CrostonSBA"} <= set(result.scores)
    assert result.mean.any()  # it sold lately, so the forecast is not all zero
    assert np.all(result.lower[80] == 0)  # zero stays the likeliest outcome


def test_the_automatic_searches_compete_only_with_three_seasons_to_fit_on() -> None:
    # 40 months, two 6-month windows: the first fit sees 28 months (under three seasons).
    short = forecast_series(seasonal(40), config=MONTHLY)
    assert short.series_class == "smooth" and "Theta" in short.scores
    assert not {"AutoETS", "AutoTheta", "AutoETS+SeasonalES"} & set(short.scores)
    long = forecast_series(seasonal(60), config=MONTHLY)  # first fit on 42 months
    assert {"AutoETS", "AutoTheta", "AutoETS+SeasonalES"} <= set(long.scores)


def test_the_default_is_kept_unless_a_challenger_wins_clearly() -> None:
    y = spare_part(seed=3)
    strict = forecast_series(
        y, config=EngineConfig(period="monthly", horizon=6, switch_margin=0.99)
    )
    assert strict.model == "ADIDA"
    loose = forecast_series(y, config=EngineConfig(period="monthly", horizon=6, switch_margin=0.0))
    assert loose.scores[loose.model].rmsse == min(s.rmsse for s in loose.scores.values())


def test_all_zero_series_forecast_zero_with_zero_bounds() -> None:
    result = forecast_series(np.zeros(30), config=MONTHLY)
    assert result.model == "Zero"
    assert result.series_class == "all_zero"
    assert not result.mean.any() and not result.upper[95].any()


def test_counts_never_go_below_zero_even_after_returns() -> None:
    y = np.array([5.0, -8.0, 2.0, -6.0, 0.0, 1.0, -4.0, 3.0] * 4)
    result = forecast_series(y, config=MONTHLY)
    arrays = [result.mean, *result.lower.values(), *result.upper.values()]
    arrays += list(result.quantiles.values())
    assert all(np.all(a >= 0) for a in arrays)


def test_rates_stay_between_zero_and_one() -> None:
    rng = np.random.default_rng(5)
    rates = np.clip(0.9 + rng.normal(0, 0.08, 40), 0, 1)
    config = EngineConfig.for_kind("rate", period="monthly", horizon=6)
    result = forecast_series(rates, config=config)
    assert np.all(result.upper[95] <= 1) and np.all(result.lower[95] >= 0)


def test_nan_history_is_refused() -> None:
    with pytest.raises(ForecastInputError, match="NaN"):
        forecast_series(np.array([1.0, np.nan, 2.0] * 10), config=MONTHLY)


def test_too_little_history_says_how_much_is_needed() -> None:
    with pytest.raises(InsufficientHistoryError) as caught:
        forecast_series(np.arange(10.0), config=MONTHLY)
    assert caught.value.needed == 18 and caught.value.got == 10
    assert "need at least 18" in str(caught.value)


def test_a_naive_forecast_on_short_history_is_flagged() -> None:
    config = EngineConfig(period="monthly", horizon=6, allow_naive=True, quantiles=(0.1, 0.9))
    result = forecast_series(np.array([3.0, 4.0, 5.0]), config=config)
    assert result.naive and result.backtest is None
    assert result.model == "Naive"
    assert result.mean == pytest.approx([5.0] * 6)
    assert np.all(result.lower[80] <= result.mean) and np.all(result.upper[80] >= result.mean)
    assert any("naive forecast" in note for note in result.notes)


def test_unknown_model_and_bad_levels_are_refused() -> None:
    with pytest.raises(ForecastInputError, match="unknown model"):
        EngineConfig(period="monthly", horizon=6, model="Magic")
    with pytest.raises(ForecastInputError):
        EngineConfig(period="monthly", horizon=6, levels=(100,))


def test_a_requested_model_is_used_when_it_runs() -> None:
    config = EngineConfig(period="monthly", horizon=6, model="SeasonalNaive")
    result = forecast_series(seasonal(), config=config)
    assert result.model == "SeasonalNaive" and not result.fallback
    assert result.mean == pytest.approx(seasonal()[-12:-6])


def test_forecasts_are_deterministic() -> None:
    first = forecast_series(seasonal(seed=4), config=MONTHLY)
    second = forecast_series(seasonal(seed=4), config=MONTHLY)
    assert first.model == second.model
    assert np.array_equal(first.mean, second.mean)


def _frame(series: dict[str, np.ndarray]) -> pd.DataFrame:
    parts = [
        pd.DataFrame({"unique_id": k, "ds": np.arange(len(y)), "y": y}) for k, y in series.items()
    ]
    return pd.concat(parts)


def test_bulk_path_matches_single_path_and_reports_bad_series() -> None:
    series = {"smooth": seasonal(), "part": spare_part(), "short": np.ones(5)}
    result = forecast_bulk(_frame(series), config=MONTHLY, n_jobs=1)
    assert set(result.forecasts) == {"smooth", "part"}
    assert "need at least" in result.errors["short"]
    for uid in ("smooth", "part"):
        single = forecast_series(series[uid], config=MONTHLY, unique_id=uid)
        assert result.forecasts[uid].model == single.model
        assert np.array_equal(result.forecasts[uid].mean, single.mean)


@pytest.mark.slow
def test_bulk_path_in_worker_processes_gives_the_same_forecasts() -> None:
    series = {f"s{i}": (seasonal(seed=i) if i % 2 else spare_part(seed=i)) for i in range(8)}
    inline = forecast_bulk(_frame(series), config=MONTHLY, n_jobs=1)
    spread = forecast_bulk(_frame(series), config=MONTHLY, n_jobs=2)
    assert set(spread.forecasts) == set(series)
    for uid, single in inline.forecasts.items():
        assert spread.forecasts[uid].model == single.model
        assert np.array_equal(spread.forecasts[uid].mean, single.mean)


def test_a_non_seasonal_config_keeps_the_minimum_training_window() -> None:
    config = EngineConfig(period="monthly", horizon=12, season_length=1)
    result = forecast_series(np.random.default_rng(0).poisson(5, 18).astype(float), config=config)
    assert result.backtest is not None and result.backtest.windows == 1
    assert "AutoETS" not in result.scores  # needs 10 periods, the window keeps 6
    assert result.scores


def test_bulk_reports_progress_and_cpu_time() -> None:
    calls: list[tuple[int, int]] = []
    result = forecast_bulk(
        _frame({"a": seasonal(), "b": spare_part()}),
        config=MONTHLY,
        on_progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(2, 2)]
    assert result.cpu_seconds > 0
