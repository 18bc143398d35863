"""Exercise loss_curves: read a run's loss curves like a practitioner.

Each run trains a 10-class classifier with cross-entropy, so the loss starts near chance,
ln 10 = 2.30. You get the mean training and validation loss of every epoch and decide what
happened. The grader generates many runs of each kind (with noise); yours must name them all.

    "good_fit"      both fall and settle low; validation a little above training
    "overfitting"   training keeps falling, validation turns back up after a minimum
    "underfitting"  both stay high, close together
    "diverging"     the loss blows up (or becomes NaN)

Grade it with `dllab lab check loss_curves`.
"""

from __future__ import annotations


def diagnose(train_loss: list[float], val_loss: list[float]) -> str:
    """Return "good_fit", "overfitting", "underfitting" or "diverging".

    Example:
        >>> diagnose([2.3, 1.2, 0.6, 0.3, 0.1, 0.05], [2.3, 1.3, 0.8, 0.9, 1.1, 1.4])
        'overfitting'

    TODO: compare where the curves end with where they start and with their minimum.
    """
    raise NotImplementedError("Need to implement for exercise loss_curves")


def best_epoch(val_loss: list[float]) -> int:
    """Return the 0-based epoch with the lowest validation loss (NaN values are ignored).

    This is the checkpoint early stopping would keep.

    Example:
        >>> best_epoch([2.3, 0.8, 0.9, 1.4])
        1
    """
    raise NotImplementedError("Need to implement for exercise loss_curves")
