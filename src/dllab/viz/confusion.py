"""Confusion-matrix heatmap: rows are the true class, columns the predicted one."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dllab.viz.figure import new_figure, save_figure

__all__ = ["plot_confusion"]

_MAX_ANNOTATED = 20  # past this many classes the cell numbers are too small to read


def plot_confusion(
    matrix: np.ndarray,
    classes: list[str],
    path: Path,
    normalize: bool = True,
    title: str = "Confusion matrix",
) -> Path:
    """Draw `matrix` (K, K) of counts as a heatmap with a colorbar and save it to `path`.

    `matrix[i, j]` counts samples of true class `classes[i]` predicted as `classes[j]`.
    With `normalize`, each row is divided by its total, so a cell is the fraction of that
    true class (an empty row stays 0). Cells are annotated (fractions to 2 decimals, or
    counts) in black or white to contrast with their colour, up to 20 classes. Returns `path`.
    Raises ValueError when `matrix` is not square or does not match `classes`.

    >>> plot_confusion(np.array([[5, 1], [2, 7]]), ["cat", "dog"], Path("cm.png"))  # doctest: +SKIP
    """
    counts = np.asarray(matrix, dtype=float)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(
            f"confusion matrix must be square (K, K), got shape {counts.shape}; "
            "rows are true classes and columns predicted classes"
        )
    k = counts.shape[0]
    if len(classes) != k:
        raise ValueError(
            f"confusion matrix is {k}x{k} but {len(classes)} class names were given; "
            "pass one name per row"
        )

    if normalize:
        totals = counts.sum(axis=1, keepdims=True)
        values = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    else:
        values = counts

    side = min(max(5.0, 0.42 * k + 2.5), 14.0)  # inches; grows with K, capped for K ~ 30
    fig = new_figure(side + 1.2, side)  # extra width for the colorbar
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else None)
    colorbar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    colorbar.set_label("fraction of true class" if normalize else "count")

    ax.set_title(title + (" (row-normalized)" if normalize else ""))
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    label_size = 10 if k <= 12 else 8
    rotate = k > 6 or max((len(c) for c in classes), default=0) > 5
    ax.set_xticklabels(
        classes,
        fontsize=label_size,
        rotation=45 if rotate else 0,
        ha="right" if rotate else "center",
        rotation_mode="anchor",
    )
    ax.set_yticklabels(classes, fontsize=label_size)

    if k <= _MAX_ANNOTATED:
        cell_size = 9 if k <= 10 else 7
        for i in range(k):
            for j in range(k):
                text = f"{values[i, j]:.2f}" if normalize else f"{counts[i, j]:g}"
                r, g, b, _ = image.cmap(image.norm(values[i, j]))
                dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5  # perceived luminance
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=cell_size,
                    color="white" if dark else "black",
                )
    return save_figure(fig, path)
