"""Exercise gru_cell: a GRU, one step at a time, in NumPy (Cho et al. 2014).

With weights laid out as in torch.nn.GRUCell (gates stacked in the order r, z, n):

    r  = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr)         # reset gate
    z  = sigmoid(x W_iz^T + b_iz + h W_hz^T + b_hz)         # update gate
    n  = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))      # candidate
    h' = (1 - z) * n + z * h

Note where r goes: PyTorch (and cuDNN) multiply r with the hidden side's matrix product,
bias included; the 2014 paper multiplies h by r before the product. They are different
functions. Grade it with `dllab lab check gru_cell` (compared with nn.GRUCell and nn.GRU).
"""

from __future__ import annotations

import numpy as np


def gru_cell(
    x: np.ndarray,
    h: np.ndarray,
    W_ih: np.ndarray,
    W_hh: np.ndarray,
    b_ih: np.ndarray,
    b_hh: np.ndarray,
) -> np.ndarray:
    """One step: return h_new (N, H).

    Args:
        x: (N, I) input at this step. h: (N, H) previous hidden state.
        W_ih: (3H, I). W_hh: (3H, H). b_ih, b_hh: (3H,). Rows in blocks of H: r, z, n.

    TODO: both matrix products split in three, the gates, the candidate, the new h.
    """
    raise NotImplementedError("Need to implement for exercise gru_cell")


def gru_sequence(
    xs: np.ndarray,
    h0: np.ndarray,
    W_ih: np.ndarray,
    W_hh: np.ndarray,
    b_ih: np.ndarray,
    b_hh: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Run the cell over xs (T, N, I) (time first, like nn.GRU's default).

    Returns:
        (outputs (T, N, H), h_T), where outputs[t] is the hidden state after step t.

    Example:
        >>> outputs, h = gru_sequence(xs, h0, W_ih, W_hh, b_ih, b_hh)
        >>> np.allclose(outputs[-1], h)
        True

    TODO: a loop over time calling gru_cell.
    """
    raise NotImplementedError("Need to implement for exercise gru_cell")
