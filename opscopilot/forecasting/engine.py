"""The engine's configuration and result types (plain frozen dataclasses, numpy arrays)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from opscopilot.forecasting import models
from opscopilot.forecasting.errors import ForecastInputError
from opscopilot.forecasting.frames import SEASON_LENGTH, Period, SeriesKind, check_period
from opscopilot.forecasting.models import PROPHET_MODEL, SeriesClass
from opscopilot.forecasting.prophet_model import ProphetSettings


@dataclass(frozen=True)
class EngineConfig:
    """How to forecast one series.

    `levels` are the confidence levels of the stored bounds; `quantiles` extra quantile
    forecasts (the benchmark's WQL). `switch_margin`: how much lower a challenger's backtest
    RMSSE must be to replace the pool's default. `model` forces one candidate (a failure falls
    back to the normal choice, flagged). `allow_naive` turns "too little history" into a
    flagged naive forecast. `season_length` overrides the period's (1 = no season). `kind`
    "count" never forecasts below zero; "rate" stays within [0, 1] (use `for_kind`).
    """

    period: Period
    horizon: int
    levels: tuple[int, ...] = (80, 95)
    quantiles: tuple[float, ...] = ()
    n_windows: int = 3
    switch_margin: float = 0.1
    lower_bound: float | None = 0.0
    upper_bound: float | None = None
    allow_naive: bool = False
    model: str | None = None
    use_prophet: bool = False
    prophet: ProphetSettings = field(default_factory=ProphetSettings)
    season_length: int | None = None
    kind: SeriesKind = "count"

    def __post_init__(self) -> None:
        check_period(self.period)
        if self.horizon < 1:
            raise ForecastInputError("horizon must be at least 1 period")
        if any(not 0 < level < 100 for level in self.levels):
            raise ForecastInputError("confidence levels must lie strictly between 0 and 100")
        known = (*models.CANDIDATES, *models.COMBINATIONS, models.ZERO_MODEL, PROPHET_MODEL)
        if self.model is not None and self.model not in known:
            raise ForecastInputError(f"unknown model {self.model!r}; valid: {', '.join(known)}")

    @property
    def m(self) -> int:
        return self.season_length or SEASON_LENGTH[self.period]

    @property
    def min_train(self) -> int:
        return max(self.m, 6)

    @property
    def min_history(self) -> int:
        return self.horizon + self.min_train

    @classmethod
    def for_kind(cls, kind: SeriesKind, **kwargs: Any) -> EngineConfig:
        """Counts are bounded below by zero, rates (defect shares) by zero and one."""
        upper = 1.0 if kind == "rate" else None
        return cls(lower_bound=0.0, upper_bound=upper, kind=kind, **kwargs)


@dataclass(frozen=True)
class CandidateScore:
    rmsse: float
    mase: float
    mae: float


@dataclass(frozen=True)
class Backtest:
    windows: int
    horizon: int
    rmsse: float
    mase: float
    mae: float
    coverage: dict[int, float]


@dataclass(frozen=True)
class SeriesForecast:
    unique_id: str
    model: str
    series_class: SeriesClass
    mean: np.ndarray
    lower: dict[int, np.ndarray]
    upper: dict[int, np.ndarray]
    quantiles: dict[float, np.ndarray]
    scores: dict[str, CandidateScore]
    backtest: Backtest | None
    history_length: int
    zero_share: float
    naive: bool = False
    fallback_reason: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def fallback(self) -> bool:
        return self.fallback_reason is not None


def clip(values: np.ndarray, config: EngineConfig) -> np.ndarray:
    clipped: np.ndarray = np.clip(
        np.asarray(values, dtype=float), config.lower_bound, config.upper_bound
    )
    return clipped
