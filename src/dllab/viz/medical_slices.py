"""Pictures of 3D label maps: axial, coronal and sagittal slices with classes overlaid, and
Dice per class.

The medical-segmentation report (truth beside prediction for the best and worst test volume)
and `dllab predict` on a NIfTI scan (the prediction alone) draw the same slices. Arrays are
(X, Y, Z) in RAS order; each view puts its first named axis to the right and its second up,
and says which in its title.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["COLOURS", "plot_dice_bars", "plot_slices"]

# Class colours, background transparent; classes past the list reuse it in order.
COLOURS = ["#00000000", "#ff1744", "#00e676", "#2979ff", "#ffea00", "#d500f9", "#00e5ff"]


def _colour(k: int) -> str:
    return COLOURS[(k - 1) % (len(COLOURS) - 1) + 1] if k else COLOURS[0]


def _overlay(ax: Any, image: np.ndarray, label: np.ndarray, classes: int, title: str) -> None:
    from matplotlib.colors import ListedColormap

    ax.imshow(image.T, cmap="gray", origin="lower")
    shown = np.ma.masked_where(label.T == 0, label.T)
    cmap = ListedColormap([_colour(k) for k in range(classes)])
    ax.imshow(shown, cmap=cmap, vmin=0, vmax=classes - 1, alpha=0.5,
              origin="lower", interpolation="nearest")  # fmt: skip
    ax.set_title(title, fontsize=8)
    ax.set_xticks([]), ax.set_yticks([])


def plot_slices(
    image: np.ndarray,
    overlays: dict[str, np.ndarray],
    classes: list[str],
    path: Path,
    title: str,
) -> Path:
    """Axial, coronal and sagittal slices (rows) through the centre of the first overlay's
    foreground (the volume's centre if it has none): the image, then each label map of
    `overlays` (e.g. truth, prediction) over it (columns). `image` and every label map are
    (X, Y, Z) arrays in RAS; label values index `classes` (0: background, not drawn)."""
    from matplotlib.patches import Patch

    from dllab.viz.figure import new_figure, save_figure

    first = next(iter(overlays.values()))
    fg = np.argwhere(first > 0)
    cx, cy, cz = (fg.mean(0) if len(fg) else np.array(first.shape) / 2).astype(int)
    views = {  # RAS arrays shown with the first named axis to the right, the second up
        f"axial z={cz} (x, y)": np.s_[:, :, cz],
        f"coronal y={cy} (x, z)": np.s_[:, cy, :],
        f"sagittal x={cx} (y, z)": np.s_[cx, :, :],
    }
    cols = 1 + len(overlays)
    fig = new_figure(2.5 * cols, 8.4)
    for row, (name, s) in enumerate(views.items()):
        ax = fig.add_subplot(3, cols, row * cols + 1)
        ax.imshow(image[s].T, cmap="gray", origin="lower")
        ax.set_title(f"{name}: image", fontsize=8)
        ax.set_xticks([]), ax.set_yticks([])
        for col, (what, labels) in enumerate(overlays.items(), start=2):
            ax = fig.add_subplot(3, cols, row * cols + col)
            _overlay(ax, image[s], labels[s], len(classes), f"{name}: {what}")
            if row == 0 and col == cols:
                handles = [Patch(color=_colour(k), label=n) for k, n in enumerate(classes) if k]
                ax.legend(handles=handles, loc="upper right", fontsize=6, framealpha=0.6)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def plot_dice_bars(dice: np.ndarray, names: list[str], path: Path) -> Path:
    """Mean Dice per foreground class (bars) with each test volume's Dice (dots); `dice` is
    (volumes, classes) with NaN where a volume lacks the class."""
    from dllab.viz.figure import new_figure, save_figure

    fig = new_figure(max(4.0, 1.2 * len(names) + 2), 4)
    ax = fig.add_subplot()
    for k in range(len(names)):
        v = dice[:, k][~np.isnan(dice[:, k])]
        ax.bar(k, v.mean() if len(v) else 0.0, color=_colour(k + 1), alpha=0.7)
        ax.plot(np.full(len(v), k) + np.linspace(-0.2, 0.2, len(v)), v, "k.", ms=4)
        if len(v):
            ax.text(k, 1.03, f"mean {v.mean():.3f}", ha="center", fontsize=8)
    ax.set(xticks=range(len(names)), ylim=(0, 1.1), ylabel="Dice", xlabel="class")
    ax.set_title("Test Dice per class (bars: mean; dots: volumes)")
    ax.set_xticklabels(names)
    return save_figure(fig, path)
