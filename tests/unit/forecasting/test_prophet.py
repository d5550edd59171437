"""Prophet as a candidate: its known failures fall back to a simpler model, flagged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from opscopilot.forecasting.backtest import EngineConfig, forecast_series
from opscopilot.forecasting.prophet_model import (
    ProphetFailure,
    ProphetSettings,
    prophet_forecast,
    run_with_timeout,
)

pytest.importorskip("prophet")

DATES = pd.date_range("2021-01-01", periods=36, freq="MS")
SHAPE = 40 + np.arange(36.0) + 10 * np.sin(np.arange(36) * 2 * np.pi / 12)
# Noise matters: on a noise-free series Stan's optimizer can run for minutes.
Y = SHAPE + np.random.default_rng(0).normal(0, 2, 36)
BROKEN = ProphetSettings(fit_kwargs={"algorithm": "NoSuchOptimizer"})


def test_prophet_forecasts_the_periods_after_the_history() -> None:
    mean = prophet_forecast(DATES, Y, horizon=3, period="monthly", settings=ProphetSettings())
    assert mean.shape == (3,) and np.isfinite(mean).all()


@pytest.mark.parametrize(
    ("y", "reason"),
    [(np.array([1.0]), "fewer than 2 points"), (np.full(36, 7.0), "constant series")],
)
def test_known_bad_inputs_fail_with_a_reason(y: np.ndarray, reason: str) -> None:
    with pytest.raises(ProphetFailure, match=reason):
        prophet_forecast(
            DATES[: len(y)], y, horizon=3, period="monthly", settings=ProphetSettings()
        )


def test_optimizer_errors_and_timeouts_become_failures() -> None:
    with pytest.raises(ProphetFailure, match="optimizer error"):
        prophet_forecast(DATES, Y, horizon=3, period="monthly", settings=BROKEN)
    with pytest.raises(ProphetFailure, match="timed out after 0.01 s"):
        run_with_timeout(lambda: __import__("time").sleep(1), 0.01)


def test_a_runaway_fit_is_stopped_at_the_timeout() -> None:
    settings = ProphetSettings(timeout_s=1.0)
    with pytest.raises(ProphetFailure, match="timed out after 1 s"):
        prophet_forecast(DATES, SHAPE, horizon=3, period="monthly", settings=settings)


def test_a_failed_prophet_request_falls_back_and_is_flagged() -> None:
    config = EngineConfig(period="monthly", horizon=6, model="Prophet", prophet=BROKEN)
    result = forecast_series(Y, config=config, ds=DATES)
    assert result.fallback and result.model != "Prophet"
    assert result.fallback_reason is not None and "optimizer error" in result.fallback_reason
    assert result.mean.shape == (6,)


def test_prophet_without_dates_or_on_a_flat_series_falls_back() -> None:
    config = EngineConfig(period="monthly", horizon=6, model="Prophet")
    no_dates = forecast_series(Y, config=config)
    assert no_dates.fallback_reason == "Prophet failed (no dates to fit on)"
    flat = forecast_series(np.full(36, 5.0), config=config, ds=DATES)
    assert flat.model == "Naive" and flat.fallback
    assert flat.mean == pytest.approx([5.0] * 6)


def test_prophet_competes_in_the_backtest_when_enabled() -> None:
    config = EngineConfig(period="monthly", horizon=6, use_prophet=True)
    result = forecast_series(Y, config=config, ds=DATES)
    assert "Prophet" in result.scores
    assert np.all(result.mean >= 0)


def test_country_holidays_are_used_for_daily_data() -> None:
    days = pd.date_range("2024-11-01", periods=90, freq="D")
    sales = 20 + 5 * (days.dayofweek < 5) + np.random.default_rng(1).normal(0, 1, 90)
    settings = ProphetSettings(country="GB")
    mean = prophet_forecast(days, sales, horizon=7, period="daily", settings=settings)
    assert mean.shape == (7,) and np.isfinite(mean).all()
    unknown = ProphetSettings(country="Atlantis")
    with pytest.raises(ProphetFailure):
        prophet_forecast(days, sales, horizon=7, period="daily", settings=unknown)
