"""Candidate models and the pools they are chosen from.

The fast models come from statsforecast (imported lazily). Which candidates compete for a series
depends only on the series itself, never on the batch it arrives in, so the single-series API
path and the bulk path give the same forecast for the same history.

Pools (the first name is the default, kept unless a challenger wins the backtest clearly):

- intermittent (at least 70 % of the periods are zero, e.g. spare parts): ADIDA first, then the
  rest of the Croston family, the historic average, seasonal naive and (for seasons up to 24)
  Theta. ADIDA was the best single model on carparts (MASE 1.075; seasonal naive and AutoETS
  1.20). The cut is 70 %, not 50 %: daily series of a shop closed on some days reach 50-60 %
  zeros yet follow a weekly pattern (online retail: MASE 1.03 with the smooth pool for them,
  1.07 with the intermittent one).
- smooth, season up to 24: the mean of AutoETS and seasonal exponential smoothing first (a
  combination beat both members on online retail, 1.03 against 1.07 and 1.04), then AutoETS,
  AutoTheta, seasonal exponential smoothing, seasonal window average, seasonal naive, naive,
  historic average and two intermittent models.
- smooth, season up to 24 but fewer than three seasons to fit on at the first cutoff: Theta
  first, then the cheap tail. On so short a history AutoETS and AutoTheta choose their form
  (trend, season, error) from noise: on carparts (every smooth series has at most 27 months
  at its first cutoff) leaving them out moved MASE from 1.069 to 1.061, kept WQL (0.909) and
  coverage (0.85), and halved the CPU time (22 to 11.6 CPU-s). This is the pre-screen that
  keeps the 2,674 series within 60 s on a shared 2-core machine.
- smooth, longer seasons (weekly data, m = 52): seasonal exponential smoothing first, then the
  same cheap tail. At m = 52 every trend-and-season model of statsforecast is slow: AutoETS fits
  no seasonal model past m = 24 yet runs 14x slower, HoltWinters takes 46 ms a fit, Theta 4 ms a
  fit plus 1 ms a window. On the synthetic weekly set Theta improved MASE by 1.5 % (0.882 against
  0.895) for three times the time, which would cost the 20x speed margin over prophet.

Model calls must run inside `quiet()` (the engine enters it once per series).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

SeriesClass = Literal["all_zero", "constant", "intermittent", "smooth"]

INTERMITTENT_ZERO_SHARE = 0.7
ZERO_MODEL = "Zero"
PROPHET_MODEL = "Prophet"


@dataclass(frozen=True)
class Candidate:
    """How to build one statsforecast model and what it needs to run."""

    name: str
    build: Callable[[int], Any]
    min_points: Callable[[int], int]
    # Expensive optimisers are fitted once per backtest (at the first cutoff) and rolled
    # forward over later windows, as statsforecast's cross_validation(refit=False) does.
    fit_once: bool = False
    # For an automatic search (AutoETS, AutoTheta): the model with the form the search chose
    # at the first cutoff, to refit on the whole history without searching again.
    refit: Callable[[int, Any], Any] | None = None


def _sf() -> Any:
    import statsforecast.models as sm

    return sm


CANDIDATES: dict[str, Candidate] = {
    c.name: c
    for c in (
        Candidate("ADIDA", lambda m: _sf().ADIDA(), lambda m: 2),
        Candidate("IMAPA", lambda m: _sf().IMAPA(), lambda m: 2),
        Candidate("TSB", lambda m: _sf().TSB(alpha_d=0.1, alpha_p=0.1), lambda m: 2),
        Candidate("CrostonSBA", lambda m: _sf().CrostonSBA(), lambda m: 2),
        Candidate("HistoricAverage", lambda m: _sf().HistoricAverage(), lambda m: 1),
        Candidate("Naive", lambda m: _sf().Naive(), lambda m: 1),
        Candidate("SeasonalNaive", lambda m: _sf().SeasonalNaive(season_length=m), lambda m: m),
        Candidate(
            "SeasonalWindowAverage",
            lambda m: _sf().SeasonalWindowAverage(season_length=m, window_size=2),
            lambda m: 2 * m,
        ),
        Candidate(
            "SeasonalES",
            lambda m: _sf().SeasonalExponentialSmoothingOptimized(season_length=m),
            lambda m: m + 1,
        ),
        Candidate("Theta", lambda m: _sf().Theta(season_length=m), lambda m: 6, fit_once=True),
        Candidate(
            "AutoTheta",
            lambda m: _sf().AutoTheta(season_length=m),
            lambda m: 6,
            fit_once=True,
            refit=lambda m, fitted: _sf().AutoTheta(
                season_length=m, model=fitted.model_["modeltype"]
            ),
        ),
        # Damped trends doubled AutoETS's fit time for no gain here (carparts MASE 1.069 both
        # ways, online retail 1.031 against 1.029), so the search leaves them out.
        Candidate(
            "AutoETS",
            lambda m: _sf().AutoETS(season_length=m, damped=False),
            lambda m: 10,
            fit_once=True,
            refit=lambda m, fitted: _sf().AutoETS(
                season_length=m, model=fitted.model_["components"][:3], damped=False
            ),
        ),
    )
}

_INTERMITTENT_POOL = (
    "ADIDA",
    "IMAPA",
    "TSB",
    "CrostonSBA",
    "HistoricAverage",
    "SeasonalNaive",
)
_SMOOTH_TAIL = (
    "SeasonalES",
    "SeasonalWindowAverage",
    "SeasonalNaive",
    "Naive",
    "HistoricAverage",
    "ADIDA",
    "TSB",
)
# A combination is scored and chosen like any candidate; its forecast is its members' mean.
COMBINATIONS: dict[str, tuple[str, ...]] = {"AutoETS+SeasonalES": ("AutoETS", "SeasonalES")}
_SMOOTH_POOL = ("AutoETS+SeasonalES", "AutoETS", "AutoTheta", *_SMOOTH_TAIL)
_SHORT_SMOOTH_POOL = ("Theta", *_SMOOTH_TAIL)
_LONG_SEASON_POOL = _SMOOTH_TAIL
LONG_SEASON = 24
# Seasons of history at the first cutoff below which the automatic searches stay out.
SEARCH_SEASONS = 3


def zero_share(y: np.ndarray) -> float:
    return float(np.mean(y == 0)) if len(y) else 0.0


def classify(y: np.ndarray) -> SeriesClass:
    if len(y) and np.all(y == 0):
        return "all_zero"
    if len(y) and np.all(y == y[0]):
        return "constant"
    if zero_share(y) >= INTERMITTENT_ZERO_SHARE:
        return "intermittent"
    return "smooth"


def candidate_pool(
    series_class: SeriesClass, season_length: int, *, train: int | None = None
) -> tuple[str, ...]:
    """Candidate names for a series whose backtest fits first on `train` periods, default
    first."""
    if series_class == "all_zero":
        return (ZERO_MODEL,)
    if series_class == "constant":
        return ("Naive",)
    if series_class == "intermittent":
        # Theta won 8 % of carparts' intermittent series; at m = 52 its fit costs more than
        # the whole Croston family, so weekly intermittent series go without it.
        return _INTERMITTENT_POOL if season_length > LONG_SEASON else (*_INTERMITTENT_POOL, "Theta")
    if season_length > LONG_SEASON:
        return _LONG_SEASON_POOL
    if season_length > 1 and train is not None and train < SEARCH_SEASONS * season_length:
        return _SHORT_SMOOTH_POOL
    return _SMOOTH_POOL


def naive_model(series_class: SeriesClass) -> str:
    """The unbacktested model for a history too short to backtest."""
    return "HistoricAverage" if series_class == "intermittent" else "Naive"


def can_run(name: str, n: int, season_length: int) -> bool:
    if name == ZERO_MODEL:
        return n >= 1
    if name in COMBINATIONS:
        return all(can_run(member, n, season_length) for member in COMBINATIONS[name])
    return n >= CANDIDATES[name].min_points(season_length)


def forecast(name: str, y: np.ndarray, *, horizon: int, season_length: int) -> np.ndarray:
    """Fit `name` on `y` and forecast `horizon` periods (unclipped point forecast)."""
    if name == ZERO_MODEL:
        return np.zeros(horizon)
    model = CANDIDATES[name].build(season_length)
    out = model.forecast(y=np.asarray(y, dtype=float), h=horizon)
    return _finite(out["mean"], name)


def forecast_with_level(
    name: str, y: np.ndarray, *, horizon: int, season_length: int, levels: Sequence[int]
) -> dict[str, np.ndarray]:
    """statsforecast's own intervals (used only for unbacktested naive forecasts)."""
    model = CANDIDATES[name].build(season_length)
    out = model.forecast(y=np.asarray(y, dtype=float), h=horizon, level=list(levels))
    return {key: np.asarray(value, dtype=float) for key, value in out.items()}


