"""10,000 seeded weekly series for the speed comparison: 60 % trend + yearly season + noise,
40 % intermittent Poisson demand; three years each (156 weeks). Accuracy is not judged here."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.forecast.data import Dataset

WEEKS = 156
HORIZON = 13


def weekly(n_series: int, *, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    t = np.arange(WEEKS)
    dates = pd.date_range("2021-01-04", periods=WEEKS, freq="W-MON")
    train: dict[str, np.ndarray] = {}
    for i in range(n_series):
        if rng.random() < 0.6:
            level = rng.uniform(20, 200)
            trend = rng.uniform(-0.002, 0.004) * level * t
            season = (
                rng.uniform(0.05, 0.4) * level * np.sin(2 * np.pi * t / 52 + rng.uniform(0, 6.3))
            )
            noise = rng.normal(0, rng.uniform(0.03, 0.15) * level, WEEKS)
            y = np.maximum(np.round(level + trend + season + noise), 0)
        else:
            y = rng.poisson(rng.uniform(0.05, 3.0), WEEKS).astype(float)
        train[f"s{i:05d}"] = y
    return Dataset(
        "synthetic-weekly",
        "weekly",
        HORIZON,
        52,
        train,
        {uid: dates for uid in train},
        {},
    )
