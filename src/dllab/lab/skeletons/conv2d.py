"""Exercise conv2d: the arithmetic of a convolution layer, in NumPy, via im2col.

    x (N, C, H, W)  *  weight (O, C, kh, kw)  ->  out (N, O, H_out, W_out)

like torch.nn.functional.conv2d with the same `stride` and zero `padding` on both axes.
im2col gathers every window into a column, so the whole layer is one matrix product.
Grade it with `dllab lab check conv2d`.
"""

from __future__ import annotations

import numpy as np


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0) -> int:
    """Return how many positions a window of `kernel_size` takes along an axis of `size`.

    Example:
        >>> conv_output_size(32, 3, stride=1, padding=1)
        32
        >>> conv_output_size(7, 3, stride=2, padding=0)
        3

    TODO: count where the first element of the window can go on the padded axis.
    """
    raise NotImplementedError("Need to implement for exercise conv2d")


def im2col(
    x: np.ndarray, kernel_size: tuple[int, int], stride: int = 1, padding: int = 0
) -> np.ndarray:
    """Unfold x (N, C, H, W) into columns (N, C * kh * kw, L), like F.unfold.

    L = H_out * W_out windows in row-major order; row c * kh * kw + i * kw + j holds channel c
    at offset (i, j) inside the window.

    TODO: pad, then fill the columns one kernel offset (i, j) at a time with strided slices.
    """
    raise NotImplementedError("Need to implement for exercise conv2d")


def conv2d(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: int = 1,
    padding: int = 0,
) -> np.ndarray:
    """Return the convolution of x (N, C, H, W) with weight (O, C, kh, kw) plus bias (O,).

    Output (N, O, H_out, W_out) with H_out = conv_output_size(H, kh, stride, padding).

    TODO: im2col, one matrix product with weight reshaped to (O, C * kh * kw), bias, reshape.
    """
    raise NotImplementedError("Need to implement for exercise conv2d")
