"""Exercise sinusoidal_positions: the encoding of any positions, and why it is relative.

Vaswani et al. 2017, section 3.5, with frequencies w_i = base ** (-2i / d_model):

    PE[pos, 2i]     = sin(pos * w_i)
    PE[pos, 2i + 1] = cos(pos * w_i)

A model needs the encoding of arbitrary positions, not only 0..T-1: decoding with a KV cache
continues at position 37, a left-padded row starts later. The paper chose sinusoids because
"PE[pos + k] can be represented as a linear function of PE[pos]": each (sin, cos) pair is a
point on a circle, and moving k positions rotates it by the angle k * w_i.
Grade it with `dllab lab check sinusoidal_positions`.
"""

from __future__ import annotations

import torch


def sinusoidal_positions(
    positions: torch.Tensor, d_model: int, base: float = 10000.0
) -> torch.Tensor:
    """Return the encodings (*positions.shape, d_model), float64, of integer `positions`.

    `positions` has any shape, e.g. (T,) or (B, T); d_model is even.

    Example:
        >>> sinusoidal_positions(torch.tensor([0, 1]), 4)
        tensor([[0.0000, 1.0000, 0.0000, 1.0000],
                [0.8415, 0.5403, 0.0100, 1.0000]], dtype=torch.float64)

    TODO: angles = positions[..., None] * frequencies; sin and cos interleaved.
    """
    raise NotImplementedError("Need to implement for exercise sinusoidal_positions")


def shift_matrix(k: int, d_model: int, base: float = 10000.0) -> torch.Tensor:
    """Return M (d_model, d_model), float64, such that for every position p:

        sinusoidal_positions(p + k) == sinusoidal_positions(p) @ M.T

    M is block diagonal: one 2x2 rotation per (sin, cos) pair, and it does not depend on p.

    TODO: expand sin((p + k) w) and cos((p + k) w) with the angle-sum formulas.
    """
    raise NotImplementedError("Need to implement for exercise sinusoidal_positions")
