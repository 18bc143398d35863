"""Exercise gradient_penalty: WGAN-GP's gradient penalty for a small critic, in NumPy.

WGAN-GP (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs") keeps the critic
1-Lipschitz by penalising its input gradient where it matters: on random points between real
and fake samples. With one eps per sample (shape (N, 1), drawn uniform in [0, 1] by the caller):

    x_hat   = eps * real + (1 - eps) * fake                   # (N, D) interpolates
    g       = d critic(x_hat) / d x_hat                       # (N, D), one gradient per sample
    penalty = lam * mean over the batch of (||g_i||_2 - 1)^2  # the L2 norm of each ROW

The critic here is one hidden tanh layer, so you can write its gradient by hand:

    score(x) = w2 . tanh(W1 x + b1) + b2     W1 (H, D), b1 (H,), w2 (H,), b2 a float

The references are torch's autograd (`torch.autograd.grad`) on the same critic, in float64.
Samples are flat vectors (flatten images first). NumPy only: torch is refused.
Grade it with `dllab lab check gradient_penalty`.
"""

from __future__ import annotations

import numpy as np


def critic_input_grad(x: np.ndarray, W1: np.ndarray, b1: np.ndarray, w2: np.ndarray) -> np.ndarray:
    """The gradient of each sample's score with respect to that sample, shape (N, D) like x.

    Example:
        >>> W1 = np.array([[1.0, 0.0], [0.0, 2.0]])
        >>> critic_input_grad(np.zeros((1, 2)), W1, np.zeros(2), np.ones(2)).tolist()
        [[1.0, 2.0]]

    TODO: the hidden activations, the tanh's derivative 1 - h^2, then back through W1.
    """
    raise NotImplementedError("Need to implement for exercise gradient_penalty")


def gradient_penalty(
    real: np.ndarray,
    fake: np.ndarray,
    eps: np.ndarray,
    W1: np.ndarray,
    b1: np.ndarray,
    w2: np.ndarray,
    b2: float,
    lam: float,
) -> float:
    """WGAN-GP's penalty lam * mean((||grad at x_hat||_2 - 1)^2), a float.

    Args:
        real, fake: (N, D) samples; eps: (N, 1) interpolation weights of the real samples.
        W1, b1, w2, b2: the critic's weights; lam: the penalty's weight (the paper's 10).

    Example:
        >>> W1 = np.array([[1.0, 0.0], [0.0, 2.0]])
        >>> x = np.zeros((1, 2))
        >>> round(gradient_penalty(x, x, np.array([[0.5]]), W1, np.zeros(2), np.ones(2), 0.0,
        ...                        10.0), 4)
        15.2786

    TODO: interpolate, take the gradient there, one norm per row, then the penalty.
    """
    raise NotImplementedError("Need to implement for exercise gradient_penalty")
