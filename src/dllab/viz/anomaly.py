"""Pictures of an anomaly detector: heat maps over the parts, and where the scores fall.

`plot_anomaly_overlays` shows, per part, the image with its true defect outlined, then the
same image under the heat map (one colour scale for every row, so a pale map really is a low
score). `plot_score_histogram` shows the image scores of good and defective parts with the
decision threshold, which is what a line engineer tunes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dllab.viz.figure import message_figure, new_figure, save_figure

__all__ = ["plot_anomaly_overlays", "plot_score_histogram"]


def plot_anomaly_overlays(
    images: np.ndarray,
    maps: np.ndarray,
    masks: np.ndarray,
    titles: list[str],
    path: Path,
    *,
    vmax: float | None = None,
    title: str = "Hardest test parts: true defect outlined (left), heat map with it (right)",
    map_name: str = "anomaly score",
) -> Path:
    """Two tiles per part: `images` (N, H, W, 3) uint8 with the outline of `masks` (N, H, W)
    in green, and the image under `maps` (N, H, W) as a heat map scaled 0..`vmax` (default:
    the largest value shown; `map_name` labels it). Returns `path`."""
    if len(images) == 0:
        return save_figure(message_figure("No parts to show", title), path)
    vmax = float(maps.max()) if vmax is None else vmax
    n = len(images)
    fig = new_figure(5.0, 2.6 * n + 0.6)
    # room at the top for the figure title, and between rows for two-line tile titles
    fig.subplots_adjust(top=1 - 0.6 / (2.6 * n + 0.6), bottom=0.01, hspace=0.35)
    for i in range(n):
        left = fig.add_subplot(n, 2, 2 * i + 1)
        left.imshow(images[i])
        if masks[i].any():
            left.contour(masks[i].astype(float), levels=[0.5], colors="lime", linewidths=0.8)
        left.set_title(titles[i], fontsize=7)
        right = fig.add_subplot(n, 2, 2 * i + 2)
        right.imshow(images[i])
        im = right.imshow(maps[i], cmap="jet", alpha=0.45, vmin=0.0, vmax=vmax)
        if masks[i].any():  # the true defect again, so a map's miss is seen at a glance
            right.contour(masks[i].astype(float), levels=[0.5], colors="white", linewidths=0.6)
        right.set_title(map_name, fontsize=7)
        fig.colorbar(im, ax=right, fraction=0.046, pad=0.02)
        for ax in (left, right):
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(title, fontsize=9, y=1 - 0.15 / (2.6 * n + 0.6), va="top")
    return save_figure(fig, path)


def plot_score_histogram(
    scores: np.ndarray,
    kinds: np.ndarray,
    names: list[str],
    threshold: float,
    path: Path,
    title: str = "Image scores of the test parts and the decision threshold",
    xlabel: str = "image score (max of the heat map)",
) -> Path:
    """Histogram of `scores` (N,) per kind (`kinds` index `names`, 0 = good), stacked, with
    `threshold` as a vertical line. Returns `path`."""
    fig = new_figure(6.5, 3.5)
    ax = fig.add_subplot()
    bins = np.linspace(float(scores.min()), float(scores.max()), 30)
    groups = [scores[kinds == i] for i in range(len(names))]
    present = [i for i, g in enumerate(groups) if len(g)]
    shown = [groups[i] for i in present]
    ax.hist(shown, bins=bins, stacked=True, label=[names[i] for i in present])
    ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.3g}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("parts")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    return save_figure(fig, path)
