"""Intervals and quantiles from pooled backtest errors, and their honest backtest coverage."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from opscopilot.forecasting.engine import Backtest, CandidateScore, EngineConfig, clip


def zero_probability(history: np.ndarray, config: EngineConfig) -> float:
    """Share of periods at or below zero lately (two seasons or two horizons)."""
    if config.lower_bound != 0:
        return 0.0
    recent = history[-max(2 * config.m, 2 * config.horizon) :]
    return float(np.mean(recent <= 0))


def _quantile_paths(
    mean: np.ndarray,
    errors: np.ndarray,
    taus: Sequence[float],
    zero_probability: float,
    config: EngineConfig,
) -> np.ndarray:
    """One row per quantile level: the forecast plus that quantile of the backtest errors.

    Errors are additive, which fails at the bottom of intermittent data: when the level moves
    up, "forecast minus a small error" lifts the lower bound above zero although zero stays the
    most likely outcome (22 % of carparts' hold-out fell below such bounds). So a quantile at a
    level below the recent share of zero periods is zero.
    """
    paths = clip(mean[None, :] + np.quantile(errors, list(taus))[:, None], config)
    paths[np.asarray(taus) <= zero_probability] = 0.0
    return paths


def intervals(
    mean: np.ndarray,
    errors: np.ndarray,
    zero_probability: float,
    config: EngineConfig,
    *,
    with_quantiles: bool = True,
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray], dict[float, np.ndarray]]:
    """Bounds per confidence level, and the requested quantiles.

    A level-L interval is equal-tailed, [q(a), q(1 - a)] with a = (1 - L) / 2, except where its
    lower end sits on the lower bound (zero): the whole lower tail is then inside the interval
    and an upper end at q(1 - a) would cover 1 - a instead of L (0.90 for an 80 % interval on
    carparts). There the interval is [0, q(L)].
    """
    levels = [level / 100 for level in config.levels]
    tails = [(1 - level) / 2 for level in levels]
    extra = config.quantiles if with_quantiles else ()
    taus = [*tails, *[1 - t for t in tails], *levels, *extra]
    paths = _quantile_paths(mean, errors, taus, zero_probability, config)
    k = len(levels)
    lower: dict[int, np.ndarray] = {}
    upper: dict[int, np.ndarray] = {}
    for i, level in enumerate(config.levels):
        lower[level] = paths[i]
        at_bound = paths[i] <= (config.lower_bound if config.lower_bound is not None else -np.inf)
        upper[level] = np.where(at_bound, paths[2 * k + i], paths[k + i])
    quantiles = {q: paths[3 * k + i] for i, q in enumerate(extra)}
    return lower, upper, quantiles


def backtest_summary(
    score: CandidateScore,
    preds: np.ndarray,
    actual: np.ndarray,
    y: np.ndarray,
    cutoffs: list[int],
    config: EngineConfig,
) -> Backtest:
    """Coverage per level, each window scored with intervals from the other windows' errors."""
    windows = len(preds)
    if windows < 2:
        return Backtest(windows, config.horizon, score.rmsse, score.mase, score.mae, {})
    errors = actual - preds
    hits = np.zeros((len(config.levels), windows))
    for w in range(windows):
        others = np.delete(errors, w, axis=0).ravel()
        p_zero = zero_probability(y[: cutoffs[w]], config)
        lower, upper, _ = intervals(preds[w], others, p_zero, config, with_quantiles=False)
        for i, level in enumerate(config.levels):
            hits[i, w] = np.mean((actual[w] >= lower[level]) & (actual[w] <= upper[level]))
    coverage = {level: float(hits[i].mean()) for i, level in enumerate(config.levels)}
    return Backtest(windows, config.horizon, score.rmsse, score.mase, score.mae, coverage)
