"""Reference solution of dropout: inverted dropout and its gradient."""

from __future__ import annotations

import numpy as np


def dropout_forward(
    x: np.ndarray, p: float, training: bool, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """out = x * mask; mask = keep / (1 - p) in train mode, ones in eval mode."""
    # E[mask] = 1 in train mode, so eval mode needs no rescaling
    mask = (u >= p) / (1.0 - p) if training else np.ones_like(x)
    return x * mask, mask


def dropout_backward(dout: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A mask is a constant factor: the gradient is multiplied by it."""
    return dout * mask
