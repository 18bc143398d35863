"""Reference solution of gru_cell: PyTorch's GRU equations, step by step."""

from __future__ import annotations

import numpy as np


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def gru_cell(
    x: np.ndarray,
    h: np.ndarray,
    W_ih: np.ndarray,
    W_hh: np.ndarray,
    b_ih: np.ndarray,
    b_hh: np.ndarray,
) -> np.ndarray:
    """One GRU step: h'."""
    i_r, i_z, i_n = np.split(x @ W_ih.T + b_ih, 3, axis=1)  # (N, H) each
    h_r, h_z, h_n = np.split(h @ W_hh.T + b_hh, 3, axis=1)
    r = _sigmoid(i_r + h_r)
    z = _sigmoid(i_z + h_z)
    n = np.tanh(i_n + r * h_n)  # r gates the hidden side after its product, bias included
    return (1.0 - z) * n + z * h  # z = 1 keeps the old state


def gru_sequence(
    xs: np.ndarray,
    h0: np.ndarray,
    W_ih: np.ndarray,
    W_hh: np.ndarray,
    b_ih: np.ndarray,
    b_hh: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The cell applied along the time axis of xs (T, N, I)."""
    h = h0
    outputs = []
    for x in xs:
        h = gru_cell(x, h, W_ih, W_hh, b_ih, b_hh)
        outputs.append(h)
    return np.stack(outputs), h
