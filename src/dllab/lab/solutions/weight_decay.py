"""Reference solution of weight_decay: SGD with an L2 gradient term, AdamW's decoupled decay."""

from __future__ import annotations

import numpy as np


def sgd_step(w: np.ndarray, grad: np.ndarray, lr: float, weight_decay: float) -> np.ndarray:
    """d/dw of (wd / 2) ||w||^2 is wd * w: added to the gradient."""
    return w - lr * (grad + weight_decay * w)


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
    """One AdamW step (Loshchilov & Hutter 2019, algorithm 2), in PyTorch's order."""
    b1, b2 = betas
    w = w * (1 - lr * weight_decay)  # decoupled: the decay never enters m or v
    m = b1 * m + (1 - b1) * grad
    v = b2 * v + (1 - b2) * grad**2
    m_hat = m / (1 - b1**t)  # m and v start at 0: undo their pull towards 0
    v_hat = v / (1 - b2**t)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), m, v
