"""Errors the forecast engine raises; the edges map them to 422 replies (core.errors)."""

from __future__ import annotations

from opscopilot.core.errors import ValidationFailed


class ForecastInputError(ValidationFailed, ValueError):
    """The input cannot be forecast as given (bad period, bad column, bad lever)."""


class InsufficientHistoryError(ForecastInputError):
    """Too little history for a backtested forecast; says how much is needed."""

    def __init__(self, *, needed: int, got: int, period: str, horizon: int) -> None:
        self.needed = needed
        self.got = got
        self.period = period
        self.horizon = horizon
        super().__init__(
            f"not enough history: {got} {period} periods, need at least {needed} "
            f"(one backtest window of {horizon} periods plus the training it needs); "
            "ask for a naive forecast to get one anyway",
            details={"needed": needed, "got": got, "period": period, "horizon": horizon},
        )
