"""The anomaly detector's isolation forest: a seeded reference fit and a fast scorer.

The forest is fitted once per process on the residual features of simulated anomaly-free
series (level, trend, seasonality and noise drawn at random) run through the same
baseline pipeline as real data, so it knows what "normal" residual features look like
whatever the item's scale. Its cut-off is the 99.5th percentile of those reference scores.

Scoring walks the fitted sklearn trees with `Tree.apply` directly: the same numbers as
`IsolationForest.score_samples` (a unit test holds them equal), without its per-call
joblib dispatch and input checks, which cost ~10 ms on a 52-point series, far more
than the baseline itself.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from opscopilot.inference.builtin import baseline as bl

REFERENCE_SEED = 20240601
REFERENCE_QUANTILE = 0.995
N_TREES = 100
MAX_SAMPLES = 256
# (length, season) of the simulated series: short and long, flat and seasonal.
_REFERENCE_SHAPES = ((12, 1), (26, 1), (52, 1), (52, 12), (104, 12), (104, 52), (156, 52))
_SERIES_PER_SHAPE = 48
_EULER_GAMMA = 0.5772156649015329


def average_path_length(counts: NDArray[Any]) -> NDArray[np.float64]:
    """Expected path length of an unsuccessful BST search over n points (Liu et al. 2008)."""
    n = np.asarray(counts, dtype=np.float64)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + _EULER_GAMMA) - 2.0 * (n[big] - 1.0) / n[big]
    return out


@dataclass(frozen=True)
class ForestScorer:
    trees: tuple[Any, ...]  # sklearn.tree._tree.Tree
    path_lengths: tuple[NDArray[np.float64], ...]  # per node: depth + c(samples left there)
    normaliser: float
    cut: float

    @classmethod
    def from_forest(cls, forest: Any, cut: float = 1.0) -> ForestScorer:
        if forest.max_features != 1.0:
            raise ValueError("the fast scorer needs every tree to see every feature")
        trees = tuple(estimator.tree_ for estimator in forest.estimators_)
        lengths = tuple(
            t.compute_node_depths() + average_path_length(t.n_node_samples) - 1.0 for t in trees
        )
        normaliser = float(average_path_length(np.array([forest.max_samples_]))[0]) * len(trees)
        return cls(trees, lengths, normaliser, cut)

    def score(self, features: NDArray[np.float64]) -> NDArray[np.float64]:
        """Isolation score in (0, 1]: about 0.5 or less is ordinary, near 1 is isolated."""
        x = np.ascontiguousarray(features, dtype=np.float32)
        depth = np.zeros(x.shape[0])
        for tree, lengths in zip(self.trees, self.path_lengths, strict=True):
            depth += lengths[tree.apply(x)]
        return np.asarray(2.0 ** (-depth / self.normaliser), dtype=np.float64)


def _reference_features(rng: np.random.Generator) -> NDArray[np.float64]:
    chunks = []
    for n, season in _REFERENCE_SHAPES:
        k = _SERIES_PER_SHAPE
        t = np.arange(n)
        level = rng.uniform(20, 2000, (k, 1))
        trend = rng.normal(0, 0.002, (k, 1)) * level * t
        amplitude = rng.uniform(0, 0.4, (k, 1)) * level if season > 1 else 0.0
        phase = rng.uniform(0, 2 * np.pi, (k, 1))
        noise = rng.normal(0, 1, (k, n)) * rng.uniform(0.02, 0.25, (k, 1)) * level
        values = level + trend + amplitude * np.sin(2 * np.pi * t / season + phase) + noise
        missing = np.zeros(values.shape, dtype=bool)
        features = bl.analyse(values, missing, bl.usable_season(season, n)).features
        chunks.append(features.reshape(-1, features.shape[-1]))
    return np.concatenate(chunks)


def fit_reference_forest(seed: int = REFERENCE_SEED) -> tuple[Any, NDArray[np.float64]]:
    """(fitted IsolationForest, its reference features); sklearn is imported only here."""
    from sklearn.ensemble import IsolationForest

    reference = _reference_features(np.random.default_rng(seed))
    forest = IsolationForest(n_estimators=N_TREES, max_samples=MAX_SAMPLES, random_state=seed)
    return forest.fit(reference), reference


_BUILD_LOCK = threading.Lock()


def reference_scorer() -> ForestScorer:
    """Built on first use, then shared by every call in this process. Single-flight: a
    call that arrives while the start-up warm-up is building it waits for that build
    instead of fitting a second forest beside it."""
    with _BUILD_LOCK:
        return _build_reference_scorer()


@functools.cache
def _build_reference_scorer() -> ForestScorer:
    forest, reference = fit_reference_forest()
    scorer = ForestScorer.from_forest(forest)
    cut = float(np.quantile(scorer.score(reference), REFERENCE_QUANTILE))
    return ForestScorer(scorer.trees, scorer.path_lengths, scorer.normaliser, cut)
