"""Reference solution of mlp_backprop: a 2-layer MLP's backward pass by the chain rule."""

from __future__ import annotations

import numpy as np


def mlp_loss_and_grads(
    x: np.ndarray, y: np.ndarray, W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray
) -> tuple[float, dict[str, np.ndarray]]:
    """Loss of relu(x W1^T + b1) W2^T + b2 against y (MSE) and its gradients."""
    z1 = x @ W1.T + b1  # (N, H)
    h = np.maximum(z1, 0.0)  # (N, H)
    y_hat = h @ W2.T + b2  # (N, O)
    loss = float(np.mean((y_hat - y) ** 2))

    d_y_hat = 2.0 * (y_hat - y) / y.size  # d mean(e^2) / d e = 2 e / (N * O)
    d_W2 = d_y_hat.T @ h  # (O, H)
    d_b2 = d_y_hat.sum(axis=0)  # a bias touches every row of the batch
    d_h = d_y_hat @ W2  # (N, H)
    d_z1 = d_h * (z1 > 0)  # relu'(z) = 1 where z > 0, else 0
    d_W1 = d_z1.T @ x  # (H, D)
    d_b1 = d_z1.sum(axis=0)
    return loss, {"W1": d_W1, "b1": d_b1, "W2": d_W2, "b2": d_b2}
