"""Reference solution of batchnorm: train/eval forward and the train-mode backward pass."""

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
    """BatchNorm1d on (N, C): returns out and the running statistics after the call."""
    if not training:
        out = (x - running_mean) / np.sqrt(running_var + eps) * gamma + beta
        return out, running_mean, running_var
    n = x.shape[0]
    mean, var = x.mean(axis=0), x.var(axis=0)  # biased variance normalises
    out = (x - mean) / np.sqrt(var + eps) * gamma + beta
    new_mean = (1 - momentum) * running_mean + momentum * mean
    new_var = (1 - momentum) * running_var + momentum * var * n / (n - 1)  # unbiased, as torch
    return out, new_mean, new_var


def batchnorm_backward(
    dout: np.ndarray, x: np.ndarray, gamma: np.ndarray, eps: float = 1e-5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dL/dx, dL/dgamma, dL/dbeta of train-mode BatchNorm1d."""
    std = np.sqrt(x.var(axis=0) + eps)
    x_hat = (x - x.mean(axis=0)) / std  # (N, C)
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    g = dout * gamma  # dL/dx_hat
    # mean and variance depend on x: their paths subtract g's mean and its projection on x_hat
    dx = (g - g.mean(axis=0) - x_hat * (g * x_hat).mean(axis=0)) / std
    return dx, dgamma, dbeta
