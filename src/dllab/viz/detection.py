"""Detection figures for the report: precision-recall curves, boxes on images, worst misses.

Boxes are xyxy pixels; images uint8 (N, 3, H, W). Each function writes one PNG atomically
through `save_figure` and returns its path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.patches import Rectangle

from dllab.viz.figure import message_figure, new_figure, save_figure

__all__ = ["missed_objects", "plot_detections", "plot_pr_curves"]

_PRED, _TRUTH, _MISS = "#00e676", "#ffffff", "#ff1744"


def plot_pr_curves(
    recall: np.ndarray, precision: np.ndarray, classes: list[str], path: Path, title: str
) -> Path:
    """Precision against recall for every class with objects (thin) and their mean (thick).

    `recall` (R,) the recall points; `precision` (R, K), -1 where a class has no objects.
    """
    fig = new_figure(7, 5)
    ax = fig.add_subplot()
    valid = [k for k in range(precision.shape[1]) if (precision[:, k] >= 0).any()]
    if not valid:
        return save_figure(message_figure("No objects in the test split", title), path)
    for k in valid:
        ax.plot(recall, precision[:, k].clip(0), lw=0.8, alpha=0.6, label=classes[k])
    mean = precision[:, valid].clip(0).mean(1)
    ax.plot(recall, mean, color="black", lw=2.5, label="mean")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title=title)
    ax.legend(fontsize=6, ncol=2, loc="lower left")
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def _draw_boxes(ax, boxes: torch.Tensor, color: str, texts: Sequence[str], dashed: bool) -> None:
    for (x1, y1, x2, y2), text in zip(boxes.tolist(), texts, strict=True):
        ax.add_patch(
            Rectangle(
                (x1 - 0.5, y1 - 0.5),
                x2 - x1,
                y2 - y1,
                fill=False,
                ec=color,
                lw=1.2,
                ls="--" if dashed else "-",
            )
        )
        if text:
            ax.text(x1, y1 - 1, text, color="black", fontsize=5, backgroundcolor=color, va="bottom")


def plot_detections(
    images: torch.Tensor,
    preds: list[dict[str, torch.Tensor]],
    classes: list[str],
    path: Path,
    *,
    title: str,
    targets: list[dict[str, torch.Tensor]] | None = None,
    misses: list[torch.Tensor] | None = None,
    ncols: int = 4,
) -> Path:
    """Images with predicted boxes (green, "class score"); with `targets`, the true boxes
    dashed white, and with `misses` (a bool mask per image) the missed ones dashed red."""
    if len(images) == 0:
        return save_figure(message_figure("No images to show", title), path)
    rows = -(-len(images) // ncols)
    fig = new_figure(2.6 * ncols, 2.6 * rows + 0.4)
    for i, image in enumerate(images):
        ax = fig.add_subplot(rows, ncols, i + 1)
        ax.imshow(image.permute(1, 2, 0).numpy())
        ax.set_axis_off()
        p = preds[i]
        if targets is not None:
            t = targets[i]
            missed = misses[i] if misses is not None else torch.zeros(len(t["labels"]), dtype=bool)
            names = [classes[int(c)] for c in t["labels"]]
            _draw_boxes(ax, t["boxes"][~missed], _TRUTH, [""] * int((~missed).sum()), True)
            _draw_boxes(
                ax,
                t["boxes"][missed],
                _MISS,
                [n for n, m in zip(names, missed, strict=True) if m],
                True,
            )
            ax.set_title(f"{int(missed.sum())} missed of {len(names)}", fontsize=7)
        texts = [
            f"{classes[int(c)]} {float(s):.2f}"
            for c, s in zip(p["labels"], p["scores"], strict=True)
        ]
        _draw_boxes(ax, p["boxes"], _PRED, texts, False)
    fig.suptitle(title)
    return save_figure(fig, path)


def missed_objects(
    preds: list[dict[str, torch.Tensor]],
    targets: list[dict[str, torch.Tensor]],
    *,
    iou: float = 0.5,
) -> list[torch.Tensor]:
    """Per image, a bool mask over its true objects: True where no prediction of the same
    class overlaps it by at least `iou` (pass predictions already filtered by score)."""
    from torchvision.ops import box_iou

    out = []
    for p, t in zip(preds, targets, strict=True):
        n = len(t["labels"])
        if n == 0 or len(p["labels"]) == 0:
            out.append(torch.ones(n, dtype=torch.bool))
            continue
        overlap = box_iou(t["boxes"].float(), p["boxes"].float())  # (N, P)
        same = t["labels"][:, None] == p["labels"][None]
        out.append(~((overlap >= iou) & same).any(1))
    return out
