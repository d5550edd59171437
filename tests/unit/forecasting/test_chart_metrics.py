"""The PNG chart renders; the scaled error measures match their definitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from opscopilot.forecasting.chart import forecast_png
from opscopilot.forecasting.metrics import coverage, mase, rmsse, wql


def test_chart_is_a_png() -> None:
    history = pd.date_range("2024-01-01", periods=24, freq="MS")
    future = pd.date_range("2026-01-01", periods=6, freq="MS")
    mean = np.full(6, 10.0)
    png = forecast_png(
        history_ds=history,
        history_y=np.arange(24.0),
        forecast_ds=future,
        mean=mean,
        lower={80: mean - 2, 95: mean - 4},
        upper={80: mean + 2, 95: mean + 4},
        title="ITEM-001 demand",
    )
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def test_scaled_errors() -> None:
    history = np.array([0.0, 2.0, 0.0, 2.0])
    assert mase(np.array([1.0, 3.0]), np.array([1.0, 1.0]), history, lag=1) == pytest.approx(0.5)
    assert rmsse(np.array([1.0, 3.0]), np.array([1.0, 1.0]), history, lag=1) == pytest.approx(
        np.sqrt(2 / 4)
    )


def test_zero_forecast_wql_is_twice_the_mean_level() -> None:
    actual = np.array([[0.0, 3.0], [1.0, 0.0]])
    levels = (0.1, 0.5, 0.9)
    zero = {q: np.zeros_like(actual) for q in levels}
    assert wql(actual, zero) == pytest.approx(2 * np.mean(levels))
    perfect = {q: actual for q in levels}
    assert wql(actual, perfect) == 0
    assert coverage(actual, actual - 1, actual) == 1.0
