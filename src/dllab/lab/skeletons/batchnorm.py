"""Exercise batchnorm: BatchNorm over a batch of feature vectors, like torch.nn.BatchNorm1d.

For x (N, C), per feature c (Ioffe & Szegedy 2015):

    train mode:  out = (x - mean_batch) / sqrt(var_batch + eps) * gamma + beta
                 (var_batch is the biased variance, divided by N) and the running statistics
                 are updated: running = (1 - momentum) * running + momentum * batch_statistic,
                 where PyTorch uses the UNBIASED variance (divided by N - 1) for running_var.
    eval mode:   out = (x - running_mean) / sqrt(running_var + eps) * gamma + beta,
                 running statistics unchanged.

Grade it with `dllab lab check batchnorm`.
"""

from __future__ import annotations

import numpy as np


def batchnorm_forward(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    training: bool,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalise x and return (out, new_running_mean, new_running_var).

    Args:
        x: (N, C). gamma, beta, running_mean, running_var: (C,).
        training: True for train mode, False for eval mode.

    Returns:
        out (N, C) and the running statistics after this call, each (C,).

    TODO: branch on `training`; in train mode also compute the new running statistics.
    """
    raise NotImplementedError("Need to implement for exercise batchnorm")


def batchnorm_backward(
    dout: np.ndarray, x: np.ndarray, gamma: np.ndarray, eps: float = 1e-5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of train-mode BatchNorm: return (dx (N, C), dgamma (C,), dbeta (C,)).

    `dout` is dL/dout (N, C). Remember that the batch mean and variance depend on x.

    TODO: recompute x_hat from x, then apply the chain rule.
    """
    raise NotImplementedError("Need to implement for exercise batchnorm")
