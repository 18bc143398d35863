"""Exercise dice_loss: the multi-class soft Dice loss and its gradient, in NumPy.

Dice (Sørensen 1948; as a loss, Milletari et al. 2016, "V-Net") scores the overlap of a
predicted region with the true one, 2 |A ∩ B| / (|A| + |B|), and is not swamped by a large
background the way pixel accuracy and cross-entropy are. Its soft version uses probabilities.
For logits z (N, C, H, W) and integer labels y (N, H, W), with p = softmax(z) over the classes
(axis 1) and g the one-hot of y (N, C, H, W), per image n and class c:

    inter[n, c] = sum_hw p * g,   denom[n, c] = sum_hw p + sum_hw g
    dice[n, c]  = (2 * inter + smooth) / (denom + smooth)
    loss        = mean over n and c of (1 - dice[n, c])

This is MONAI's DiceLoss(softmax=True, to_onehot_y=True, smooth_nr=smooth, smooth_dr=smooth);
the gradient is what autograd gives for z. Some cases have logits of size 1e3 and more: compute
the softmax stably. NumPy only: torch is refused. Grade it with `dllab lab check dice_loss`.
"""

from __future__ import annotations

import numpy as np


def dice_loss(
    logits: np.ndarray, target: np.ndarray, smooth: float = 1.0
) -> tuple[float, np.ndarray]:
    """Return the soft Dice loss and its gradient with respect to the logits.

    Args:
        logits: (N, C, H, W) unnormalised class scores per pixel.
        target: (N, H, W) integer labels in [0, C).
        smooth: added to the numerator and the denominator of every Dice ratio.

    Returns:
        (loss, dlogits): `loss` a float, `dlogits` = dL/dlogits with shape (N, C, H, W).

    Example:
        >>> loss, d = dice_loss(np.array([[[[2.0]], [[0.0]]]]), np.array([[[0]]]))
        >>> round(loss, 4), d.ravel().round(4).tolist()
        (0.0739, [-0.0609, 0.0609])

    TODO: a stable softmax and the one-hot target; inter and denom per image and class; the
    loss; dL/dp for each (n, c); then back through the softmax.
    """
    raise NotImplementedError("Need to implement for exercise dice_loss")
