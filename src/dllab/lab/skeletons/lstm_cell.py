"""Exercise lstm_cell: an LSTM, one step at a time, in NumPy (Hochreiter & Schmidhuber 1997).

With weights laid out as in torch.nn.LSTMCell (gates stacked in the order i, f, g, o):

    gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh         # (N, 4H)
    i, f, o = sigmoid(.) of their blocks;  g = tanh(its block)
    c' = f * c + i * g
    h' = o * tanh(c')

Grade it with `dllab lab check lstm_cell` (compared with nn.LSTMCell and nn.LSTM).
"""

from __future__ import annotations

import numpy as np


def lstm_cell(
    x: np.ndarray,
    h: np.ndarray,
    c: np.ndarray,
    W_ih: np.ndarray,
    W_hh: np.ndarray,
    b_ih: np.ndarray,
    b_hh: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """One step: return (h_new, c_new), each (N, H).

    Args:
        x: (N, I) input at this step. h, c: (N, H) previous hidden and cell state.
        W_ih: (4H, I). W_hh: (4H, H). b_ih, b_hh: (4H,).

    TODO: the gates, split in four, the nonlinearities, the new c, then the new h.
    """
    raise NotImplementedError("Need to implement for exercise lstm_cell")


def lstm_sequence(
    xs: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray,
    W_ih: np.ndarray,
    W_hh: np.ndarray,
    b_ih: np.ndarray,
    b_hh: np.ndarray,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Run the cell over xs (T, N, I) (time first, like nn.LSTM's default).

    Returns:
        (outputs (T, N, H), (h_T, c_T)), where outputs[t] is the hidden state after step t.

    Example:
        >>> outputs, (h, c) = lstm_sequence(xs, h0, c0, W_ih, W_hh, b_ih, b_hh)
        >>> np.allclose(outputs[-1], h)
        True

    TODO: a loop over time calling lstm_cell.
    """
    raise NotImplementedError("Need to implement for exercise lstm_cell")
