"""Exercise rnn_bptt: a vanilla tanh RNN and backpropagation through time (BPTT), in NumPy.

The recurrence (Elman 1990; torch.nn.RNN with one bias) reads, for t = 1 .. T:

    h_t = tanh(x_t @ w_ih.T + h_{t-1} @ w_hh.T + b)

The same weights are used at every step, so their gradients are sums over the steps. A hidden
state h_t influences the loss twice: directly (the upstream gradient dhs[t], e.g. from an output
layer) and through h_{t+1}. Walk the steps backwards, carrying that second part. Equal to what
torch autograd gives for the same loop with `hs.backward(dhs)`. NumPy only: torch is refused.
Grade it with `dllab lab check rnn_bptt`.
"""

from __future__ import annotations

import numpy as np


def rnn_forward(
    x: np.ndarray, h0: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """Run the RNN: x (T, N, D), h0 (N, H), w_ih (H, D), w_hh (H, H), b (H,) -> hs (T, N, H).

    hs[t] is the hidden state after step t (h0 itself is not in hs).

    TODO: a loop over time.
    """
    raise NotImplementedError("Need to implement for exercise rnn_bptt")


def rnn_backward(
    dhs: np.ndarray,
    x: np.ndarray,
    hs: np.ndarray,
    h0: np.ndarray,
    w_ih: np.ndarray,
    w_hh: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (dw_ih, dw_hh, db, dh0) given dhs = dL/dhs (T, N, H) on EVERY hidden state.

    Args:
        dhs: (T, N, H). x: (T, N, D). hs: (T, N, H) from the forward pass. h0: (N, H).
        w_ih: (H, D). w_hh: (H, H).

    Returns:
        dw_ih (H, D), dw_hh (H, H), db (H,), dh0 (N, H).

    TODO: t from T - 1 down to 0: the total gradient on hs[t], through the tanh (its
    derivative is written with hs[t]), into the three parameters (with the PREVIOUS hidden
    state for w_hh) and on to the previous hidden state; what reaches h0 is dh0.
    """
    raise NotImplementedError("Need to implement for exercise rnn_bptt")