@dataclass(frozen=True)
class BacktestRun:
    """A candidate's forecasts at each cutoff, and how to forecast from the whole history."""

    forecasts: list[np.ndarray]
    final: Callable[[], np.ndarray]


def backtest(
    name: str, y: np.ndarray, *, cutoffs: Sequence[int], horizon: int, season_length: int
) -> BacktestRun:
    """Point forecasts made at each cutoff from y[:cutoff] (unclipped).

    A `fit_once` model is fitted at the first cutoff only; later windows run its states
    forward through the newer data with the same parameters (statsforecast's `forward`, as
    cross_validation(refit=False) does), so its optimiser runs once per backtest instead of
    once per window. The final forecast refits on the whole history: on carparts the first
    cutoff sees only 15 of 39 months, and rolling those parameters forward cost 1 % of MASE.
    """
    values = np.asarray(y, dtype=float)
    if name == ZERO_MODEL:
        return BacktestRun([np.zeros(horizon) for _ in cutoffs], lambda: np.zeros(horizon))
    candidate = CANDIDATES[name]
    if not candidate.fit_once:
        return BacktestRun(
            [
                forecast(name, values[:c], horizon=horizon, season_length=season_length)
                for c in cutoffs
            ],
            lambda: forecast(name, values, horizon=horizon, season_length=season_length),
        )
    fitted = candidate.build(season_length).fit(y=values[: cutoffs[0]])
    outs = [fitted.forward(y=values[:c], h=horizon) for c in cutoffs]

    def final() -> np.ndarray:
        if candidate.refit is None:
            return forecast(name, values, horizon=horizon, season_length=season_length)
        model = candidate.refit(season_length, fitted)
        return _finite(model.forecast(y=values, h=horizon)["mean"], name)

    return BacktestRun([_finite(out["mean"], name) for out in outs], final)


def combine(members: Sequence[BacktestRun]) -> BacktestRun:
    """The equal-weight mean of several candidates, window by window and for the final."""
    windows = len(members[0].forecasts)
    return BacktestRun(
        [np.mean([m.forecasts[w] for m in members], axis=0) for w in range(windows)],
        lambda: np.mean([m.final() for m in members], axis=0),
    )


def _finite(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if not np.isfinite(array).all():
        raise FloatingPointError(f"{name} produced non-finite forecasts")
    return array


@contextmanager
def quiet() -> Iterator[None]:
    """numpy divides by zero inside statsforecast on short or flat windows; the engine scores
    such windows instead. errstate is per thread (unlike warnings.catch_warnings, which is
    process-wide and unsafe when the API forecasts in several threads at once)."""
    with np.errstate(all="ignore"):
        yield
