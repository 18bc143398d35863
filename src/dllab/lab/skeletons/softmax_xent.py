"""Exercise softmax_xent: softmax cross-entropy and its gradient, by hand, in NumPy.

For logits z (N, C) and integer targets t (N,):

    loss = mean_i ( -log softmax(z_i)[t_i] )      # like torch.nn.functional.cross_entropy

Some cases use logits of size 1000: exp(1000) overflows, so compute it stably.
Grade it with `dllab lab check softmax_xent`.
"""

from __future__ import annotations

import numpy as np


def cross_entropy(logits: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Return the mean cross-entropy and its gradient with respect to the logits.

    Args:
        logits: (N, C) unnormalised scores.
        targets: (N,) integers in [0, C).

    Returns:
        (loss, dlogits): `loss` a float, `dlogits` = dL/dlogits with shape (N, C).

    Example:
        >>> loss, d = cross_entropy(np.array([[0.0, 0.0]]), np.array([1]))
        >>> round(loss, 4), d.tolist()
        (0.6931, [[0.5, -0.5]])

    TODO: log-softmax with the max subtracted, pick the targets, average; then the gradient.
    """
    raise NotImplementedError("Need to implement for exercise softmax_xent")
