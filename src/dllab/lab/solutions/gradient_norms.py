"""Reference solution of gradient_norms: backpropagation through a deep sigmoid MLP in NumPy."""

from __future__ import annotations

import numpy as np


def layer_gradient_norms(
    x: np.ndarray, y: np.ndarray, weights: list[np.ndarray], biases: list[np.ndarray]
) -> list[float]:
    """Frobenius norms of dL/dW for every layer, first layer first."""
    activations = [x]  # a_0 .. a_{L-1}: the input of each layer
    a = x
    for w, b in zip(weights[:-1], biases[:-1], strict=True):
        a = 1.0 / (1.0 + np.exp(-(a @ w.T + b)))
        activations.append(a)
    out = a @ weights[-1].T + biases[-1]

    grad = 2.0 * (out - y) / y.size  # dL/d(output of the last layer)
    norms = []
    for layer in reversed(range(len(weights))):
        norms.append(float(np.linalg.norm(grad.T @ activations[layer])))  # dL/dW_layer
        if layer > 0:
            s = activations[layer]
            grad = (grad @ weights[layer]) * s * (1.0 - s)  # through the sigmoid: s' = s(1 - s)
    return norms[::-1]


def vanishing_layers(norms: list[float], ratio: float = 1e-3) -> list[int]:
    """Indices of the layers whose norm is below `ratio` times the largest norm."""
    top = max(norms)
    return [i for i, v in enumerate(norms) if v < ratio * top]
