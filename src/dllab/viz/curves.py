"""Training curves from a run's metrics.jsonl: one panel per metric, splits overlaid."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from numbers import Real
from pathlib import Path
from typing import Any

from dllab.viz.figure import message_figure, new_figure, save_figure

__all__ = ["collect_series", "plot_curves"]

_AXIS_KEYS = ("step", "epoch", "time")  # bookkeeping in metrics.jsonl, not metrics
_SPLIT_COLORS = {"train": "C0", "val": "C1", "test": "C2"}  # same colour per split everywhere
_NCOLS = 3

Series = dict[str, dict[str, tuple[list[float], list[float]]]]  # metric -> split -> (xs, ys)


def collect_series(records: Iterable[Mapping[str, Any]]) -> Series:
    """Group metric records into `{metric: {split: (epochs, values)}}`, in order of appearance.

    A key "val/accuracy" is metric "accuracy" of split "val"; a key without a split ("lr")
    has split "". A record without an "epoch", or a value that is not a real number, adds
    no point; metrics a record does not carry are simply skipped.

    >>> collect_series([{"step": 1, "epoch": 0.5, "train/loss": 0.9, "lr": 0.1}])
    {'loss': {'train': ([0.5], [0.9])}, 'lr': {'': ([0.5], [0.1])}}
    """
    series: Series = {}
    for record in records:
        epoch = record.get("epoch")
        if not _is_number(epoch):
            continue
        for key, value in record.items():
            if key in _AXIS_KEYS or not _is_number(value):
                continue
            split, _, name = key.rpartition("/")
            xs, ys = series.setdefault(name, {}).setdefault(split, ([], []))
            xs.append(float(epoch))
            ys.append(float(value))
    return series


def plot_curves(records: list[dict[str, Any]], path: Path, title: str = "Training curves") -> Path:
    """Plot every metric in `records` against epoch and save the figure to `path`.

    `records` are the parsed lines of metrics.jsonl, e.g.
    `{"step": 50, "epoch": 0.4, "train/loss": 0.61, "lr": 0.003}`. Each metric name gets a
    panel (loss first, lr last, the rest in order of appearance) with one line per split;
    a series of one point is drawn as a marker, and the lr panel is log-scaled when it spans
    more than a decade. With nothing to plot, the figure says so. Returns `path`.

    >>> plot_curves(records, Path("runs/demo/curves.png"))  # doctest: +SKIP
    """
    series = collect_series(records)
    if not series:
        return save_figure(message_figure("No metrics to plot yet", title), path)

    names = sorted(series, key=lambda n: (n != "loss", n == "lr"))  # stable: keeps the rest
    ncols = min(len(names), _NCOLS)
    nrows = math.ceil(len(names) / ncols)
    fig = new_figure(4.6 * ncols, 3.4 * nrows + 0.4)
    fig.suptitle(title, fontsize=14)
    for i, name in enumerate(names):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        for n_split, (split, (xs, ys)) in enumerate(series[name].items()):
            ax.plot(
                xs,
                ys,
                label=split or name,
                color=_SPLIT_COLORS.get(split, f"C{3 + n_split}"),
                marker="o" if len(xs) == 1 else None,
            )
        if name == "lr" and _spans_decades(series[name]):
            ax.set_yscale("log")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        if any(series[name]):  # a legend only where lines carry a split name
            ax.legend(fontsize=9)
    return save_figure(fig, path)


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _spans_decades(splits: dict[str, tuple[list[float], list[float]]]) -> bool:
    values = [y for _, ys in splits.values() for y in ys if math.isfinite(y)]
    return bool(values) and min(values) > 0 and max(values) / min(values) > 10
