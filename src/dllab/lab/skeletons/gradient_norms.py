"""Exercise gradient_norms: watch gradients vanish in a deep sigmoid network.

The network has L = len(weights) layers (weights laid out like nn.Linear's, (out, in)):

    a = x
    for l in 0 .. L-2:   a = sigmoid(a @ weights[l].T + biases[l])
    out = a @ weights[L-1].T + biases[L-1]           # the last layer is linear
    loss = mean((out - y) ** 2)

Grade it with `dllab lab check gradient_norms`. You may use torch's autograd or NumPy.
"""

from __future__ import annotations

import numpy as np


def layer_gradient_norms(
    x: np.ndarray, y: np.ndarray, weights: list[np.ndarray], biases: list[np.ndarray]
) -> list[float]:
    """Return ||dL/dW_l|| (Frobenius norm) for every layer l, the first layer first.

    Args:
        x: (N, D_0) inputs. y: (N, D_L) targets.
        weights: L arrays, weights[l] of shape (D_{l+1}, D_l). biases: L arrays (D_{l+1},).

    Returns:
        A list of L floats.

    Example:
        >>> norms = layer_gradient_norms(x, y, weights, biases)
        >>> len(norms) == len(weights)
        True

    TODO: run the forward pass, backpropagate (by hand or with loss.backward()), take norms.
    """
    raise NotImplementedError("Need to implement for exercise gradient_norms")


def vanishing_layers(norms: list[float], ratio: float = 1e-3) -> list[int]:
    """Return the 0-based indices of the layers whose gradient norm is below ratio * max(norms).

    Example:
        >>> vanishing_layers([1e-7, 1e-4, 0.5], ratio=1e-3)
        [0, 1]

    TODO: one line is enough.
    """
    raise NotImplementedError("Need to implement for exercise gradient_norms")
