"""Reference solution of sinusoidal_positions: interleaved sin/cos and their rotation."""

from __future__ import annotations

import torch


def _frequencies(d_model: int, base: float) -> torch.Tensor:
    """w_i = base^(-2i / d_model), i = 0..d_model/2 - 1 (Vaswani et al. 2017, section 3.5)."""
    return base ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)  # (d/2,)


def sinusoidal_positions(
    positions: torch.Tensor, d_model: int, base: float = 10000.0
) -> torch.Tensor:
    """PE[..., 2i] = sin(pos w_i), PE[..., 2i + 1] = cos(pos w_i)."""
    angle = positions.to(torch.float64)[..., None] * _frequencies(d_model, base)  # (..., d/2)
    pe = torch.empty(*positions.shape, d_model, dtype=torch.float64)
    pe[..., 0::2] = torch.sin(angle)
    pe[..., 1::2] = torch.cos(angle)
    return pe


def shift_matrix(k: int, d_model: int, base: float = 10000.0) -> torch.Tensor:
    """sin(a + b) = sin a cos b + cos a sin b; cos(a + b) = cos a cos b - sin a sin b."""
    angle = k * _frequencies(d_model, base)  # (d/2,)
    cos, sin = torch.cos(angle), torch.sin(angle)
    m = torch.zeros(d_model, d_model, dtype=torch.float64)
    even, odd = torch.arange(0, d_model, 2), torch.arange(1, d_model, 2)
    m[even, even], m[even, odd] = cos, sin  # new sin = cos(kw) sin + sin(kw) cos
    m[odd, even], m[odd, odd] = -sin, cos  # new cos = -sin(kw) sin + cos(kw) cos
    return m
