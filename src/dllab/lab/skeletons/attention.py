"""Exercise attention: scaled dot-product attention, in NumPy (Vaswani et al. 2017, eq. 1).

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d)) V

q, k and v may have any number of leading batch axes; `mask` (optional, bool) is True where
a query may attend to a key, as in torch.nn.functional.scaled_dot_product_attention.
Grade it with `dllab lab check attention`.
"""

from __future__ import annotations

import numpy as np


def scaled_dot_product_attention(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return (out, weights).

    Args:
        q: (..., Tq, d). k: (..., Tk, d). v: (..., Tk, dv).
        mask: None, or bool broadcastable to (..., Tq, Tk); False = may not attend.

    Returns:
        out (..., Tq, dv) and the attention weights (..., Tq, Tk), each row summing to 1.

    Example:
        >>> out, w = scaled_dot_product_attention(q, k, v, np.tril(np.ones((T, T), bool)))
        >>> np.allclose(w.sum(-1), 1)
        True

    TODO: scores, mask (-inf where False), a stable softmax over the keys, weighted sum of v.
    """
    raise NotImplementedError("Need to implement for exercise attention")
