"""Exercise conv2d_backward: the backward pass of a 2-D convolution, in NumPy.

The forward pass (exercise conv2d) is

    out[n, o, y, x] = b[o] + sum over c, i, j of  w[o, c, i, j] * xp[n, c, y * stride + i, x * stride + j]

with xp the input zero-padded by `padding` on each side. Given dout = dL/dout, compute the
three gradients. Every weight w[o, c, i, j] meets the input at offset (i, j) of every window;
every input pixel collects gradient from every window that covers it. Equal to what torch
autograd gives for torch.nn.functional.conv2d(x, w, b, stride=stride, padding=padding).
NumPy only: torch is refused. Grade it with `dllab lab check conv2d_backward`.
"""

from __future__ import annotations

import numpy as np


def conv2d_backward(
    dout: np.ndarray, x: np.ndarray, weight: np.ndarray, stride: int = 1, padding: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (dx, dw, db) for out = conv2d(x, weight, bias, stride, padding).

    Args:
        dout: (N, O, H_out, W_out) upstream gradient. x: (N, C, H, W) the input.
        weight: (O, C, kh, kw). stride, padding: as in the forward pass (same on both axes).

    Returns:
        dx (N, C, H, W), dw (O, C, kh, kw), db (O,).

    Example:
        >>> dx, dw, db = conv2d_backward(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3)),
        ...                              np.ones((1, 1, 2, 2)))
        >>> dx[0, 0]   # the centre is under all four windows
        array([[1., 2., 1.],
               [2., 4., 2.],
               [1., 2., 1.]])

    TODO: pad x; loop over the kernel offsets (i, j), not over pixels: the strided slice of
    the padded input under offset (i, j) gives dw[:, :, i, j] and receives a share of dx;
    crop the padding off dx at the end.
    """
    raise NotImplementedError("Need to implement for exercise conv2d_backward")
