"""Reference solution of lstm_cell: PyTorch's LSTM equations, step by step."""

from __future__ import annotations

import numpy as np


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def lstm_cell(
    x: np.ndarray,
    h: np.ndarray,
    c: np.ndarray,
    W_ih: np.ndarray,
    W_hh: np.ndarray,
    b_ih: np.ndarray,
    b_hh: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """One LSTM step: (h', c')."""
    gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh  # (N, 4H)
    i, f, g, o = np.split(gates, 4, axis=1)  # PyTorch's order: input, forget, cell, output
    c_new = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)  # forget some, write some
    h_new = _sigmoid(o) * np.tanh(c_new)
    return h_new, c_new


def lstm_sequence(
    xs: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray,
    W_ih: np.ndarray,
    W_hh: np.ndarray,
    b_ih: np.ndarray,
    b_hh: np.ndarray,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """The cell applied along the time axis of xs (T, N, I)."""
    h, c = h0, c0
    outputs = []
    for x in xs:
        h, c = lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh)
        outputs.append(h)
    return np.stack(outputs), (h, c)
