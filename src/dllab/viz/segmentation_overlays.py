"""Pictures of segmentation results: colour overlays of prediction and truth, the wrong pixels,
and per-class IoU bars (driving scenes, Cityscapes, CamVid; `tasks/segmentation.py`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dllab.data.driving_scenes import IGNORE  # pixels no class covers: never coloured or wrong

__all__ = ["errors", "overlay", "plot_iou_bars", "plot_overlays"]


def plot_overlays(
    images: list[np.ndarray],
    truth: list[np.ndarray],
    preds: dict[str, list[np.ndarray]],
    colors: np.ndarray,
    classes: list[str],
    path: Path,
    title: str,
    notes: list[str] | None = None,
) -> Path:
    """One row per image: the image, its truth and each prediction as colour overlays, then
    where the last prediction is wrong (red on the grey image; ignored pixels never count),
    and a legend of the class colours below."""
    from matplotlib.patches import Patch

    from dllab.viz.figure import new_figure, save_figure

    cols = 3 + len(preds)
    h, w = images[0].shape[:2] if images else (1, 2)
    side = 3.0  # inches per panel's width
    fig = new_figure(side * cols, side * h / w * len(images) * 1.15 + 0.9)
    grid = fig.add_gridspec(len(images) + 1, cols, height_ratios=[1] * len(images) + [0.3])
    for r, image in enumerate(images):
        last = list(preds.values())[-1][r]
        panels = {"image": image, "truth": overlay(image, truth[r], colors)}
        panels |= {name: overlay(image, p[r], colors) for name, p in preds.items()}
        panels["errors"] = errors(image, last, truth[r])
        for c, (name, picture) in enumerate(panels.items()):
            ax = fig.add_subplot(grid[r, c])
            ax.imshow(picture)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name if name != "errors" else f"errors ({list(preds)[-1]})")
            if c == 0 and notes:
                ax.set_ylabel(notes[r], fontsize=8)
    legend = fig.add_subplot(grid[-1, :])
    legend.set_axis_off()
    handles = [
        Patch(facecolor=colors[i] / 255, edgecolor="black", label=n) for i, n in enumerate(classes)
    ]
    legend.legend(
        handles=handles, loc="center", ncol=min(len(classes), 7), fontsize=9, frameon=False
    )
    fig.suptitle(title)
    return save_figure(fig, path)


def overlay(image: np.ndarray, labels: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """`image` (H, W, 3) uint8 blended with the colour of each pixel's class (60 % colour);
    ignored pixels show the image."""
    out = image.astype(np.float32)
    known = labels != IGNORE
    out[known] = 0.4 * out[known] + 0.6 * colors[labels[known]]
    return out.round().astype(np.uint8)


def errors(image: np.ndarray, pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The image in faded grey with its wrongly labelled pixels in red."""
    grey = image.astype(np.float32).mean(-1, keepdims=True) * 0.5 + 64
    out = np.repeat(grey, 3, axis=-1).round().astype(np.uint8)
    out[(pred != truth) & (truth != IGNORE)] = (230, 20, 20)
    return out


def plot_iou_bars(rows: dict[str, torch.Tensor], classes: list[str], path: Path) -> Path:
    """Bars of each class's IoU, one per test split (clear, shifted, shifted after AdaBN)."""
    from dllab.viz.figure import new_figure, save_figure

    names = {"test": "clear test", "shifted": "shifted", "shifted_adabn": "shifted + AdaBN"}
    fig = new_figure(max(6.0, 0.75 * len(classes) + 1.5), 4.2)
    ax = fig.add_subplot()
    width = 0.8 / len(rows)
    x = np.arange(len(classes))
    for i, (name, iou) in enumerate(rows.items()):
        miou = float(iou.nanmean())
        label = f"{names.get(name, name)} (mIoU {miou:.3f})"
        ax.bar(x + i * width, np.nan_to_num(iou.numpy(), nan=0.0), width, label=label)
    ax.set_xticks(x + width * (len(rows) - 1) / 2)
    ax.set_xticklabels(classes, rotation=30, ha="right", rotation_mode="anchor")
    ax.set_ylim(0, 1.18)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("IoU")
    ax.set_title("IoU per class on the test splits")
    ax.legend(loc="upper center", ncol=len(rows), fontsize=8, frameon=False)
    return save_figure(fig, path)
