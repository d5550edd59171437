"""The bulk path: `forecast_series` over many series, split over worker processes.

The same per-series function as the API path runs here, so a series gets the same forecast
whichever path computes it. Chunks are dealt round-robin so that expensive (smooth) and cheap
(intermittent) series spread evenly over the workers.

Workers are forked from a forkserver that has imported the engine and statsforecast once
(`PRELOAD`): importing statsforecast costs about 2.5 CPU-s (it pulls in statsmodels and
scipy), which spawned workers paid each, on every call; forked from the server they pay it
once per calling process, and a later call pays nothing. The server is a fresh single-threaded
process, so (unlike a plain fork) the caller's threads, event loop or DB pool are not copied.
With n_jobs > 1 the calling program's main module must be importable and guarded by
`if __name__ == "__main__"` (true of `python -m ...`, the CLI and the job worker; not of code
piped into `python -`).
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from opscopilot.forecasting.backtest import forecast_series
from opscopilot.forecasting.engine import EngineConfig, SeriesForecast
from opscopilot.forecasting.errors import ForecastInputError


@dataclass(frozen=True)
class BulkResult:
    forecasts: dict[str, SeriesForecast]
    errors: dict[str, str]
    seconds: float
    # CPU time summed over the workers: unlike wall time it does not grow when other work
    # shares the machine.
    cpu_seconds: float


Row = tuple[str, SeriesForecast | str]
PRELOAD = ["opscopilot.forecasting.backtest", "statsforecast.models"]


def forecast_bulk(
    frame: pd.DataFrame,
    *,
    config: EngineConfig,
    n_jobs: int = 1,
    id_col: str = "unique_id",
    time_col: str = "ds",
    target_col: str = "y",
    on_progress: Callable[[int, int], None] | None = None,
) -> BulkResult:
    """`forecast_series` over every unique_id of a long frame, split over `n_jobs` processes.

    A series that cannot be forecast (too little history, no usable model) lands in `errors`
    with the reason instead of failing the batch. `on_progress(done, total)` is called as
    chunks of series finish.
    """
    started = time.perf_counter()
    ordered = frame.sort_values([id_col, time_col], kind="stable")
    items = [
        (str(uid), group[target_col].to_numpy(dtype=float))
        for uid, group in ordered.groupby(id_col, sort=False)
    ]
    if n_jobs <= 1 or len(items) < 4 * n_jobs:
        done, cpu = _run_chunk(items, config)
        if on_progress is not None:
            on_progress(len(done), len(items))
    else:
        done, cpu = [], 0.0
        chunks = [items[i :: n_jobs * 4] for i in range(n_jobs * 4)]
        # forkserver, not fork: callers may hold threads (an event loop, a DB pool) that a
        # fork would copy in a locked state (module doc).
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        with ProcessPoolExecutor(max_workers=n_jobs, mp_context=context) as pool:
            for rows, seconds in pool.map(_run_chunk, chunks, [config] * len(chunks)):
                done.extend(rows)
                cpu += seconds
                if on_progress is not None:
                    on_progress(len(done), len(items))
    forecasts = {uid: out for uid, out in done if isinstance(out, SeriesForecast)}
    errors = {uid: out for uid, out in done if isinstance(out, str)}
    return BulkResult(forecasts, errors, time.perf_counter() - started, cpu)


def _run_chunk(
    items: list[tuple[str, np.ndarray]], config: EngineConfig
) -> tuple[list[Row], float]:
    started = time.process_time()
    out: list[Row] = []
    for uid, y in items:
        try:
            out.append((uid, forecast_series(y, config=config, unique_id=uid)))
        except ForecastInputError as exc:
            out.append((uid, str(exc)))
    return out, time.process_time() - started
