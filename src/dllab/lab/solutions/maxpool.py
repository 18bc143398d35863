"""Reference solution of maxpool: strided views for the forward, np.add.at for the backward."""

from __future__ import annotations

import numpy as np


def _windows(x: np.ndarray, k: int, s: int) -> np.ndarray:
    """All windows as (N, C, H_out, W_out, k * k)."""
    n, c, h, w = x.shape
    h_out, w_out = (h - k) // s + 1, (w - k) // s + 1
    views = [
        x[:, :, i : i + s * h_out : s, j : j + s * w_out : s] for i in range(k) for j in range(k)
    ]
    return np.stack(views, axis=-1)


def max_pool2d(x: np.ndarray, kernel_size: int, stride: int | None = None) -> np.ndarray:
    """Max over every kernel_size x kernel_size window moved by `stride`."""
    return _windows(x, kernel_size, stride or kernel_size).max(axis=-1)


def max_pool2d_backward(
    x: np.ndarray, grad_out: np.ndarray, kernel_size: int, stride: int | None = None
) -> np.ndarray:
    """Send each window's gradient to its argmax; overlapping windows accumulate."""
    k, s = kernel_size, stride or kernel_size
    n, c, h_out, w_out = grad_out.shape
    arg = _windows(x, k, s).argmax(axis=-1)  # (N, C, H_out, W_out): offset i * k + j
    rows = np.arange(h_out)[:, None] * s + arg // k  # (N, C, H_out, W_out) input row
    cols = np.arange(w_out)[None, :] * s + arg % k
    ni, ci = np.indices((n, c, h_out, w_out))[:2]
    dx = np.zeros_like(x)
    np.add.at(dx, (ni, ci, rows, cols), grad_out)  # += even where windows share a max
    return dx
