"""Prophet as one more candidate (optional extra `opscopilot[prophet]`), imported lazily.

Every fit runs in a daemon thread with a timeout; Stan's optimizer itself runs as a cmdstan
subprocess, which cmdstanpy terminates at the same timeout, so neither the caller nor the
machine carries a runaway fit.
Known failures (fewer than 2 points, a constant series, optimizer errors, timeouts) raise
`ProphetFailure` with a reason; the engine then falls back to a simpler model and flags it.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from opscopilot.forecasting.frames import Period, period_starts_after

T = TypeVar("T")

# Holidays shift daily and weekly demand; a monthly or quarterly bucket averages them out.
_HOLIDAY_PERIODS = ("daily", "weekly")


class ProphetFailure(Exception):
    """Prophet could not produce a forecast; `reason` says why in plain words."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class ProphetSettings:
    country: str | None = None
    timeout_s: float = 30.0
    # Extra keyword arguments for Prophet.fit (passed on to cmdstanpy's optimizer).
    fit_kwargs: Mapping[str, Any] = field(default_factory=dict)


def prophet_available() -> bool:
    return importlib.util.find_spec("prophet") is not None


def prophet_forecast(
    ds: pd.DatetimeIndex,
    y: np.ndarray,
    *,
    horizon: int,
    period: Period,
    settings: ProphetSettings,
) -> np.ndarray:
    """Point forecast for the `horizon` periods after `ds[-1]` (unclipped)."""
    values = np.asarray(y, dtype=float)
    finite = np.isfinite(values)
    if int(finite.sum()) < 2:
        raise ProphetFailure("fewer than 2 points")
    if np.ptp(values[finite]) == 0:
        raise ProphetFailure("constant series")
    if not prophet_available():
        raise ProphetFailure("prophet is not installed (pip install 'opscopilot[prophet]')")
    frame = pd.DataFrame({"ds": pd.DatetimeIndex(ds)[finite], "y": values[finite]})
    future = pd.DataFrame({"ds": period_starts_after(pd.Timestamp(ds[-1]), period, horizon)})
    return run_with_timeout(
        lambda: _fit_predict(frame, future, period, settings), settings.timeout_s
    )


def run_with_timeout(fn: Callable[[], T], timeout_s: float) -> T:
    """Run `fn` in a daemon thread; ProphetFailure if it raises or outlives `timeout_s`."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            box["value"] = fn()
        except Exception as exc:  # any optimizer or backend error becomes a fallback reason
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name="prophet-fit", daemon=True).start()
    if not done.wait(timeout_s):
        raise ProphetFailure(f"fit timed out after {timeout_s:g} s")
    if "error" in box:
        error = box["error"]
        raise ProphetFailure(f"optimizer error: {type(error).__name__}: {error}") from error
    value: T = box["value"]
    return value


def _fit_predict(
    frame: pd.DataFrame, future: pd.DataFrame, period: Period, settings: ProphetSettings
) -> np.ndarray:
    _silence()
    from prophet import Prophet

    # Intervals come from the engine's backtest residuals, so Prophet's sampling is skipped.
    model = Prophet(uncertainty_samples=0)
    if settings.country and period in _HOLIDAY_PERIODS:
        model.add_country_holidays(country_name=settings.country)
    # cmdstanpy's own timeout kills the optimizer process, which the thread timeout alone
    # would leave running (noise-free series can keep LBFGS busy for minutes).
    model.fit(frame, **{"timeout": settings.timeout_s, **settings.fit_kwargs})
    predicted = model.predict(future)
    return np.asarray(predicted["yhat"], dtype=float)


def _silence() -> None:
    # cmdstanpy resets its logger level at the first fit, so setLevel is undone; disabling
    # the logger sticks. prophet.plot logs an error when plotly is missing, harmless here.
    logging.getLogger("cmdstanpy").disabled = True
    logging.getLogger("prophet.plot").disabled = True
    logging.getLogger("prophet").setLevel(logging.WARNING)
