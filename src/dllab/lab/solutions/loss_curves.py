"""Reference solution of loss_curves: a few robust readings of the curves, in order."""

from __future__ import annotations

import math


def diagnose(train_loss: list[float], val_loss: list[float]) -> str:
    """Divergence first, then underfitting, then overfitting; otherwise a good fit."""
    values = train_loss + val_loss
    if any(not math.isfinite(v) for v in values) or train_loss[-1] > train_loss[0]:
        return "diverging"
    if train_loss[-1] > 1.0:  # chance is ln 10 = 2.30: the model barely learned
        return "underfitting"
    if val_loss[-1] > 1.1 * min(val_loss):  # validation rose well past its best
        return "overfitting"
    return "good_fit"


def best_epoch(val_loss: list[float]) -> int:
    """The epoch of the lowest finite validation loss."""
    finite = [(v, i) for i, v in enumerate(val_loss) if math.isfinite(v)]
    return min(finite)[1]
