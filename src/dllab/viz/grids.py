"""Grids of image tiles titled with predictions: a sample of them, or the worst mistakes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from dllab.viz.figure import message_figure, new_figure, save_figure

__all__ = ["plot_prediction_grid", "plot_worst_mistakes", "worst_mistake_indices"]

_RIGHT, _WRONG = "tab:green", "tab:red"
_NAME_CHARS = 16  # longer class names are cut so neighbouring tile titles do not touch
_TITLE_CHARS = 22  # about what fits on one line over a tile at fontsize 8


def worst_mistake_indices(
    true: Sequence[int], pred: Sequence[int], confidence: Sequence[float], k: int
) -> list[int]:
    """Indices of the `k` wrong predictions (`pred != true`) with the highest confidence.

    Most confident first; ties keep their original order. Fewer than `k` when there are
    fewer mistakes, `[]` when there are none.

    >>> worst_mistake_indices([0, 1, 2, 0], [1, 1, 0, 2], [0.6, 0.99, 0.9, 0.7], k=2)
    [2, 3]
    """
    true_, pred_, conf = np.asarray(true), np.asarray(pred), np.asarray(confidence, dtype=float)
    if not len(true_) == len(pred_) == len(conf):
        raise ValueError(
            f"true, pred and confidence must have one entry per image, "
            f"got lengths {len(true_)}, {len(pred_)} and {len(conf)}"
        )
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    wrong = np.flatnonzero(true_ != pred_)
    order = np.argsort(-conf[wrong], kind="stable")
    return wrong[order][:k].tolist()


def plot_prediction_grid(
    images: np.ndarray | torch.Tensor,
    true: Sequence[int],
    pred: Sequence[int],
    classes: list[str],
    path: Path,
    ncols: int = 8,
    title: str = "Predictions",
) -> Path:
    """Draw every image as a tile titled "pred (true)", green when right, red when wrong.

    `images` are uint8 (N, C, H, W) with C = 1 (grey) or 3 (RGB); `true` and `pred` hold N
    class indices into `classes`. All N images are drawn in rows of `ncols`, so pass a slice
    (16-64 images reads well). Returns `path`.

    >>> plot_prediction_grid(x[:32], y[:32], p[:32], classes, Path("grid.png"))  # doctest: +SKIP
    """
    tiles = _as_tiles(images)
    _check_labels(len(tiles), classes, true=true, pred=pred)
    if len(tiles) == 0:
        return save_figure(message_figure("No images to show", title), path)
    titles = [
        _pred_true(_name(classes, p), _name(classes, t)) for t, p in zip(true, pred, strict=True)
    ]
    colors = [_RIGHT if t == p else _WRONG for t, p in zip(true, pred, strict=True)]
    return save_figure(_tile_figure(tiles, titles, colors, ncols, title), path)


def plot_worst_mistakes(
    images: np.ndarray | torch.Tensor,
    true: Sequence[int],
    pred: Sequence[int],
    confidence: Sequence[float],
    classes: list[str],
    path: Path,
    k: int = 16,
    title: str = "Most confident mistakes",
) -> Path:
    """Draw the `k` wrong predictions made with the highest confidence, most confident first.

    Inputs are as for `plot_prediction_grid`, plus `confidence`: the probability the model
    gave its predicted class, one per image. Each tile is titled with the predicted class
    and its probability over the true class ("cat p=0.97 / true dog", on two lines so the
    tiles stay narrow). With no mistakes the figure says so. Returns `path`.

    >>> plot_worst_mistakes(x, y, p, conf, classes, Path("mistakes.png"))  # doctest: +SKIP
    """
    tiles = _as_tiles(images)
    _check_labels(len(tiles), classes, true=true, pred=pred)
    chosen = worst_mistake_indices(true, pred, confidence, k)
    if not chosen:
        text = f"No mistakes: all {len(tiles)} predictions are correct"
        return save_figure(message_figure(text, title), path)
    titles = [
        f"{_name(classes, pred[i])} p={float(confidence[i]):.2f}\ntrue {_name(classes, true[i])}"
        for i in chosen
    ]
    figure = _tile_figure(tiles[chosen], titles, [_WRONG] * len(chosen), 8, title)
    return save_figure(figure, path)


def _as_tiles(images: np.ndarray | torch.Tensor) -> np.ndarray:
    """uint8 (N, C, H, W) tensor or array -> uint8 array (N, H, W, C) ready for imshow."""
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] not in (1, 3) or images.dtype != np.uint8:
        raise ValueError(
            f"images must be uint8 (N, C, H, W) with C = 1 or 3, got {images.dtype} with shape "
            f"{tuple(images.shape)}; convert floats in 0..1 with (x * 255).round() to uint8"
        )
    return images.transpose(0, 2, 3, 1)  # (N, H, W, C)


def _check_labels(n: int, classes: list[str], **labels: Sequence[int]) -> None:
    for name, values in labels.items():
        if len(values) != n:
            raise ValueError(f"{name} has {len(values)} labels but there are {n} images")
        bad = [int(v) for v in values if not 0 <= int(v) < len(classes)]
        if bad:
            raise ValueError(
                f"{name} holds class index {bad[0]} but there are only {len(classes)} classes"
            )


def _name(classes: list[str], index: int) -> str:
    name = classes[int(index)]
    return name if len(name) <= _NAME_CHARS else name[: _NAME_CHARS - 1] + "…"


def _pred_true(pred: str, true: str) -> str:
    """Tile title "pred (true)", on two lines when one would run into the neighbouring tile."""
    return f"{pred} ({true})" if len(pred) + len(true) <= _TITLE_CHARS else f"{pred}\n({true})"


def _tile_figure(
    tiles: np.ndarray, titles: list[str], colors: list[str], ncols: int, title: str
) -> Figure:
    """One figure with each (H, W, C) tile in a grid of `ncols`, titled in its colour."""
    ncols = max(1, min(ncols, len(tiles)))
    nrows = math.ceil(len(tiles) / ncols)
    lines = max(t.count("\n") + 1 for t in titles)
    height, width = tiles.shape[1:3]
    row_height = 1.85 * min(height / width, 2.0) + 0.2 * lines  # inches; tiles are 1.9 wide
    fig = new_figure(1.9 * ncols, row_height * nrows + 0.5)
    fig.suptitle(title, fontsize=14)
    for i, (tile, text, color) in enumerate(zip(tiles, titles, colors, strict=True)):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        if tile.shape[-1] == 1:
            ax.imshow(tile[..., 0], cmap="gray", vmin=0, vmax=255)
        else:
            ax.imshow(tile)
        ax.set_title(text, color=color, fontsize=8)
        ax.set_axis_off()
    return fig
