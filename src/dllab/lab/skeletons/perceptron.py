"""Exercise perceptron: Rosenblatt's perceptron learning rule (1958), in NumPy.

A perceptron classifies x as +1 when w . x + b > 0 and as -1 otherwise. It learns one sample
at a time: when sample (x, y), y in {-1, +1}, is on the wrong side of the boundary or on it
(y * (w . x + b) <= 0), it moves the boundary towards it:

    w = w + lr * y * x,    b = b + lr * y

and it leaves w and b alone when the sample is classified correctly. Start from w = 0, b = 0
and visit the samples in their order, `epochs` times. On linearly separable data it stops making
mistakes after finitely many (Novikoff 1962). Grade it with `dllab lab check perceptron`
(compared with sklearn.linear_model.Perceptron, shuffle=False).
"""

from __future__ import annotations

import numpy as np


def predict(w: np.ndarray, b: float, X: np.ndarray) -> np.ndarray:
    """Return +1 where w . x + b > 0 and -1 elsewhere (on the boundary too): X (N, D) -> (N,).

    TODO: one matrix-vector product and np.where.
    """
    raise NotImplementedError("Need to implement for exercise perceptron")


def train_perceptron(
    X: np.ndarray, y: np.ndarray, lr: float, epochs: int
) -> tuple[np.ndarray, float, list[int]]:
    """Return (w, b, mistakes) after `epochs` passes over the data.

    Args:
        X: (N, D). y: (N,) labels in {-1, +1}. lr: the step size. epochs: passes (>= 1).

    Returns:
        w (D,), b, and how many updates each epoch made (a list of `epochs` ints).

    Example:
        >>> train_perceptron(np.array([[1.0], [-1.0]]), np.array([1, -1]), 1.0, 2)
        (array([2.]), 0.0, [2, 0])

    TODO: two loops, epochs then samples; update only on a mistake, and count it.
    """
    raise NotImplementedError("Need to implement for exercise perceptron")
