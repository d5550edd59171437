"""The methods compared: our engine (bulk path), statsforecast baselines, zero, prophet.

Every method returns the point forecast and the 10 %..90 % quantiles per series, clipped at zero
(the data are counts or sales). The 80 % interval is the 10 % to 90 % quantile range.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from bench.forecast.data import Dataset
from opscopilot.forecasting.backtest import EngineConfig, SeriesForecast
from opscopilot.forecasting.bulk import forecast_bulk
from opscopilot.forecasting.frames import PANDAS_FREQ, Period

ProphetMode = Literal["quantiles", "interval"]
QUANTILES: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass
class MethodRun:
    name: str
    mean: dict[str, np.ndarray]
    quantiles: dict[str, np.ndarray]  # (len(QUANTILES), horizon) per series
    interval80: dict[str, tuple[np.ndarray, np.ndarray]]
    seconds: float
    series: int
    note: str = ""
    cpu_seconds: float | None = None  # summed over worker processes (our engine only)


def ours(data: Dataset, *, n_jobs: int) -> tuple[MethodRun, dict[str, SeriesForecast]]:
    """The product's bulk path, exactly as the worker runs it (allow_naive for short series)."""
    config = EngineConfig(
        period=data.period, horizon=data.horizon, quantiles=QUANTILES, allow_naive=True
    )
    result = forecast_bulk(data.long_frame(), config=config, n_jobs=n_jobs)
    if result.errors:
        raise RuntimeError(f"engine errors: {list(result.errors.items())[:3]}")
    fc = result.forecasts
    run = MethodRun(
        "ours (per-series choice)",
        {uid: f.mean for uid, f in fc.items()},
        {uid: np.stack([f.quantiles[q] for q in QUANTILES]) for uid, f in fc.items()},
        {uid: (f.lower[80], f.upper[80]) for uid, f in fc.items()},
        result.seconds,
        len(fc),
        cpu_seconds=result.cpu_seconds,
    )
    return run, fc


def statsforecast_model(data: Dataset, model: str, *, n_jobs: int) -> MethodRun:
    """One statsforecast model on the scored series, with its own (or conformal) intervals."""
    from statsforecast import StatsForecast
    from statsforecast.models import ADIDA, AutoETS, SeasonalNaive
    from statsforecast.utils import ConformalIntervals

    m, h = data.season_length, data.horizon
    builders: dict[str, Callable[[], Any]] = {
        "SeasonalNaive": lambda: SeasonalNaive(season_length=m),
        "AutoETS": lambda: AutoETS(season_length=m),
        # ADIDA has no intervals of its own; conformal ones over two windows of h.
        "ADIDA": lambda: ADIDA(prediction_intervals=ConformalIntervals(h=h, n_windows=2)),
    }
    uids = list(data.test)
    frame = pd.concat(
        [
            pd.DataFrame({"unique_id": u, "ds": np.arange(len(data.train[u])), "y": data.train[u]})
            for u in uids
        ],
        ignore_index=True,
    )
    levels = [20, 40, 60, 80]
    # The Croston family runs faster in one process (known-here.md).
    jobs = 1 if model == "ADIDA" else n_jobs
    started = time.perf_counter()
    out = StatsForecast(models=[builders[model]()], freq=1, n_jobs=jobs).forecast(
        df=frame, h=h, level=levels
    )
    seconds = time.perf_counter() - started
    out = out.set_index("unique_id")
    cols = [f"{model}-lo-{lv}" for lv in reversed(levels)] + [model]
    cols += [f"{model}-hi-{lv}" for lv in levels]
    mean, quantiles = {}, {}
    for uid, rows in out.groupby(level=0, sort=False):
        mean[str(uid)] = np.clip(rows[model].to_numpy(float), 0, None)
        quantiles[str(uid)] = np.clip(rows[cols].to_numpy(float).T, 0, None)
    return MethodRun(model, mean, quantiles, _outer(quantiles), seconds, len(uids))


def zero(data: Dataset) -> MethodRun:
    h = data.horizon
    uids = list(data.test)
    return MethodRun(
        "zero forecast",
        {u: np.zeros(h) for u in uids},
        {u: np.zeros((len(QUANTILES), h)) for u in uids},
        {u: (np.zeros(h), np.zeros(h)) for u in uids},
        0.0,
        len(uids),
        "guard: MASE rewards it on intermittent data",
    )


def prophet(
    data: Dataset, uids: Sequence[str], *, n_jobs: int, mode: ProphetMode = "quantiles"
) -> MethodRun:
    """Prophet fitted per series (default settings) in `n_jobs` processes; wall seconds.

    mode "quantiles" draws predictive samples for the 10 %..90 % quantiles (accuracy rows);
    mode "interval" is what a user runs: fit, then predict with prophet's own 80 % interval
    (speed row).
    """
    tasks = [(data.dates[u], data.train[u], data.horizon, data.period, mode) for u in uids]
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=n_jobs, mp_context=context) as pool:
        results = list(pool.map(prophet_one, tasks, chunksize=max(1, len(tasks) // (4 * n_jobs))))
    seconds = time.perf_counter() - started
    mean = {u: r[0] for u, r in zip(uids, results, strict=True)}
    quantiles = {u: r[1] for u, r in zip(uids, results, strict=True)}
    return MethodRun("prophet", mean, quantiles, _outer(quantiles), seconds, len(uids))


def _outer(quantiles: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The 80 % interval of an equal-tailed method: its 10 % and 90 % quantiles."""
    return {uid: (q[0], q[-1]) for uid, q in quantiles.items()}


def prophet_one(
    task: tuple[pd.DatetimeIndex, np.ndarray, int, Period, ProphetMode],
) -> tuple[np.ndarray, np.ndarray]:
    """Fit and predict one series; quantiles from prophet's predictive samples (seeded)."""
    ds, y, horizon, period, mode = task
    logging.getLogger("cmdstanpy").disabled = True
    logging.getLogger("prophet.plot").disabled = True
    from prophet import Prophet

    np.random.seed(0)
    model = Prophet(interval_width=0.8)
    model.fit(pd.DataFrame({"ds": ds, "y": y}))
    future = pd.DataFrame(
        {"ds": pd.date_range(ds[-1], periods=horizon + 1, freq=PANDAS_FREQ[period])[1:]}
    )
    predicted = model.predict(future)
    mean = np.clip(predicted["yhat"].to_numpy(float), 0, None)
    if mode == "interval":
        lower = np.clip(predicted["yhat_lower"].to_numpy(float), 0, None)
        upper = np.clip(predicted["yhat_upper"].to_numpy(float), 0, None)
        return mean, np.stack([lower, *[mean] * (len(QUANTILES) - 2), upper])
    samples = model.predictive_samples(future)["yhat"]
    quantiles = np.clip(np.quantile(samples, QUANTILES, axis=1), 0, None)
    return mean, quantiles
