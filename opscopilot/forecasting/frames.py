"""Resample raw observations (date, value, weight) into a regular `ds`/`y` period frame.

Rules (each one is tested):

- Periods are labelled by their first day: daily, weekly (weeks start on Monday), monthly,
  quarterly. Season lengths: 7, 52, 12, 4.
- Rows with no date or a NaN value are dropped and counted in `notes`.
- Duplicated dates are summed (count kinds) or pooled (rate kind), like any two rows that land in
  the same period.
- Count kinds (demand, supply): a period with no rows is zero. Negative values (returns) are kept,
  so a period holds net demand; the engine clips forecasts at zero, never the history.
- Rate kind (quality): `value` is the defect rate of one inspection and `weight` the number
  inspected, so a period's rate is sum(value * weight) / sum(weight) = defects / inspected.
  Rows without a positive weight inspected nothing and are dropped. A period with no
  inspection stays NaN: no inspection is not a zero defect rate.
- `lookback_days` keeps the rows dated within that many days up to the end date (`as_of`, or
  the last row's date).
- `as_of` also ends the grid: count periods up to it are filled with zeros, and the last period
  is dropped when it is still running on `as_of` (a half-finished month would read as a drop).
- Gap of years: when no rows at all arrive for more than `max_gap_periods` consecutive periods
  (default: one year's worth, i.e. 365 / 52 / 12 / 4), the data before the gap describes
  another regime (item relaunched, system migrated), so only the history after the last such
  gap is kept. A quiet stretch at the very end is not a gap: it is recent zero demand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd

from opscopilot.forecasting.errors import ForecastInputError

Period = Literal["daily", "weekly", "monthly", "quarterly"]
SeriesKind = Literal["count", "rate"]
ForecastType = Literal["demand", "supply", "quality", "inventory"]

PERIODS: tuple[Period, ...] = get_args(Period)
FORECAST_TYPES: tuple[ForecastType, ...] = get_args(ForecastType)
SEASON_LENGTH: dict[Period, int] = {"daily": 7, "weekly": 52, "monthly": 12, "quarterly": 4}
PANDAS_FREQ: dict[Period, str] = {
    "daily": "D",
    "weekly": "W-MON",
    "monthly": "MS",
    "quarterly": "QS",
}
PERIOD_DAYS: dict[Period, float] = {
    "daily": 1.0,
    "weekly": 7.0,
    "monthly": 365.25 / 12,
    "quarterly": 365.25 / 4,
}
DEFAULT_MAX_GAP_PERIODS: dict[Period, int] = {
    "daily": 365,
    "weekly": 52,
    "monthly": 12,
    "quarterly": 4,
}
SERIES_KIND: dict[str, SeriesKind] = {"demand": "count", "supply": "count", "quality": "rate"}


@dataclass(frozen=True)
class SeriesFrame:
    """A regular period series.

    `frame` columns: ds (period start), y, and weight (the inspected count for a rate, the
    number of rows for a count; 0 marks a period that received no rows).
    """

    frame: pd.DataFrame
    period: Period
    kind: SeriesKind
    notes: tuple[str, ...] = ()

    @property
    def season_length(self) -> int:
        return SEASON_LENGTH[self.period]

    def __len__(self) -> int:
        return len(self.frame)


def check_period(period: str) -> Period:
    if period not in PERIODS:
        raise ForecastInputError(f"unknown period {period!r}; valid periods: {', '.join(PERIODS)}")
    return period  # type: ignore[return-value]


def period_start(dates: pd.DatetimeIndex | pd.Series, period: Period) -> pd.DatetimeIndex:
    """The first day of the period each date falls in."""
    index = pd.DatetimeIndex(dates).normalize()
    if period == "daily":
        return index
    if period == "weekly":
        return index - pd.to_timedelta(index.dayofweek, unit="D")
    code = "M" if period == "monthly" else "Q"
    return index.to_period(code).to_timestamp(how="start")


def period_starts_after(last: pd.Timestamp, period: Period, count: int) -> pd.DatetimeIndex:
    """The `count` period starts that follow the period starting at `last`."""
    grid = pd.date_range(last, periods=count + 1, freq=PANDAS_FREQ[period])
    return grid[1:]


def periods_in_days(days: float, period: Period) -> int:
    """Whole periods needed to cover `days` (a lead time of 10 days spans 2 weekly periods)."""
    return max(1, int(np.ceil(days / PERIOD_DAYS[period] - 1e-9)))


def resample(
    observations: pd.DataFrame,
    *,
    period: str,
    kind: SeriesKind,
    lookback_days: int | None = None,
    as_of: pd.Timestamp | str | None = None,
    max_gap_periods: int | None = None,
) -> SeriesFrame:
    """Turn observation rows (columns date, value and optional weight) into a period frame."""
    checked = check_period(period)
    if kind not in get_args(SeriesKind):
        raise ForecastInputError(f"unknown series kind {kind!r}; valid: count, rate")
    missing = {"date", "value"} - set(observations.columns)
    if missing:
        raise ForecastInputError(f"observations lack column(s): {', '.join(sorted(missing))}")
    rows, notes = _clean_rows(observations, kind)
    end = _end_date(rows, as_of)
    rows = rows[rows["date"] <= end]
    if lookback_days is not None:
        rows = rows[rows["date"] > end - pd.Timedelta(days=lookback_days)]
    if rows.empty:
        return SeriesFrame(_empty_frame(), checked, kind, tuple(notes))

    rows = rows.assign(ds=period_start(rows["date"], checked))
    frame = _aggregate(rows, kind)
    last = period_start(pd.DatetimeIndex([end]), checked)[0]
    grid = pd.date_range(frame["ds"].iloc[0], last, freq=PANDAS_FREQ[checked])
    frame = frame.set_index("ds").reindex(grid).rename_axis("ds").reset_index()
    observed = frame["weight"].notna().to_numpy()
    frame["weight"] = frame["weight"].fillna(0.0)
    if kind == "count":
        frame["y"] = frame["y"].fillna(0.0)

    if as_of is not None and _period_is_running(last, checked, end):
        frame, observed = frame.iloc[:-1], observed[:-1]
        notes.append(f"dropped the running period starting {last.date()}")
    gap_limit = DEFAULT_MAX_GAP_PERIODS[checked] if max_gap_periods is None else max_gap_periods
    start = _start_after_last_gap(observed, gap_limit)
    if start > 0:
        notes.append(
            f"kept history from {frame['ds'].iloc[start].date()}: it follows a gap of more than "
            f"{gap_limit} periods without data"
        )
        frame = frame.iloc[start:]
    negatives = int((frame["y"] < 0).sum())
    if negatives:
        notes.append(f"{negatives} period(s) have negative net values (returns); kept as net")
    return SeriesFrame(frame.reset_index(drop=True), checked, kind, tuple(notes))


def model_values(series: SeriesFrame) -> np.ndarray:
    """The values the models fit: counts as they are; rates with no-inspection gaps bridged.

    A rate gap is bridged by linear interpolation between the inspected periods (and carried
    flat at the ends) so that models see a regular series; the frame itself keeps the NaN.
    """
    y: np.ndarray = series.frame["y"].to_numpy(dtype=float)
    if series.kind == "count":
        return y
    if np.isnan(y).all():
        raise ForecastInputError("no inspected period in the history: nothing to forecast")
    bridged: np.ndarray = pd.Series(y).interpolate(limit_direction="both").to_numpy(dtype=float)
    return bridged


def _clean_rows(observations: pd.DataFrame, kind: SeriesKind) -> tuple[pd.DataFrame, list[str]]:
    rows = pd.DataFrame(
        {
            "date": _naive_dates(observations["date"]),
            "value": pd.to_numeric(observations["value"], errors="coerce").astype(float),
            "weight": (
                pd.to_numeric(observations["weight"], errors="coerce").astype(float)
                if "weight" in observations.columns
                else 1.0
            ),
        }
    )
    notes: list[str] = []
    bad = rows["date"].isna() | rows["value"].isna() | np.isinf(rows["value"])
    if kind == "rate":
        bad |= ~(rows["weight"] > 0)
    if bad.any():
        what = (
            "without a date, a value or an inspected count"
            if kind == "rate"
            else ("without a date or a value")
        )
        notes.append(f"ignored {int(bad.sum())} row(s) {what}")
    return rows[~bad], notes


def _naive_dates(values: pd.Series) -> pd.Series:
    dates = pd.to_datetime(values, errors="coerce")
    if isinstance(dates.dtype, pd.DatetimeTZDtype):
        dates = dates.dt.tz_convert("UTC").dt.tz_localize(None)
    return dates.dt.normalize()


def _end_date(rows: pd.DataFrame, as_of: pd.Timestamp | str | None) -> pd.Timestamp:
    if as_of is not None:
        return pd.Timestamp(as_of).normalize()
    if rows.empty:
        return pd.Timestamp.min
    return pd.Timestamp(rows["date"].max())


def _aggregate(rows: pd.DataFrame, kind: SeriesKind) -> pd.DataFrame:
    if kind == "count":
        grouped = rows.groupby("ds", sort=True).agg(y=("value", "sum"), weight=("weight", "size"))
        return grouped.astype(float).reset_index()
    weighted = rows.assign(defects=rows["value"] * rows["weight"])
    grouped = weighted.groupby("ds", sort=True).agg(
        defects=("defects", "sum"), weight=("weight", "sum")
    )
    grouped["y"] = grouped["defects"] / grouped["weight"]
    return grouped[["y", "weight"]].reset_index()


def _period_is_running(start: pd.Timestamp, period: Period, end: pd.Timestamp) -> bool:
    next_start = period_starts_after(start, period, 1)[0]
    return bool(end < next_start - pd.Timedelta(days=1))


def _start_after_last_gap(observed: np.ndarray, limit: int) -> int:
    """Index of the first observed period after the last run of > `limit` empty periods."""
    positions = np.flatnonzero(observed)
    if len(positions) < 2:
        return 0
    gaps = np.diff(positions) - 1
    long = np.flatnonzero(gaps > limit)
    return int(positions[long[-1] + 1]) if len(long) else 0


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"ds": pd.DatetimeIndex([]), "y": np.array([], float), "weight": np.array([], float)}
    )
