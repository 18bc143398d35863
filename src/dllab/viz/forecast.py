"""Forecast plot: the whole series with its time-ordered splits, and multi-step forecasts from
several origins of the test part drawn over the truth, one colour per forecaster."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from dllab.viz.figure import new_figure, save_figure

__all__ = ["plot_forecast"]

_SPLIT_SHADES = (("train", "C0"), ("validation", "C1"), ("test", "C2"))


def plot_forecast(
    times: np.ndarray,
    values: np.ndarray,
    *,
    train_end: int,
    val_end: int,
    origins: np.ndarray,
    forecasts: Mapping[str, np.ndarray],
    path: Path,
    title: str = "Forecasts on the test part",
    ylabel: str = "value",
    xlabel: str = "year",
) -> Path:
    """Draw two panels and save them to `path`; returns `path`.

    Top: `values (T,)` against `times (T,)`, the train `[0, train_end)`, validation
    `[train_end, val_end)` and test `[val_end, T)` parts shaded. Bottom: the test part's
    truth, and for every `horizon`-th origin of `origins (W,)` (non-overlapping forecasts) the
    path each forecaster in `forecasts` (`name -> (W, horizon)`, same units as `values`)
    predicted from it. The first forecaster is drawn thickest: it is the model under study.

    >>> plot_forecast(t, y, train_end=200, val_end=240, origins=o,
    ...               forecasts={"lstm": f}, path=Path("forecast.png"))  # doctest: +SKIP
    """
    fig = new_figure(11, 7.5)
    fig.suptitle(title, fontsize=14)
    top = fig.add_subplot(2, 1, 1)
    bounds = (0, train_end, val_end, len(values))
    for (name, color), lo, hi in zip(_SPLIT_SHADES, bounds[:-1], bounds[1:], strict=True):
        if hi > lo:
            top.plot(times[lo:hi], values[lo:hi], color=color, label=f"{name} ({hi - lo} steps)")
    for edge in (train_end, val_end):
        if 0 < edge < len(values):
            top.axvline(times[edge], color="grey", linestyle=":", linewidth=1)
    top.set_title("The series, split in time order")
    top.set_xlabel(xlabel)
    top.set_ylabel(ylabel)
    top.grid(alpha=0.3)
    top.legend(fontsize=9)

    bottom = fig.add_subplot(2, 1, 2)
    lo = max(int(origins[0]) - 1, 0) if len(origins) else val_end
    bottom.plot(times[lo:], values[lo:], color="black", linewidth=1.6, label="truth")
    horizon = next(iter(forecasts.values())).shape[1] if forecasts else 1
    shown = np.arange(0, len(origins), horizon)  # every horizon-th origin: paths do not overlap
    for k, (name, paths) in enumerate(forecasts.items()):
        for j, i in enumerate(shown):
            t = int(origins[i])
            bottom.plot(
                times[t : t + horizon],
                paths[i],
                color=f"C{3 + k}",
                linewidth=2.2 if k == 0 else 1.2,
                linestyle="-" if k == 0 else "--",
                label=name if j == 0 else None,
            )
    for i in shown:
        bottom.axvline(times[int(origins[i])], color="grey", linestyle=":", linewidth=0.6)
    bottom.set_title(f"Test part: {horizon}-step forecasts from every {horizon}th origin (dotted)")
    bottom.set_xlabel(xlabel)
    bottom.set_ylabel(ylabel)
    bottom.grid(alpha=0.3)
    bottom.legend(fontsize=9)
    return save_figure(fig, path)
