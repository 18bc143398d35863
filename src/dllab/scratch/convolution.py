"""Convolution and pooling by im2col: every receptive field becomes a row of one matrix.

`_windows` views the padded input as (N, C, KH, KW, OH, OW) without copying, where

    OH = (H + 2·padding - dilation·(KH - 1) - 1) // stride + 1   (the same for OW)

Reshaped to (N, C·KH·KW, OH·OW) it is the im2col matrix of each image, so a convolution is one
matrix product, W (O, C·KH·KW) @ cols, and a pooling is a max or mean over the KH, KW axes.
Going back, `_col2im` adds each window's gradient into the input it came from: one loop over
the KH·KW kernel offsets, each step vectorised over the batch, channels and positions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dllab.scratch.tensor import Tensor

__all__ = ["conv2d", "unfold", "max_pool2d", "avg_pool2d"]

Pads = tuple[tuple[int, int], tuple[int, int]]  # ((top, bottom), (left, right))


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _pads(padding: Any, kernel: tuple[int, int], dilation: tuple[int, int]) -> Pads:
    """Padding given as an int, a pair, 'valid' or 'same' (stride 1; any odd pixel on the end)."""
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        totals = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
        return tuple((t // 2, t - t // 2) for t in totals)  # type: ignore[return-value]
    ph, pw = _pair(padding)
    return (ph, ph), (pw, pw)


def _windows(x: np.ndarray, kernel, stride, pads: Pads, dilation, fill: float = 0.0):
    """Every receptive field of x (N, C, H, W), as a view (N, C, KH, KW, OH, OW)."""
    if any(any(p) for p in pads):
        x = np.pad(x, ((0, 0), (0, 0), *pads), constant_values=fill)
    span = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
    view = sliding_window_view(x, span, axis=(2, 3))  # (N, C, H', W', span_h, span_w)
    (sh, sw), (dh, dw) = stride, dilation
    return view[:, :, ::sh, ::sw, ::dh, ::dw].transpose(0, 1, 4, 5, 2, 3)


def _col2im(grad_windows: np.ndarray, x_shape, stride, pads: Pads, dilation) -> np.ndarray:
    """Add each window's gradient (N, C, KH, KW, OH, OW) back into an input-shaped array."""
    n, c, kh, kw, oh, ow = grad_windows.shape
    (top, bottom), (left, right) = pads
    h, w = x_shape[2], x_shape[3]
    grad = np.zeros((n, c, h + top + bottom, w + left + right), grad_windows.dtype)
    (sh, sw), (dh, dw) = stride, dilation
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * oh, sh)
            cols = slice(j * dw, j * dw + sw * ow, sw)
            grad[:, :, rows, cols] += grad_windows[:, :, i, j]
    return grad[:, :, top : top + h, left : left + w]


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """2-D cross-correlation: (N, C, H, W) * (O, C, KH, KW) -> (N, O, OH, OW).

    `padding` is an int, a pair, 'valid' (none) or 'same' (output size = input size, stride 1).
    Example: a (8, 3, 32, 32) batch and a (16, 3, 5, 5) weight with stride=2, padding=2 give
    (8, 16, 16, 16).
    """
    if groups != 1:
        raise NotImplementedError("scratch conv2d supports groups=1 only")  # differs from torch
    x, w = input.data, weight.data
    kernel, stride, dilation = w.shape[2:], _pair(stride), _pair(dilation)
    if padding == "same" and stride != (1, 1):
        raise ValueError(
            f"padding='same' needs stride 1, got stride {stride}; pass padding as numbers"
        )
    pads = _pads(padding, kernel, dilation)
    windows = _windows(x, kernel, stride, pads, dilation)
    n, c, kh, kw, oh, ow = windows.shape
    cols = windows.reshape(n, c * kh * kw, oh * ow)  # im2col, one matrix per image
    w_mat = w.reshape(len(w), -1)  # (O, C·KH·KW)
    out = (w_mat @ cols).reshape(n, -1, oh, ow)  # (N, O, OH, OW)
    if bias is not None:
        out += bias.data[:, None, None]

    def backward(g):  # out = W·cols: d/dW = Σₙ g colsᵀ, d/dcols = Wᵀ g, d/db = Σ g
        g_mat = g.reshape(n, len(w), oh * ow)  # (N, O, OH·OW)
        grad_w = np.tensordot(g_mat, cols, axes=([0, 2], [0, 2])).reshape(w.shape)
        grad_x = None
        if input.requires_grad:
            grad_cols = (w_mat.T @ g_mat).reshape(n, c, kh, kw, oh, ow)
            grad_x = _col2im(grad_cols, x.shape, stride, pads, dilation)
        return (grad_x, grad_w) if bias is None else (grad_x, grad_w, g.sum(axis=(0, 2, 3)))

    parents = (input, weight) if bias is None else (input, weight, bias)
    return Tensor._from_op(out, parents, backward)


