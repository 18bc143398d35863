"""Exercise conv_transpose: a 2-D transposed convolution's output size and values, in NumPy.

A transposed convolution (a "deconvolution", the up-sampling layer of U-Net and of GAN
generators) is the gradient of a convolution with respect to its input: each input pixel
scatters a copy of the kernel, scaled by its value, into the output, `stride` pixels apart, and
overlapping copies add up. The result is then cropped by `padding` on every border (padding
undoes the padding of the convolution it transposes), and `output_padding` extra rows and
columns at the bottom and right pick the larger of the output sizes that stride makes possible:

    size_out = (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1)
               + output_padding + 1

Shapes follow torch.nn.functional.conv_transpose2d (groups = 1): x (N, C_in, H, W),
weight (C_in, C_out, kh, kw) — note C_in first —, bias (C_out,) or None.
NumPy only: torch is refused. Grade it with `dllab lab check conv_transpose`.
"""

from __future__ import annotations

import numpy as np


def conv_transpose2d_output_size(
    size: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
    dilation: int = 1,
) -> int:
    """Return the output height (or width) of a transposed convolution, as an int.

    Example:
        >>> conv_transpose2d_output_size(4, 4, stride=2, padding=1)
        8

    TODO: the formula in the module docstring.
    """
    raise NotImplementedError("Need to implement for exercise conv_transpose")


def conv_transpose2d(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
    dilation: int = 1,
) -> np.ndarray:
    """Return conv_transpose2d(x, weight, bias): (N, C_in, H, W) -> (N, C_out, H_out, W_out).

    Example:
        >>> x = np.ones((1, 1, 2, 2))
        >>> conv_transpose2d(x, np.ones((1, 1, 2, 2)), stride=1)[0, 0]
        array([[1., 2., 1.],
               [2., 4., 2.],
               [1., 2., 1.]])

    TODO: a zero canvas large enough for every copy (and for output_padding); for each kernel
    offset (i, j), add the input times weight[:, :, i, j] (contracting C_in) at rows
    i * dilation, i * dilation + stride, ... and the same for columns; crop `padding` from
    every border; add the bias.
    """
    raise NotImplementedError("Need to implement for exercise conv_transpose")
