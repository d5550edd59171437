"""Robust seasonal baseline of observation series, vectorised over items of equal length.

STL-like in two passes, with medians instead of loess so a spike cannot bend the baseline:
a rough trend (rolling median over one season) exposes the seasonal profile (median per
phase across cycles), then the medians of each point's neighbours in the deseasonalised
series (three on each side) give its local level, which follows level shifts within a
period or two. The residual is scaled by the MAD (a spike cannot inflate it the way it
inflates a standard deviation). Every function takes a (items, periods) array and returns arrays.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

Array = NDArray[np.float64]

MIN_POINTS = 6
SHORT_TREND_WINDOW = 7
MAD_TO_SIGMA = 1.4826
# Below this many cycles a phase has too few values; neighbouring phases lend theirs.
FEW_CYCLES = 4
# A flat series has no spread: any change is "infinitely" many deviations; report a cap.
MAX_Z = 999.0


def _median(values: Array, axis: int, keepdims: bool = False) -> Array:
    # nanmedian goes through masked arrays and is ~10x slower; most arrays have no gaps.
    if np.isnan(values).any():
        return np.asarray(np.nanmedian(values, axis=axis, keepdims=keepdims))
    return np.asarray(np.median(values, axis=axis, keepdims=keepdims))


def odd_window(width: int, n: int) -> int:
    """`width` made odd, at least 3, at most the largest odd number <= n."""
    window = max(3, width if width % 2 else width + 1)
    return min(window, n if n % 2 else n - 1)


def rolling_median(values: Array, window: int) -> Array:
    """Centred rolling median; ends are reflected so the first point has two real sides."""
    half = window // 2
    padded = np.pad(values, ((0, 0), (half, half)), mode="reflect")
    return np.median(sliding_window_view(padded, window, axis=1), axis=-1)


def neighbour_medians(values: Array, window: int) -> tuple[Array, Array, Array]:
    """Per point: median of the `window // 2` points before, of those after, and of both
    sides together. The point itself is left out: were it in, it would often be its own
    median, and the clump of zero residuals would shrink the MAD (1.3 % of pure noise then
    passed |z| >= 3.5, against 0.05 % expected)."""
    half = window // 2
    padded = np.pad(values, ((0, 0), (half, half)), mode="reflect")
    windows = sliding_window_view(padded, window, axis=1)
    before = np.median(windows[..., :half], axis=-1)
    after = np.median(windows[..., half + 1 :], axis=-1)
    both = np.median(np.delete(windows, half, axis=-1), axis=-1)
    return before, after, both


def seasonal_component(detrended: Array, season: int) -> Array:
    items, n = detrended.shape
    cycles = -(-n // season)
    padded = np.full((items, cycles * season), np.nan)
    padded[:, :n] = detrended
    table = padded.reshape(items, cycles, season)
    if cycles < FEW_CYCLES:
        # With two cycles, a median of two is a mean: one anomaly would move its phase.
        table = np.concatenate(
            [np.roll(table, 1, axis=2), table, np.roll(table, -1, axis=2)], axis=1
        )
    profile = _median(table, axis=1)
    profile -= profile.mean(axis=1, keepdims=True)
    return np.tile(profile, cycles)[:, :n]


def usable_season(season: int | None, n: int) -> int | None:
    """The season length we can estimate: at least two full cycles are needed."""
    if season is None or season < 2 or n < 2 * season:
        return None
    return season


class Decomposition(NamedTuple):
    expected: Array
    residual: Array  # distance to the nearer side's level; what is judged
    noise: Array  # distance to the median of both sides; what sets the scale


def decompose(values: Array, season: int | None) -> Decomposition:
    """`season` must already be usable (see usable_season).

    A point is judged against the level on its nearer side: a spike is far from both sides
    and keeps its full deviation, while the first point after a level shift matches the
    side it belongs to and is not flagged (judged against both sides at once, each shift
    raised two false alarms). A point between the two sides' levels is expected as is."""
    n = values.shape[1]
    if season is None:
        seasonal = np.zeros_like(values)
    else:
        rough_trend = rolling_median(values, odd_window(season, n))
        seasonal = seasonal_component(values - rough_trend, season)
    deseasonalised = values - seasonal
    before, after, both = neighbour_medians(deseasonalised, odd_window(SHORT_TREND_WINDOW, n))
    level = np.clip(deseasonalised, np.minimum(before, after), np.maximum(before, after))
    return Decomposition(level + seasonal, deseasonalised - level, deseasonalised - both)


def robust_scale(
    values: Array, noise: Array, missing: NDArray[np.bool_]
) -> tuple[Array, NDArray[np.bool_]]:
    """Per-row sigma estimate of the noise, and which rows have no spread to measure.

    When more than half the residuals are equal (a flat series, or intermittent demand that
    is mostly 0) the MAD is 0. Then the typical size of the residuals that do differ sets
    the scale: an order of 5 among orders of 2 to 4 is normal, an order of 50 is not. With
    fewer than three such points there is nothing to compare with: the scale is a tiny
    floor, so whatever differs is flagged, and the row is reported as degenerate."""
    masked = np.where(missing, np.nan, noise)
    center = _median(masked, axis=1, keepdims=True)
    scale = MAD_TO_SIGMA * _median(np.abs(masked - center), axis=1)
    level = _median(np.where(missing, np.nan, np.abs(values)), axis=1)
    floor = 1e-9 * np.maximum(1.0, level)
    degenerate = np.zeros(scale.shape, dtype=bool)
    for row in np.flatnonzero(scale <= floor):
        differing = np.abs(masked[row] - center[row, 0]) > floor[row]
        if np.count_nonzero(differing) >= 3:
            scale[row] = MAD_TO_SIGMA * np.median(np.abs(masked[row, differing] - center[row, 0]))
        else:
            degenerate[row] = True
    return np.maximum(scale, floor), degenerate


def residual_features(z: Array) -> NDArray[np.float64]:
    """(items, periods, 3): scaled residual, jump from the previous period, and contrast
    with both neighbours. A spike that reverts stands out on all three; a level shift
    only on the jump; noise on none."""
    previous = np.concatenate([z[:, 1:2], z[:, :-1]], axis=1)
    following = np.concatenate([z[:, 1:], z[:, -2:-1]], axis=1)
    features = np.stack([z, z - previous, z - 0.5 * (previous + following)], axis=-1)
    return np.asarray(np.clip(features, -1e3, 1e3), dtype=np.float64)


def fill_missing(values: Array) -> tuple[Array, NDArray[np.bool_]]:
    """Linear interpolation over gaps (ends held flat), and the mask of what was missing."""
    missing = ~np.isfinite(values)
    if not missing.any():
        return values, missing
    filled = values.copy()
    index = np.arange(values.shape[1])
    for row in np.flatnonzero(missing.any(axis=1)):
        ok = ~missing[row]
        if ok.any():
            filled[row, ~ok] = np.interp(index[~ok], index[ok], values[row, ok])
        else:
            filled[row] = 0.0
    return filled, missing


class Analysis(NamedTuple):
    expected: Array
    z: Array
    features: Array
    degenerate: NDArray[np.bool_]


def analyse(values: Array, missing: NDArray[np.bool_], season: int | None) -> Analysis:
    """Expected values, robust z, forest features and flat rows of equal-length series;
    `values` has no gaps (see fill_missing) and `season` is usable."""
    expected, residual, noise = decompose(values, season)
    scale, degenerate = robust_scale(values, noise, missing)
    z = np.clip(np.where(missing, 0.0, residual / scale[:, None]), -MAX_Z, MAX_Z)
    return Analysis(expected, z, residual_features(z), degenerate)
