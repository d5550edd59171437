"""Resampling rules: periods, zeros, quality rates, NaN, returns, duplicates, gaps, lookback."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from opscopilot.forecasting.errors import ForecastInputError
from opscopilot.forecasting.frames import (
    SEASON_LENGTH,
    model_values,
    period_start,
    period_starts_after,
    periods_in_days,
    resample,
)


def rows(*items: tuple[str, float] | tuple[str, float, float]) -> pd.DataFrame:
    data = [dict(zip(("date", "value", "weight"), item, strict=False)) for item in items]
    return pd.DataFrame(data)


def test_season_lengths() -> None:
    assert SEASON_LENGTH == {"daily": 7, "weekly": 52, "monthly": 12, "quarterly": 4}


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        ("daily", "2024-05-15"),
        ("weekly", "2024-05-13"),  # the Monday
        ("monthly", "2024-05-01"),
        ("quarterly", "2024-04-01"),
    ],
)
def test_periods_are_labelled_by_their_first_day(period: str, expected: str) -> None:
    start = period_start(pd.DatetimeIndex(["2024-05-15 13:45"]), period)  # type: ignore[arg-type]
    assert start[0] == pd.Timestamp(expected)


def test_missing_demand_periods_are_zero_and_duplicates_are_summed() -> None:
    series = resample(
        rows(("2024-01-03", 5), ("2024-01-03", 2), ("2024-03-10", 4)),
        period="monthly",
        kind="count",
    )
    assert list(series.frame["ds"]) == list(pd.date_range("2024-01-01", periods=3, freq="MS"))
    assert list(series.frame["y"]) == [7.0, 0.0, 4.0]


def test_weekly_and_quarterly_grids() -> None:
    weekly = resample(rows(("2024-01-01", 1), ("2024-01-20", 2)), period="weekly", kind="count")
    assert list(weekly.frame["y"]) == [1.0, 0.0, 2.0]
    quarterly = resample(
        rows(("2024-02-01", 1), ("2024-11-20", 2)), period="quarterly", kind="count"
    )
    assert list(quarterly.frame["y"]) == [1.0, 0.0, 0.0, 2.0]


def test_nan_values_are_dropped_and_noted() -> None:
    series = resample(
        rows(("2024-01-01", 3), ("2024-01-02", float("nan")), ("2024-01-03", 1)),
        period="daily",
        kind="count",
    )
    assert list(series.frame["y"]) == [3.0, 0.0, 1.0]
    assert any("ignored 1 row" in note for note in series.notes)


def test_negative_sales_are_kept_as_net_returns() -> None:
    series = resample(
        rows(("2024-01-01", 10), ("2024-01-01", -4), ("2024-01-02", -3)),
        period="daily",
        kind="count",
    )
    assert list(series.frame["y"]) == [6.0, -3.0]
    assert any("negative" in note for note in series.notes)


def test_quality_rate_is_weighted_and_missing_inspection_is_nan() -> None:
    series = resample(
        rows(
            ("2024-01-05", 0.10, 100),  # 10 defects of 100
            ("2024-01-20", 0.00, 300),  # 0 of 300
            ("2024-03-02", 0.05, 200),
            ("2024-03-03", 0.50, 0),  # inspected nothing: ignored
        ),
        period="monthly",
        kind="rate",
    )
    y = series.frame["y"].to_numpy()
    assert y[0] == pytest.approx(10 / 400)
    assert np.isnan(y[1])  # February: no inspection, not a zero defect rate
    assert y[2] == pytest.approx(0.05)
    assert list(series.frame["weight"]) == [400.0, 0.0, 200.0]
    assert model_values(series) == pytest.approx([0.025, 0.0375, 0.05])


def test_a_gap_of_years_keeps_only_the_recent_history() -> None:
    series = resample(
        rows(("2015-01-10", 9), ("2015-02-10", 9), ("2019-06-01", 1), ("2019-08-01", 2)),
        period="monthly",
        kind="count",
    )
    assert series.frame["ds"].iloc[0] == pd.Timestamp("2019-06-01")
    assert list(series.frame["y"]) == [1.0, 0.0, 2.0]
    assert any("gap of more than 12 periods" in note for note in series.notes)


def test_a_quiet_end_is_recent_zero_demand_not_a_gap() -> None:
    series = resample(rows(("2022-01-10", 4)), period="monthly", kind="count", as_of="2024-06-30")
    assert len(series) == 30
    assert series.frame["y"].iloc[1:].eq(0).all()


def test_as_of_drops_the_running_period_and_lookback_limits_rows() -> None:
    observations = rows(("2024-01-15", 1), ("2024-02-15", 2), ("2024-03-05", 3))
    series = resample(observations, period="monthly", kind="count", as_of="2024-03-10")
    assert list(series.frame["y"]) == [1.0, 2.0]
    assert any("running period" in note for note in series.notes)
    recent = resample(observations, period="monthly", kind="count", lookback_days=30)
    assert list(recent.frame["y"]) == [2.0, 3.0]


def test_unknown_period_lists_the_valid_ones() -> None:
    with pytest.raises(ForecastInputError, match="daily, weekly, monthly, quarterly"):
        resample(rows(("2024-01-01", 1)), period="hourly", kind="count")


def test_period_helpers() -> None:
    after = period_starts_after(pd.Timestamp("2024-11-01"), "monthly", 3)
    assert list(after) == list(pd.date_range("2024-12-01", periods=3, freq="MS"))
    assert periods_in_days(10, "weekly") == 2
    assert periods_in_days(14, "weekly") == 2
