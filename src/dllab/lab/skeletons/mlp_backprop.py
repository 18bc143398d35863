"""Exercise mlp_backprop: the forward and backward pass of a 2-layer MLP, by hand, in NumPy.

The network (weights are laid out like torch.nn.Linear's, (out_features, in_features)):

    z1 = x @ W1.T + b1              # (N, H)
    h = relu(z1)                    # (N, H)
    y_hat = h @ W2.T + b2           # (N, O)
    loss = mean((y_hat - y) ** 2)   # over all N * O numbers, like nn.MSELoss()

Grade it with `dllab lab check mlp_backprop`: the grader compares with torch.autograd on
random shapes. Stuck? `dllab lab hint mlp_backprop`.
"""

from __future__ import annotations

import numpy as np


def mlp_loss_and_grads(
    x: np.ndarray, y: np.ndarray, W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray
) -> tuple[float, dict[str, np.ndarray]]:
    """Return the loss and its gradient with respect to every parameter.

    Args:
        x: inputs, (N, D). y: targets, (N, O).
        W1: (H, D). b1: (H,). W2: (O, H). b2: (O,).

    Returns:
        (loss, grads): `loss` is a float; `grads` maps "W1", "b1", "W2" and "b2" to dL/dparam,
        each with the shape of its parameter.

    Example:
        >>> loss, grads = mlp_loss_and_grads(x, y, W1, b1, W2, b2)
        >>> grads["W1"].shape == W1.shape
        True

    TODO: run the forward pass and keep z1 and h; then apply the chain rule backwards:
    dL/dy_hat first, then W2 and b2, then through the ReLU to W1 and b1.
    """
    raise NotImplementedError("Need to implement for exercise mlp_backprop")
