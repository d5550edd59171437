"""Load the three public data sets into train / hold-out splits (read in place, never copied)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from opscopilot.forecasting.frames import Period, resample


@dataclass(frozen=True)
class Dataset:
    name: str
    period: Period
    horizon: int
    season_length: int
    train: dict[str, np.ndarray]
    dates: dict[str, pd.DatetimeIndex]
    test: dict[str, np.ndarray]  # only series with a complete hold-out are scored

    def long_frame(self) -> pd.DataFrame:
        """The training histories as one long unique_id / ds / y frame."""
        parts = [
            pd.DataFrame({"unique_id": uid, "ds": self.dates[uid], "y": y})
            for uid, y in self.train.items()
        ]
        return pd.concat(parts, ignore_index=True)


def missing_message(root: Path) -> str:
    return (
        f"data folder {root} not found or incomplete: it must hold carparts/, "
        "online-retail-top30/ and us-retail-sales/ (see shared/data/*/SOURCE.md); "
        "pass --data PATH"
    )


def carparts(root: Path) -> Dataset:
    """2,674 monthly spare-part series; NAs are trailing, so a series ends at its first NA.

    The last 12 months are held out; 165 series end after 12-14 months and have no hold-out:
    they are still forecast (timed) but not scored.
    """
    wide = pd.read_csv(root / "carparts" / "carparts.csv", index_col=0)
    months = pd.DatetimeIndex(pd.to_datetime(wide.columns))
    horizon = 12
    train: dict[str, np.ndarray] = {}
    dates: dict[str, pd.DatetimeIndex] = {}
    test: dict[str, np.ndarray] = {}
    for uid, row in zip(wide.index.astype(str), wide.to_numpy(dtype=float), strict=True):
        y = row[~np.isnan(row)]
        if len(y) == len(row):
            train[uid], test[uid] = y[:-horizon], y[-horizon:]
        else:
            train[uid] = y
        dates[uid] = months[: len(train[uid])]
    return Dataset("carparts", "monthly", horizon, 12, train, dates, test)


def online_retail(root: Path) -> Dataset:
    """30 daily series; days without sales are absent, so our resampler fills them with 0."""
    raw = pd.read_csv(
        root / "online-retail-top30" / "example_online_retail_multivariate.csv",
        parse_dates=["ds"],
    )
    end = raw["ds"].max()
    horizon = 28
    train: dict[str, np.ndarray] = {}
    dates: dict[str, pd.DatetimeIndex] = {}
    test: dict[str, np.ndarray] = {}
    for item, rows in raw.groupby("item"):
        series = resample(
            rows.rename(columns={"ds": "date", "y": "value"}),
            period="daily",
            kind="count",
            as_of=end,
        )
        y = series.frame["y"].to_numpy(dtype=float)
        uid = str(item)
        train[uid], test[uid] = y[:-horizon], y[-horizon:]
        dates[uid] = pd.DatetimeIndex(series.frame["ds"])[:-horizon]
    return Dataset("online-retail-top30", "daily", horizon, 7, train, dates, test)


def us_retail(root: Path) -> Dataset:
    raw = pd.read_csv(root / "us-retail-sales" / "example_retail_sales.csv", parse_dates=["ds"])
    y = raw["y"].to_numpy(dtype=float)
    horizon = 12
    ds = pd.DatetimeIndex(raw["ds"])
    return Dataset(
        "us-retail-sales",
        "monthly",
        horizon,
        12,
        {"us": y[:-horizon]},
        {"us": ds[:-horizon]},
        {"us": y[-horizon:]},
    )
