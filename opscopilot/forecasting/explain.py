"""Plain-language explanation of a forecast, built only from the forecast's own numbers.

`explain` first collects the numbers (`Explanation.numbers`: the chosen model's forecast level
and trend, its seasonal peaks, the history's share of zero periods, the change against the
previous forecast, and the backtest scores), then writes sentences that quote them through one
formatter (`Explanation.shown` holds each number exactly as printed). Every figure in the text is
therefore one of the stored numbers; the unit test removes each shown value from the text and
checks that no digit is left.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from opscopilot.forecasting import ENGINE_VERSION
from opscopilot.forecasting.engine import SeriesForecast
from opscopilot.forecasting.frames import Period, SeriesKind

PERIOD_WORD: dict[Period, str] = {
    "daily": "day",
    "weekly": "week",
    "monthly": "month",
    "quarterly": "quarter",
}
# A forecast whose peak-to-trough range around its straight-line trend is under 10 % of its
# level shows no seasonal swing, and a trend moving the level by under 5 % reads as flat.
SEASONAL_SWING = 0.10
TREND_SHARE = 0.05
INTERMITTENT_SHARE = 0.7
Number = float | int | str


@dataclass(frozen=True)
class PreviousForecast:
    """The last official forecast of the same entity, type and period."""

    model: str
    starts: pd.DatetimeIndex
    mean: np.ndarray
    # None for forecasts stored before the engine recorded its version.
    engine_version: str | None = None


def engine_change(previous: PreviousForecast | None) -> dict[str, Number]:
    """Both engine versions when the previous forecast came from another engine version."""
    if previous is None or previous.engine_version in (None, ENGINE_VERSION):
        return {}
    return {"previous_engine_version": str(previous.engine_version),
            "engine_version": ENGINE_VERSION}  # fmt: skip


@dataclass(frozen=True)
class Explanation:
    text: str
    numbers: dict[str, Number]
    shown: dict[str, str]


def explain(
    forecast: SeriesForecast,
    *,
    history: np.ndarray,
    starts: pd.DatetimeIndex,
    period: Period,
    kind: SeriesKind = "count",
    unit: str = "units",
    previous: PreviousForecast | None = None,
) -> Explanation:
    """Explain `forecast` (whose periods begin at `starts`) of a series with this `history`."""
    numbers = components(forecast, history=history, starts=starts, period=period, previous=previous)
    writer = _Writer(numbers, kind)
    word = PERIOD_WORD[period]
    sentences = [
        _level_sentence(writer, forecast.model, word, unit),
        _season_sentence(writer),
        _zero_sentence(writer, word, kind),
        _change_sentence(writer, forecast.model, word),
        _accuracy_sentence(writer, forecast, word, unit),
    ]
    text = " ".join(s for s in sentences if s)
    return Explanation(text, numbers, writer.shown)


def components(
    forecast: SeriesForecast,
    *,
    history: np.ndarray,
    starts: pd.DatetimeIndex,
    period: Period,
    previous: PreviousForecast | None = None,
) -> dict[str, Number]:
    """The numbers an explanation may quote, keyed by name."""
    mean = np.asarray(forecast.mean, dtype=float)
    h = len(mean)
    level = float(mean.mean())
    slope = float(np.polyfit(np.arange(h), mean, 1)[0]) if h > 1 else 0.0
    season = min(len(history), {"daily": 7, "weekly": 52, "monthly": 12, "quarterly": 4}[period])
    numbers: dict[str, Number] = {
        "horizon": h,
        "level": level,
        "recent_level": float(np.mean(history[-season:])) if season else 0.0,
        "recent_periods": season,
        "zero_share": forecast.zero_share,
    }
    detrended = mean - np.polyval([slope, 0.0], np.arange(h)) if h > 1 else mean
    seasonal = level > 0 and float(np.ptp(detrended)) / level >= SEASONAL_SWING
    # Within a seasonal path a straight-line slope mostly measures where the peaks fall, so
    # the trend is only quoted for a path without a seasonal swing; the comparison with the
    # recent level carries the year-on-year change.
    if not seasonal and h > 1 and abs(slope) * (h - 1) > TREND_SHARE * max(abs(level), 1e-9):
        numbers["trend_per_period"] = slope
    if seasonal:
        top = np.argsort(-mean, kind="stable")[: min(3, max(1, h // 4))]
        for rank, index in enumerate(sorted(top), start=1):
            numbers[f"peak_{rank}"] = _label(pd.Timestamp(starts[index]), period)
        numbers["peak_value"] = float(mean.max())
    if previous is not None:
        numbers.update(_change(mean, starts, previous))
        numbers.update(engine_change(previous))
    if forecast.backtest is not None:
        numbers["candidates"] = len(forecast.scores)
        numbers["windows"] = forecast.backtest.windows
        numbers["backtest_mae"] = forecast.backtest.mae
        numbers["backtest_rmsse"] = forecast.backtest.rmsse
        if 80 in forecast.backtest.coverage:
            numbers["interval_level"] = 80
            numbers["backtest_coverage"] = forecast.backtest.coverage[80]
    if forecast.fallback_reason is not None:
        numbers["fallback_reason"] = forecast.fallback_reason
    return numbers


def _change(
    mean: np.ndarray, starts: pd.DatetimeIndex, previous: PreviousForecast
) -> dict[str, Number]:
    now = pd.Series(mean, index=pd.DatetimeIndex(starts))
    before = pd.Series(np.asarray(previous.mean, dtype=float), index=previous.starts)
    common = now.index.intersection(before.index)
    if len(common) == 0:
        return {"previous_model": previous.model}
    new_level, old_level = float(now[common].mean()), float(before[common].mean())
    out: dict[str, Number] = {
        "previous_model": previous.model,
        "overlap_periods": len(common),
        "previous_level": old_level,
        "new_level": new_level,
    }
    if old_level > 0:
        out["change_share"] = new_level / old_level - 1
    return out


class _Writer:
    """Formats numbers for the text and records each one as shown."""

    def __init__(self, numbers: dict[str, Number], kind: SeriesKind) -> None:
        self.numbers = numbers
        self.kind = kind
        self.shown: dict[str, str] = {}

    def has(self, key: str) -> bool:
        return key in self.numbers

    def __call__(self, key: str, style: str = "amount") -> str:
        value = self.numbers[key]
        if isinstance(value, str):
            text = value
        elif style == "count":
            text = str(int(value))
        elif style == "share":
            text = f"{float(value) * 100:.0f}%"
        elif style == "change":
            text = f"{float(value) * 100:+.0f}%"
        elif style == "level":
            text = f"{int(value)}%"
        elif style == "score":
            text = _amount(float(value))
        elif self.kind == "rate":
            text = f"{abs(float(value)) if style == 'magnitude' else float(value):.2%}"
        else:
            text = _amount(abs(float(value)) if style == "magnitude" else float(value))
        self.shown[key] = text
        return text


def _amount(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _level_sentence(w: _Writer, model: str, word: str, unit: str) -> str:
    what = "a defect rate of about" if w.kind == "rate" else "about"
    per = "" if w.kind == "rate" else f" {unit} per {word}"
    trend = "" if w.has("peak_1") else ", flat"
    if w.has("trend_per_period"):
        direction = "rising" if float(w.numbers["trend_per_period"]) > 0 else "falling"
        trend = f", {direction} by {w('trend_per_period', 'magnitude')} per {word}"
    return (
        f"{model} forecasts {what} {w('level')}{per} over the next {w('horizon', 'count')} "
        f"{word}s{trend}, against {w('recent_level')} on average over the last "
        f"{w('recent_periods', 'count')} {word}s."
    )


def _season_sentence(w: _Writer) -> str:
    peaks = [w(key) for key in ("peak_1", "peak_2", "peak_3") if w.has(key)]
    if not peaks:
        return "The model sees no seasonal swing."
    listed = peaks[0] if len(peaks) == 1 else ", ".join(peaks[:-1]) + " and " + peaks[-1]
    return f"It peaks in {listed} (up to {w('peak_value')})."


def _zero_sentence(w: _Writer, word: str, kind: SeriesKind) -> str:
    share = float(w.numbers["zero_share"])
    if share == 0:
        return ""
    if share == 1:
        return f"No past {word} had {'a defect' if kind == 'rate' else 'demand'}."
    what = "no defect" if kind == "rate" else "no demand"
    intermittent = share >= INTERMITTENT_SHARE
    tail = ", so demand is intermittent" if intermittent and kind == "count" else ""
    return f"{w('zero_share', 'share')} of past {word}s had {what}{tail}."


def _change_sentence(w: _Writer, model: str, word: str) -> str:
    if not w.has("previous_model"):
        return ""
    if w.has("change_share"):
        text = (
            f"That is {w('change_share', 'change')} against the previous forecast "
            f"({w('previous_level')} before, {w('new_level')} now, on average over the "
            f"{w('overlap_periods', 'count')} {word}s both cover)"
        )
    elif w.has("new_level"):
        text = (
            f"The previous forecast expected nothing over the {w('overlap_periods', 'count')} "
            f"{word}s both cover; this one expects {w('new_level')} on average"
        )
    else:
        text = f"The previous forecast covered other {word}s"
    if w.numbers["previous_model"] != model:
        text += f"; the model changed from {w('previous_model')} to {model}"
    if w.has("previous_engine_version"):
        text += (
            f"; the forecasting engine changed from version {w('previous_engine_version')} "
            f"to {w('engine_version')}"
        )
    return text + "."


def _accuracy_sentence(w: _Writer, forecast: SeriesForecast, word: str, unit: str) -> str:
    if forecast.naive:
        return "Too little history to backtest: this is a naive forecast, not a tested one."
    sentence = ""
    if forecast.backtest is not None:
        per = "" if w.kind == "rate" else f" {unit} per {word}"
        count = w.numbers["candidates"]
        chosen = (
            f"Chosen by a backtest of {w('candidates', 'count')} models"
            if count != 1
            else "Backtested"
        )
        sentence = (
            f"{chosen} over "
            f"{w('windows', 'count')} {_plural('window', w.numbers['windows'])} of "
            f"{w('horizon', 'count')} {word}s: typical error "
            f"{w('backtest_mae')}{per} (RMSSE {w('backtest_rmsse', 'score')})"
        )
        if w.has("backtest_coverage"):
            sentence += (
                f"; the {w('interval_level', 'level')} interval held "
                f"{w('backtest_coverage', 'share')} of backtest outcomes"
            )
        sentence += "."
    if w.has("fallback_reason"):
        sentence += f" The requested model failed ({w('fallback_reason')}); this is a fallback."
    return sentence.strip()


def _plural(word: str, count: Number) -> str:
    return word if count == 1 else word + "s"


def _label(start: pd.Timestamp, period: Period) -> str:
    if period == "daily":
        return str(start.strftime("%a %d %b %Y"))
    if period == "weekly":
        return "the week of " + str(start.strftime("%d %b %Y"))
    if period == "monthly":
        return str(start.strftime("%b %Y"))
    return f"Q{start.quarter} {start.year}"
