"""Exercise dropout: inverted dropout (Srivastava et al. 2014), forward and backward, in NumPy.

During training each element is dropped (set to 0) with probability p and the survivors are
scaled by 1 / (1 - p), so the expected output equals the input; in eval mode dropout does
nothing. To make the randomness checkable you are given uniforms u in [0, 1) of x's shape:
element k is KEPT when u[k] >= p.
Grade it with `dllab lab check dropout`.
"""

from __future__ import annotations

import numpy as np


def dropout_forward(
    x: np.ndarray, p: float, training: bool, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return (out, mask) with out = x * mask; both have x's shape.

    In train mode mask is 1 / (1 - p) where kept and 0 where dropped; in eval mode it is 1.

    Example:
        >>> dropout_forward(np.ones(4), 0.5, True, np.array([0.1, 0.6, 0.7, 0.2]))[0]
        array([0., 2., 2., 0.])

    TODO: build the mask from u, p and training.
    """
    raise NotImplementedError("Need to implement for exercise dropout")


def dropout_backward(dout: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Return dL/dx given dL/dout and the mask of the forward pass.

    TODO: one line.
    """
    raise NotImplementedError("Need to implement for exercise dropout")
