"""Exercise quantize: affine int8/uint8 quantisation, as deployed models store their weights.

An 8-bit model stores each tensor as integers q in [qmin, qmax] plus two numbers, a scale and a
zero point, so that x ~ (q - zero_point) * scale (Jacob et al. 2018, "Quantization and Training
of Neural Networks for Efficient Integer-Arithmetic-Only Inference"):

    scale      = (max(x_max, 0) - min(x_min, 0)) / (qmax - qmin)   (at least float32's eps)
    zero_point = qmin - round(min(x_min, 0) / scale), clamped to [qmin, qmax], an int
    q          = clamp(round(x / scale) + zero_point, qmin, qmax)
    x_hat      = (q - zero_point) * scale

The range always includes 0 so that a real 0 (padding, a ReLU's zeros) is exactly an integer.
round() means to the nearest integer with halves to even (2.5 -> 2), as torch's nearbyint.
Per channel, each index along `axis` (a weight's output channel) has its own scale and zero
point, from the min and max over all the other axes.

The references are PyTorch's: `torch.ao.quantization.MinMaxObserver(dtype=torch.quint8 or
torch.qint8, qscheme=torch.per_tensor_affine, reduce_range=False)` and
`PerChannelMinMaxObserver(ch_axis=axis, qscheme=torch.per_channel_affine,
reduce_range=False)` for the parameters; `torch.quantize_per_tensor` and
`torch.quantize_per_channel` (`.int_repr()`, `.dequantize()`) for the values. quint8 is
[0, 255], qint8 is [-128, 127]. NumPy only: torch is refused.
Grade it with `dllab lab check quantize`.
"""

from __future__ import annotations

import numpy as np

EPS = float(np.finfo(np.float32).eps)  # torch's smallest scale: an all-zero range still works


def qparams(x_min: float, x_max: float, qmin: int, qmax: int) -> tuple[float, int]:
    """Scale and zero point of per-tensor affine quantisation for observed range [x_min, x_max].

    Example:
        >>> qparams(-1.0, 3.0, 0, 255)
        (0.01568627450980392, 64)

    TODO: widen the range to include 0, then the scale, then the rounded, clamped zero point.
    """
    raise NotImplementedError("Need to implement for exercise quantize")


def quantize(x: np.ndarray, scale: float, zero_point: int, qmin: int, qmax: int) -> np.ndarray:
    """The integers (same shape as x, any integer dtype) that store x.

    Example:
        >>> quantize(np.array([0.0, 0.3, 5.0]), 0.1, 10, 0, 255).tolist()
        [10, 13, 60]

    TODO: divide, round (halves to even), shift by the zero point, clamp.
    """
    raise NotImplementedError("Need to implement for exercise quantize")


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """The real values (float, same shape) that the integers q stand for.

    TODO: one line.
    """
    raise NotImplementedError("Need to implement for exercise quantize")


def qparams_per_channel(
    x: np.ndarray, axis: int, qmin: int, qmax: int
) -> tuple[np.ndarray, np.ndarray]:
    """(scales, zero_points), each of shape (x.shape[axis],): one pair per channel.

    Example:
        >>> s, z = qparams_per_channel(np.array([[-1.0, 3.0], [0.5, 2.0]]), 0, -128, 127)
        >>> z.tolist()
        [-64, -128]

    TODO: min and max over every axis except `axis`, then the same formulas as qparams.
    """
    raise NotImplementedError("Need to implement for exercise quantize")


def quantize_per_channel(
    x: np.ndarray, scales: np.ndarray, zero_points: np.ndarray, axis: int, qmin: int, qmax: int
) -> np.ndarray:
    """The integers that store x, channel c of `axis` with scales[c] and zero_points[c].

    TODO: reshape the parameters so they broadcast along `axis`, then quantize.
    """
    raise NotImplementedError("Need to implement for exercise quantize")


def dequantize_per_channel(
    q: np.ndarray, scales: np.ndarray, zero_points: np.ndarray, axis: int
) -> np.ndarray:
    """The real values that the integers q stand for, channel by channel along `axis`.

    TODO: the same broadcasting as quantize_per_channel.
    """
    raise NotImplementedError("Need to implement for exercise quantize")
