"""Reference solution of positional_encoding: tril mask and interleaved sin/cos."""

from __future__ import annotations

import torch


def causal_mask(T: int) -> torch.Tensor:
    """True on and below the diagonal: query i sees keys 0..i."""
    return torch.tril(torch.ones(T, T, dtype=torch.bool))


def sinusoidal_positional_encoding(T: int, d_model: int) -> torch.Tensor:
    """PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(...) (Vaswani et al. 2017)."""
    pos = torch.arange(T, dtype=torch.float64)[:, None]  # (T, 1)
    freq = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)  # (d/2,)
    angle = pos * freq  # (T, d/2)
    pe = torch.empty(T, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe
