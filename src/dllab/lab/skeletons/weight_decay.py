"""Exercise weight_decay: the two ways optimisers shrink weights, in NumPy.

SGD's `weight_decay` is an L2 penalty (wd / 2) ||w||^2 added to the loss. AdamW (Loshchilov &
Hutter 2019) instead decays the weights directly, apart from Adam's adaptive step; with Adam,
the two are not the same. Your functions must match torch.optim.SGD(weight_decay=wd) and
torch.optim.AdamW step for step. Grade it with `dllab lab check weight_decay`.
"""

from __future__ import annotations

import numpy as np


def sgd_step(w: np.ndarray, grad: np.ndarray, lr: float, weight_decay: float) -> np.ndarray:
    """Return w after one step of SGD (no momentum) with L2 weight decay.

    Example:
        >>> sgd_step(np.array([1.0]), np.array([0.5]), lr=0.1, weight_decay=0.1)
        array([0.94])

    TODO: the gradient of the L2 penalty, then a plain SGD step.
    """
    raise NotImplementedError("Need to implement for exercise weight_decay")


def adamw_step(
    w: np.ndarray,
    grad: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    t: int,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.01,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (w, m, v) after AdamW's step number t (t = 1 for the first step).

    m and v are Adam's running moments (zeros before the first step).

    TODO: decay w, update the moments, correct their bias, take the Adam step.
    """
    raise NotImplementedError("Need to implement for exercise weight_decay")
