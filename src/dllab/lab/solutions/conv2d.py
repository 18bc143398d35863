"""Reference solution of conv2d: the output-size formula, im2col and conv2d as one matmul."""

from __future__ import annotations

import numpy as np


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0) -> int:
    """Positions of a window along an axis: floor((size + 2p - k) / s) + 1."""
    return (size + 2 * padding - kernel_size) // stride + 1


def im2col(
    x: np.ndarray, kernel_size: tuple[int, int], stride: int = 1, padding: int = 0
) -> np.ndarray:
    """x (N, C, H, W) -> columns (N, C * kh * kw, H_out * W_out), as F.unfold."""
    n, c, h, w = x.shape
    kh, kw = kernel_size
    h_out = conv_output_size(h, kh, stride, padding)
    w_out = conv_output_size(w, kw, stride, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = np.empty((n, c, kh, kw, h_out, w_out), dtype=x.dtype)
    for i in range(kh):  # a loop over the kernel, never over pixels
        for j in range(kw):
            cols[:, :, i, j] = xp[
                :, :, i : i + stride * h_out : stride, j : j + stride * w_out : stride
            ]
    return cols.reshape(n, c * kh * kw, h_out * w_out)


def conv2d(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: int = 1,
    padding: int = 0,
) -> np.ndarray:
    """Cross-correlation of x (N, C, H, W) with weight (O, C, kh, kw): (N, O, H_out, W_out)."""
    n, _, h, w = x.shape
    o, _, kh, kw = weight.shape
    cols = im2col(x, (kh, kw), stride, padding)  # (N, C * kh * kw, L)
    out = weight.reshape(o, -1) @ cols  # (N, O, L)
    if bias is not None:
        out = out + bias[:, None]
    h_out = conv_output_size(h, kh, stride, padding)
    w_out = conv_output_size(w, kw, stride, padding)
    return out.reshape(n, o, h_out, w_out)