def unfold(
    input: Tensor,
    kernel_size: Any,
    dilation: Any = 1,
    padding: Any = 0,
    stride: Any = 1,
) -> Tensor:
    """im2col itself: (N, C, H, W) -> (N, C·KH·KW, OH·OW), one column per receptive field."""
    kernel, stride, dilation = _pair(kernel_size), _pair(stride), _pair(dilation)
    pads = _pads(padding, kernel, dilation)
    windows = _windows(input.data, kernel, stride, pads, dilation)
    n, c, kh, kw, oh, ow = windows.shape
    out = windows.reshape(n, c * kh * kw, oh * ow)

    def backward(g):  # each column goes back to the pixels it was copied from
        return (_col2im(g.reshape(windows.shape), input.shape, stride, pads, dilation),)

    return Tensor._from_op(out, (input,), backward)


def _pool_args(kernel_size, stride, padding, dilation, ceil_mode):
    if ceil_mode:
        raise NotImplementedError("scratch pooling supports ceil_mode=False only")  # differs
    kernel = _pair(kernel_size)
    stride = kernel if stride is None or stride == [] else _pair(stride)
    ph, pw = _pair(padding)
    return kernel, stride, ((ph, ph), (pw, pw)), _pair(dilation)


def max_pool2d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """The largest value in each window: (N, C, H, W) -> (N, C, OH, OW)."""
    kernel, stride, pads, dilation = _pool_args(kernel_size, stride, padding, dilation, ceil_mode)
    windows = _windows(input.data, kernel, stride, pads, dilation, fill=-np.inf)
    n, c, kh, kw, oh, ow = windows.shape
    flat = windows.reshape(n, c, kh * kw, oh, ow)
    arg = flat.argmax(axis=2)[:, :, None]  # (N, C, 1, OH, OW): where each window's max is
    out = np.take_along_axis(flat, arg, axis=2)[:, :, 0]

    def backward(g):  # d max/dx = 1 for the largest entry of each window, 0 for the others
        grad_flat = np.zeros_like(flat)
        np.put_along_axis(grad_flat, arg, g[:, :, None], axis=2)
        return (_col2im(grad_flat.reshape(windows.shape), input.shape, stride, pads, dilation),)

    result = Tensor._from_op(out, (input,), backward)
    if not return_indices:
        return result
    ki, kj = np.divmod(arg[:, :, 0], kw)
    rows = np.arange(oh)[:, None] * stride[0] - pads[0][0] + ki * dilation[0]
    cols = np.arange(ow)[None, :] * stride[1] - pads[1][0] + kj * dilation[1]
    return result, Tensor(rows * input.shape[3] + cols)  # flat index into H·W, as torch


def avg_pool2d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """The mean of each window: (N, C, H, W) -> (N, C, OH, OW)."""
    kernel, stride, pads, dilation = _pool_args(kernel_size, stride, padding, 1, ceil_mode)
    windows = _windows(input.data, kernel, stride, pads, dilation)
    if divisor_override:
        divisor = np.asarray(divisor_override, input.dtype)
    elif count_include_pad:
        divisor = np.asarray(kernel[0] * kernel[1], input.dtype)
    else:  # count only the real pixels in each window
        ones = np.ones((1, 1, *input.shape[2:]), input.dtype)
        divisor = _windows(ones, kernel, stride, pads, dilation).sum(axis=(2, 3))
    out = windows.sum(axis=(2, 3)) / divisor

    def backward(g):  # d mean/dx = 1/divisor for every pixel of the window
        share = np.broadcast_to((g / divisor)[:, :, None, None], windows.shape)
        return (_col2im(share, input.shape, stride, pads, dilation),)

    return Tensor._from_op(out, (input,), backward)
