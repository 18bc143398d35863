"""Exercise maxpool: max pooling, forward and backward, in NumPy.

Like torch.nn.functional.max_pool2d(x, kernel_size, stride) with no padding: every
kernel_size x kernel_size window, moved by `stride`, is replaced by its maximum.
`stride=None` means stride = kernel_size. Grade it with `dllab lab check maxpool`.
"""

from __future__ import annotations

import numpy as np


def max_pool2d(x: np.ndarray, kernel_size: int, stride: int | None = None) -> np.ndarray:
    """Return the max over each window: x (N, C, H, W) -> (N, C, H_out, W_out).

    H_out = (H - kernel_size) // stride + 1, likewise W_out.

    Example:
        >>> max_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 2)[0, 0]
        array([[ 5.,  7.],
               [13., 15.]])

    TODO: take the max over the kernel offsets of strided slices.
    """
    raise NotImplementedError("Need to implement for exercise maxpool")


def max_pool2d_backward(
    x: np.ndarray, grad_out: np.ndarray, kernel_size: int, stride: int | None = None
) -> np.ndarray:
    """Return dL/dx (N, C, H, W) given dL/dout `grad_out` (N, C, H_out, W_out).

    TODO: route each window's gradient to the position of its max; windows may overlap.
    """
    raise NotImplementedError("Need to implement for exercise maxpool")
