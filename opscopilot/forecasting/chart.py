"""PNG chart of a forecast: history, forecast line, 80 % and 95 % bands (Slack posts it).

matplotlib is imported lazily with the Agg backend, and the figure is built through the
object API (no pyplot global state), so charts can be rendered from worker threads.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np
import pandas as pd

# Lighter for the wider band, so the likelier range stands out.
_BAND_ALPHA = {95: 0.15, 80: 0.3}
_HISTORY_COLOR = "#333333"
_FORECAST_COLOR = "#1f6fb4"


def forecast_png(
    *,
    history_ds: pd.DatetimeIndex,
    history_y: np.ndarray,
    forecast_ds: pd.DatetimeIndex,
    mean: np.ndarray,
    lower: Mapping[int, np.ndarray],
    upper: Mapping[int, np.ndarray],
    title: str,
    ylabel: str = "units",
    width_px: int = 1000,
    height_px: int = 500,
) -> bytes:
    """Render the chart and return PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 100
    figure = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    axes.plot(history_ds, history_y, color=_HISTORY_COLOR, linewidth=1.4, label="history")
    for level in sorted(lower, reverse=True):
        axes.fill_between(
            forecast_ds,
            lower[level],
            upper[level],
            color=_FORECAST_COLOR,
            alpha=_BAND_ALPHA.get(level, 0.2),
            linewidth=0,
            label=f"{level}% interval",
        )
    # Join the forecast to the last actual so the eye follows one line.
    if len(history_ds):
        joined_x = pd.DatetimeIndex([history_ds[-1], *forecast_ds])
        joined_y = np.concatenate([[history_y[-1]], mean])
    else:
        joined_x, joined_y = pd.DatetimeIndex(forecast_ds), np.asarray(mean)
    axes.plot(joined_x, joined_y, color=_FORECAST_COLOR, linewidth=2.2, label="forecast")
    if len(history_ds):
        axes.axvline(history_ds[-1], color="#999999", linewidth=0.8, linestyle="--")
    axes.set_title(title, fontsize=14, loc="left")
    axes.set_ylabel(ylabel)
    axes.set_ylim(bottom=min(0.0, float(np.nanmin(history_y)) if len(history_y) else 0.0))
    axes.grid(axis="y", alpha=0.3)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.legend(loc="upper left", frameon=False, ncols=4)
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
