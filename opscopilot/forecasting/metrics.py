"""Scaled accuracy measures, as pure numpy functions (fev / AutoGluon definitions).

- MASE: mean |error| divided by the mean in-sample |y_t - y_{t-lag}|.
- RMSSE: root of mean squared error divided by the mean in-sample squared lag difference. Its
  optimum is the mean, so unlike MASE it does not reward forecasting zero on intermittent data.
- WQL: 2 x total pinball loss over the quantile levels / (levels x total |actual|), pooled over
  all series and periods.
- Coverage: share of actuals inside [lower, upper], bounds included.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def scale(history: np.ndarray, *, lag: int, squared: bool) -> float:
    """Mean in-sample |lag difference| (or its square); NaN when the history is too short."""
    h = np.asarray(history, dtype=float)
    use = lag if len(h) > lag else 1
    if len(h) <= use:
        return float("nan")
    diff = h[use:] - h[:-use]
    return float(np.nanmean(diff**2 if squared else np.abs(diff)))


def mase(actual: np.ndarray, forecast: np.ndarray, history: np.ndarray, *, lag: int) -> float:
    s = scale(history, lag=lag, squared=False)
    err = float(np.nanmean(np.abs(np.asarray(actual) - np.asarray(forecast))))
    return err / s if s > 0 else float("nan")


def rmsse(actual: np.ndarray, forecast: np.ndarray, history: np.ndarray, *, lag: int) -> float:
    s = scale(history, lag=lag, squared=True)
    err = float(np.nanmean((np.asarray(actual) - np.asarray(forecast)) ** 2))
    return float(np.sqrt(err / s)) if s > 0 else float("nan")


def quantile_loss_sum(actual: np.ndarray, predicted: np.ndarray, level: float) -> float:
    a = np.asarray(actual, dtype=float)
    p = np.asarray(predicted, dtype=float)
    loss = np.abs((a - p) * ((a <= p).astype(float) - level))
    return float(np.nansum(loss))


def wql(actual: np.ndarray, quantiles: Mapping[float, np.ndarray]) -> float:
    """Weighted quantile loss of quantile forecasts shaped like `actual` (NaN = unscored)."""
    a = np.asarray(actual, dtype=float)
    total = float(np.nansum(np.abs(a)))
    if total == 0 or not quantiles:
        return float("nan")
    losses = [quantile_loss_sum(a, np.asarray(p), q) for q, p in quantiles.items()]
    return float(2 * np.mean(losses) / total)


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    a = np.asarray(actual, dtype=float)
    mask = ~np.isnan(a)
    if not mask.any():
        return float("nan")
    inside = (a >= np.asarray(lower)) & (a <= np.asarray(upper))
    return float(np.mean(inside[mask]))
