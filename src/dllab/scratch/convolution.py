"""Convolution and pooling by im2col: every receptive field becomes a row of one matrix.

`_windows` views the padded input as (N, C, OH, OW, KH, KW) without copying, where

    OH = (H + 2·padding - dilation·(KH - 1) - 1) // stride + 1   (the same for OW)

A convolution is then one matrix product, and a pooling is a max or mean over the last two
axes. Going back, `_col2im` adds each window's gradient into the input it came from: one loop
over the KH·KW kernel offsets, each step vectorised over the batch, channels and positions.
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
    """Every receptive field of x (N, C, H, W), as a view (N, C, OH, OW, KH, KW)."""
    if any(any(p) for p in pads):
        x = np.pad(x, ((0, 0), (0, 0), *pads), constant_values=fill)
    span = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
    view = sliding_window_view(x, span, axis=(2, 3))  # (N, C, H', W', span_h, span_w)
    (sh, sw), (dh, dw) = stride, dilation
    return view[:, :, ::sh, ::sw, ::dh, ::dw]


def _col2im(grad_windows: np.ndarray, x_shape, stride, pads: Pads, dilation) -> np.ndarray:
    """Add each window's gradient (N, C, OH, OW, KH, KW) back into an input-shaped array."""
    n, c, oh, ow, kh, kw = grad_windows.shape
    (top, bottom), (left, right) = pads
    h, w = x_shape[2], x_shape[3]
    grad = np.zeros((n, c, h + top + bottom, w + left + right), grad_windows.dtype)
    (sh, sw), (dh, dw) = stride, dilation
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * oh, sh)
            cols = slice(j * dw, j * dw + sw * ow, sw)
            grad[:, :, rows, cols] += grad_windows[:, :, :, :, i, j]
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
    """2-D cross-correlation: (N, C, H, W) * (O, C, KH, KW) -> (N, O, OH, OW)."""
    if groups != 1:
        raise NotImplementedError("scratch conv2d supports groups=1 only")  # differs from torch
    x, w = input.data, weight.data
    kernel, stride, dilation = w.shape[2:], _pair(stride), _pair(dilation)
    pads = _pads(padding, kernel, dilation)
    windows = _windows(x, kernel, stride, pads, dilation)
    n, c, oh, ow, kh, kw = windows.shape
    cols = windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * kh * kw)  # im2col
    w_mat = w.reshape(len(w), -1)  # (O, C·KH·KW)
    out = (cols @ w_mat.T).reshape(n, oh, ow, -1).transpose(0, 3, 1, 2)
    if bias is not None:
        out = out + bias.data[:, None, None]

    def backward(g):  # out = cols · Wᵀ: d/dW = gᵀ cols, d/dcols = g W, d/db = Σ g
        g_mat = g.transpose(0, 2, 3, 1).reshape(-1, len(w))  # (N·OH·OW, O)
        grad_w = (g_mat.T @ cols).reshape(w.shape)
        grad_x = None
        if input.requires_grad:
            grad_cols = (g_mat @ w_mat).reshape(n, oh, ow, c, kh, kw).transpose(0, 3, 1, 2, 4, 5)
            grad_x = _col2im(grad_cols, x.shape, stride, pads, dilation)
        return (grad_x, grad_w) if bias is None else (grad_x, grad_w, g.sum(axis=(0, 2, 3)))

    parents = (input, weight) if bias is None else (input, weight, bias)
    return Tensor._from_op(np.ascontiguousarray(out), parents, backward)


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
    n, c, oh, ow, kh, kw = windows.shape
    out = windows.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, oh * ow)

    def backward(g):  # each column goes back to the pixels it was copied from
        grad_windows = g.reshape(n, c, kh, kw, oh, ow).transpose(0, 1, 4, 5, 2, 3)
        return (_col2im(grad_windows, input.shape, stride, pads, dilation),)

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
    flat = windows.reshape(*windows.shape[:4], -1)  # (N, C, OH, OW, KH·KW)
    arg = flat.argmax(axis=-1)[..., None]
    out = np.take_along_axis(flat, arg, axis=-1)[..., 0]

    def backward(g):  # d max/dx = 1 for the largest entry of each window, 0 for the others
        grad_flat = np.zeros_like(flat)
        np.put_along_axis(grad_flat, arg, g[..., None], axis=-1)
        return (_col2im(grad_flat.reshape(windows.shape), input.shape, stride, pads, dilation),)

    result = Tensor._from_op(out, (input,), backward)
    if not return_indices:
        return result
    oh, ow = out.shape[2:]
    ki, kj = np.divmod(arg[..., 0], kernel[1])
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
        divisor = _windows(ones, kernel, stride, pads, dilation).sum(axis=(-2, -1))
    out = windows.sum(axis=(-2, -1)) / divisor

    def backward(g):  # d mean/dx = 1/divisor for every pixel of the window
        share = np.broadcast_to((g / divisor)[..., None, None], windows.shape)
        return (_col2im(share, input.shape, stride, pads, dilation),)

    return Tensor._from_op(out, (input,), backward)
