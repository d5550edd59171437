"""From a resampled series to a forecast ready to store: plan, fit, explain (pure, CPU-bound).

Callers run `compute` off the event loop (a thread, or a worker job). Planning rules, applied
before the engine sees the series:

- The horizon is the caller's, else `default_horizon`. A season is only learnt from a history
  holding one season plus the horizon; with less, the series is forecast without a season
  (season length 1) rather than refused: a year of monthly history (the original API example)
  still gets a backtested forecast.
- When the caller named no horizon and even the non-seasonal backtest does not fit, the default
  horizon is shortened to what the history can backtest; a named horizon is never shortened.
- Otherwise the engine refuses (InsufficientHistoryError says how much is needed) or, when the
  caller allows it, returns a naive forecast flagged as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from opscopilot.forecasting import ENGINE_VERSION
from opscopilot.forecasting.backtest import EngineConfig, SeriesForecast, forecast_series
from opscopilot.forecasting.errors import InsufficientHistoryError
from opscopilot.forecasting.explain import Explanation, PreviousForecast, explain
from opscopilot.forecasting.frames import (
    Period,
    SeriesFrame,
    SeriesKind,
    model_values,
    period_starts_after,
)
from opscopilot.forecasting.prophet_model import ProphetSettings


@dataclass(frozen=True)
class EngineOptions:
    """What settings decide for every forecast."""

    default_horizon: int = 12
    levels: tuple[int, ...] = (80, 95)
    use_prophet: bool = False
    prophet: ProphetSettings = field(default_factory=ProphetSettings)


@dataclass(frozen=True)
class SeriesSpec:
    """What the caller asks of one series."""

    period: Period
    kind: SeriesKind
    horizon: int | None = None
    allow_naive: bool = False
    unit: str = "units"
    previous: PreviousForecast | None = None
    levels: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Computed:
    series: SeriesFrame
    values: np.ndarray
    forecast: SeriesForecast
    starts: pd.DatetimeIndex
    config: EngineConfig
    explanation: Explanation
    notes: tuple[str, ...]

    @property
    def levels(self) -> tuple[int, ...]:
        return self.config.levels


def plan(n: int, *, spec: SeriesSpec, options: EngineOptions) -> tuple[EngineConfig, list[str]]:
    """The engine configuration for a history of `n` periods (see module doc)."""
    levels = spec.levels or options.levels
    horizon = spec.horizon or options.default_horizon

    def config(h: int, season: int | None = None) -> EngineConfig:
        return EngineConfig.for_kind(
            spec.kind,
            period=spec.period,
            horizon=h,
            levels=levels,
            allow_naive=spec.allow_naive,
            # Prophet brings seasonality and holidays; without a season it adds only cost.
            use_prophet=options.use_prophet and season is None,
            prophet=options.prophet,
            season_length=season,
        )

    seasonal = config(horizon)
    if n >= seasonal.min_history:
        return seasonal, []
    flat = config(horizon, season=1)
    if seasonal.m > 1 and n >= flat.min_history:
        return flat, [
            f"{n} periods of history hold less than a season ({seasonal.m}) plus the horizon: "
            "forecast without a seasonal pattern"
        ]
    shortened = n - flat.min_train
    if spec.horizon is None and shortened >= 1:
        return config(shortened, season=1), [
            f"horizon shortened from {horizon} to {shortened} periods: {n} periods of history "
            "back no longer backtest"
        ]
    return flat, []


def compute(series: SeriesFrame, *, spec: SeriesSpec, options: EngineOptions) -> Computed:
    """Plan, backtest, forecast and explain one resampled series."""
    n = len(series)
    config, notes = plan(n, spec=spec, options=options)
    if n == 0:
        raise InsufficientHistoryError(
            needed=config.min_history, got=0, period=spec.period, horizon=config.horizon
        )
    values = model_values(series)
    dates = pd.DatetimeIndex(series.frame["ds"])
    forecast = forecast_series(values, config=config, ds=dates)
    starts = period_starts_after(pd.Timestamp(dates[-1]), spec.period, config.horizon)
    explanation = explain(
        forecast,
        history=values,
        starts=starts,
        period=spec.period,
        kind=spec.kind,
        unit=spec.unit,
        previous=spec.previous,
    )
    return Computed(
        series=series,
        values=values,
        forecast=forecast,
        starts=starts,
        config=config,
        explanation=explanation,
        notes=(*series.notes, *notes, *forecast.notes),
    )


def points(
    starts: pd.DatetimeIndex,
    mean: np.ndarray,
    lower: dict[int, np.ndarray],
    upper: dict[int, np.ndarray],
) -> list[dict[str, Any]]:
    """[{ds, yhat, lo80, hi80, lo95, hi95}] per period (one lo/hi pair per level)."""
    out: list[dict[str, Any]] = []
    for i, start in enumerate(starts):
        point: dict[str, Any] = {
            "ds": pd.Timestamp(start).date().isoformat(),
            "yhat": float(mean[i]),
        }
        for level in sorted(lower):
            point[f"lo{level}"] = float(lower[level][i])
            point[f"hi{level}"] = float(upper[level][i])
        out.append(point)
    return out


def forecast_points(computed: Computed) -> list[dict[str, Any]]:
    f = computed.forecast
    return points(computed.starts, f.mean, f.lower, f.upper)


def history_points(series: SeriesFrame) -> list[dict[str, Any]]:
    """[{ds, y}]; y is None for a quality period without inspection."""
    frame = series.frame
    return [
        {"ds": pd.Timestamp(ds).date().isoformat(), "y": None if np.isnan(y) else float(y)}
        for ds, y in zip(frame["ds"], frame["y"].to_numpy(dtype=float), strict=True)
    ]


def candidates(forecast: SeriesForecast) -> dict[str, Any]:
    return {
        name: {"rmsse": s.rmsse, "mase": s.mase, "mae": s.mae}
        for name, s in sorted(forecast.scores.items(), key=lambda kv: kv[1].rmsse)
    }


def accuracy(forecast: SeriesForecast) -> dict[str, Any]:
    """The chosen model's backtest; empty but for `naive` when there was none."""
    b = forecast.backtest
    if b is None:
        return {"naive": forecast.naive}
    return {
        "naive": forecast.naive,
        "rmsse": b.rmsse,
        "mase": b.mase,
        "mae": b.mae,
        "windows": b.windows,
        "horizon": b.horizon,
        "coverage": {str(level): value for level, value in b.coverage.items()},
    }


def coverage(forecast: SeriesForecast) -> float | None:
    b = forecast.backtest
    if b is None or not b.coverage:
        return None
    return b.coverage.get(80, next(iter(b.coverage.values())))


def components(computed: Computed) -> dict[str, Any]:
    """The explanation's numbers, plus what shaped the forecast (class, season, notes)."""
    f = computed.forecast
    return {
        **computed.explanation.numbers,
        "engine_version": ENGINE_VERSION,
        "series_class": f.series_class,
        "season_length": computed.config.m,
        "history_periods": f.history_length,
        "notes": list(computed.notes),
    }


def fallback_reason(forecast: SeriesForecast) -> str | None:
    if forecast.fallback_reason is not None:
        return forecast.fallback_reason
    if forecast.naive:
        return forecast.notes[0] if forecast.notes else "naive forecast: not backtested"
    return None


def previous_from_points(
    model: str, stored: list[dict[str, Any]], *, engine_version: str | None = None
) -> PreviousForecast | None:
    if not stored:
        return None
    return PreviousForecast(
        model=model,
        starts=pd.DatetimeIndex([p["ds"] for p in stored]),
        mean=np.asarray([float(p["yhat"]) for p in stored]),
        engine_version=engine_version,
    )
