"""Exercise sgd_adam: SGD with momentum and Adam, one update step each, in NumPy.

Both read like torch.optim (weight_decay 0, dampening 0), so a run of your steps must follow
the same trajectory as torch.optim.SGD(momentum=..., nesterov=...) and torch.optim.Adam:

    SGD with momentum:  buf = momentum * buf + grad
                        w = w - lr * buf                     (Nesterov: grad + momentum * buf)
    Adam (Kingma & Ba 2015, Algorithm 1), step t = 1, 2, ...:
                        m = beta1 * m + (1 - beta1) * grad
                        v = beta2 * v + (1 - beta2) * grad**2
                        m_hat = m / (1 - beta1**t),  v_hat = v / (1 - beta2**t)
                        w = w - lr * m_hat / (sqrt(v_hat) + eps)

The grader runs many steps on a quadratic loss, feeding back what you return.
Grade it with `dllab lab check sgd_adam`.
"""

from __future__ import annotations

import numpy as np


def sgd_momentum_step(
    w: np.ndarray, grad: np.ndarray, buf: np.ndarray, lr: float, momentum: float,
    nesterov: bool = False,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Return (new w, new buf) after one SGD step; buf starts as zeros.

    Example:
        >>> sgd_momentum_step(np.ones(2), np.ones(2), np.zeros(2), 0.1, 0.9)
        (array([0.9, 0.9]), array([1., 1.]))

    TODO: update the momentum buffer, then step along it (or along the Nesterov look-ahead).
    """
    raise NotImplementedError("Need to implement for exercise sgd_adam")


def adam_step(
    w: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, t: int, lr: float,
    betas: tuple[float, float], eps: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Return (new w, new m, new v) after Adam's step number t (1 for the first).

    TODO: the moment estimates, their bias correction, the step.
    """
    raise NotImplementedError("Need to implement for exercise sgd_adam")
