"""Training curves from a run's metrics.jsonl: loss, the headline scores and the learning
rate at a glance, each metric family (f1, f1_PER, f1_LOC…) in one panel, splits overlaid."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from numbers import Real
from pathlib import Path
from typing import Any

from dllab.viz.figure import message_figure, new_figure, save_figure

__all__ = ["Panel", "collect_series", "group_metrics", "plot_curves"]

_AXIS_KEYS = ("step", "epoch", "time")  # bookkeeping in metrics.jsonl, not metrics
_SPLIT_COLORS = {"train": "C0", "val": "C1", "test": "C2"}  # same colour per split everywhere
_SPLIT_STYLES = {"val": "-", "train": "--", "test": ":"}  # where colour already names a metric
_METRIC_COLORS = ("C2", "C4", "C5", "C6", "C8", "C9", "C7", "C3")  # none is a split's colour
_MAX_PANELS = 6  # loss, headline, lr and three more: readable at a glance, in two rows
_NCOLS = 3
_FIRST = ("f1", "accuracy")  # families a reader looks for first when a task logs several
_TITLE_CHARS = 40  # longer panel titles are cut with "…"; the legend names every line

Series = dict[str, dict[str, tuple[list[float], list[float]]]]  # metric -> split -> (xs, ys)


@dataclass(frozen=True)
class Panel:
    """One subplot: its title, the metrics drawn in it and their y-axis label.

    In a family panel (`family="f1"`, metrics `f1, f1_PER, f1_LOC`) the overall metric is
    drawn thick and black, and each other line is labelled by its suffix (PER, LOC).
    """

    title: str
    metrics: tuple[str, ...]  # one line per metric and split
    ylabel: str
    family: str = ""  # the overall metric of a family panel, "" elsewhere


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


def group_metrics(names: Iterable[str], fractions: Collection[str] = ()) -> list[Panel]:
    """Arrange metric names into at most `_MAX_PANELS` panels, in reading order.

    - "loss" first and "lr" last, each in its own panel;
    - a name "<base>_<type>" whose <base> is logged too joins <base>'s family panel
      (f1_PER, f1_LOC with f1; mae_arima with mae; perplexity_unigram with perplexity);
    - the other names in `fractions` (those whose values all lie in [0, 1]: accuracy, f1,
      precision…) share the second panel, since they share an axis; any other metric
      (bleu, perplexity, mae) gets a panel of its own, or its family's panel;
    - families of the shared scores come next, f1 and accuracy first. Past the limit, the
      last of these are left out (the caller names them).

    >>> [p.title for p in group_metrics(["loss", "lr", "accuracy", "f1"], {"accuracy", "f1"})]
    ['loss', 'accuracy / f1', 'learning rate']
    """
    names = list(dict.fromkeys(names))  # unique, in order of appearance
    logged = set(names)
    families: dict[str, list[str]] = {}
    bases: list[str] = []
    for name in names:
        base = next((name[:i] for i, c in enumerate(name) if c == "_" and name[:i] in logged), "")
        if base:
            families.setdefault(base, []).append(name)
        else:
            bases.append(name)

    def panel(name: str, title: str | None = None, ylabel: str | None = None) -> Panel:
        members = families.get(name, [])
        if not members:
            return Panel(title or name, (name,), ylabel or name)
        suffixes = ", ".join(m.removeprefix(name + "_") for m in members)
        return Panel(_short(f"{name}: {suffixes}"), (name, *members), ylabel or name, name)

    scores = [n for n in bases if n in fractions and n not in ("loss", "lr")]
    others = [panel(n) for n in bases if n not in scores and n not in ("loss", "lr")]
    score_families = [panel(n) for n in sorted(scores, key=_first_key) if n in families]
    top = [panel("loss")] if "loss" in logged else []
    if len(scores) == 1:  # one score: its own panel, or its family's, comes second
        top.append(panel(scores[0]))
        score_families = []
    elif scores:
        top.append(Panel(_short(" / ".join(scores), "scores"), tuple(scores), "score"))
    end = [panel("lr", "learning rate", "learning rate")] if "lr" in logged else []
    middle = (others + score_families)[: max(_MAX_PANELS - len(top) - len(end), 0)]
    return top + middle + end


def plot_curves(records: list[dict[str, Any]], path: Path, title: str = "Training curves") -> Path:
    """Plot the metrics in `records` against epoch, grouped by `group_metrics`; save to `path`.

    `records` are the parsed lines of metrics.jsonl, e.g.
    `{"step": 50, "epoch": 0.4, "train/loss": 0.61, "lr": 0.003}`. A panel of one metric
    has one line per split (train blue, val orange); a panel of several has one colour per
    metric and one line style per split (val solid, train dashed). A series of one point is
    drawn as a marker; the lr panel is log-scaled when it spans more than a decade. Metrics
    left out for want of room are named under the panels. With nothing to plot, the figure
    says so. Returns `path`.

    >>> plot_curves(records, Path("runs/demo/curves.png"))  # doctest: +SKIP
    """
    series = collect_series(records)
    if not series:
        return save_figure(message_figure("No metrics to plot yet", title), path)

    fractions = {name for name, splits in series.items() if _within_unit(splits)}
    panels = group_metrics(series, fractions)
    ncols = min(len(panels), _NCOLS)
    nrows = math.ceil(len(panels) / ncols)
    height = 3.4 * nrows + 0.5
    fig = new_figure(4.6 * ncols, height)
    # Pinned 0.05 in below the top edge: tight_layout reserves the title's height plus a pad
    # under the edge, not matplotlib's default 2 % gap above the title, which on a tall
    # figure pushed the title into the first row of panels.
    fig.suptitle(title, fontsize=14, y=1 - 0.05 / height, va="top")
    for i, p in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        _draw_panel(ax, p, series)
    drawn = {m for p in panels for m in p.metrics}
    left_out = [name for name in series if name not in drawn]
    if left_out:
        fig.supxlabel(_short("not drawn: " + ", ".join(left_out), limit=160), fontsize=9)
    return save_figure(fig, path)


def _draw_panel(ax: Any, panel: Panel, series: Series) -> None:
    lines = [(m, split, xy) for m in panel.metrics for split, xy in series[m].items()]
    several_splits = len({split for _, split, _ in lines}) > 1
    members = [m for m in panel.metrics if m != panel.family]
    colours = {m: _METRIC_COLORS[i % len(_METRIC_COLORS)] for i, m in enumerate(members)}
    for metric, split, (xs, ys) in lines:
        style: dict[str, Any] = {"marker": "o" if len(xs) == 1 else None}
        if len(panel.metrics) == 1:
            style.update(label=split or metric, color=_SPLIT_COLORS.get(split, "C3"))
        else:
            label = metric.removeprefix(panel.family + "_") if panel.family else metric
            style.update(
                label=f"{label} ({split})" if several_splits and split else label,
                color="black" if metric == panel.family else colours[metric],
                linewidth=2.2 if metric == panel.family else 1.4,
                linestyle=_SPLIT_STYLES.get(split, "-"),
            )
        ax.plot(xs, ys, **style)
    if panel.metrics == ("lr",) and _spans_decades(series["lr"]):
        ax.set_yscale("log")
    ax.set_title(panel.title)
    ax.set_xlabel("epoch")
    ax.set_ylabel(panel.ylabel)
    ax.grid(alpha=0.3)
    if len(lines) > 1 or any(split for _, split, _ in lines):  # lr alone needs no legend
        ax.legend(fontsize=8)


def _first_key(name: str) -> int:
    return _FIRST.index(name) if name in _FIRST else len(_FIRST)


def _short(text: str, fallback: str = "", limit: int = _TITLE_CHARS) -> str:
    if len(text) <= limit:
        return text
    return fallback or text[: limit - 1] + "…"


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _finite(splits: dict[str, tuple[list[float], list[float]]]) -> list[float]:
    return [y for _, ys in splits.values() for y in ys if math.isfinite(y)]


def _within_unit(splits: dict[str, tuple[list[float], list[float]]]) -> bool:
    values = _finite(splits)
    return bool(values) and min(values) >= 0 and max(values) <= 1


def _spans_decades(splits: dict[str, tuple[list[float], list[float]]]) -> bool:
    values = _finite(splits)
    return bool(values) and min(values) > 0 and max(values) / min(values) > 10
