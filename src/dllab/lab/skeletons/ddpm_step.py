"""Exercise ddpm_step: DDPM's noise schedule, one forward noising step and its loss, in NumPy.

A diffusion model (Ho et al. 2020, "Denoising Diffusion Probabilistic Models") destroys an image
x0 with Gaussian noise over T steps, with a variance schedule beta[0..T-1] (linear here, from
beta_start to beta_end), and learns to predict the noise. Steps are indexed from 0 to T - 1:

    alpha[t]     = 1 - beta[t]
    alpha_bar[t] = alpha[0] * alpha[1] * ... * alpha[t]          (so alpha_bar[0] = alpha[0])
    x_t          = sqrt(alpha_bar[t]) * x0 + sqrt(1 - alpha_bar[t]) * eps,   eps ~ N(0, I)

x_t comes from x0 in one jump, whatever t. Each sample of a batch has its own t. The network
eps_hat = model(x_t, t) is trained with the simple loss mean((eps - eps_hat)^2).

The references are torch's: `torch.linspace(beta_start, beta_end, T)`, `torch.cumprod(1 -
betas, 0)`, and `F.mse_loss`. NumPy only: torch is refused.
Grade it with `dllab lab check ddpm_step`.
"""

from __future__ import annotations

import numpy as np


def alpha_bars(beta_start: float, beta_end: float, T: int) -> np.ndarray:
    """alpha_bar[t] for t = 0 .. T - 1 of the linear schedule, shape (T,).

    Example:
        >>> alpha_bars(0.1, 0.3, 3).round(4).tolist()
        [0.9, 0.72, 0.504]

    TODO: the betas, the alphas, their cumulative product.
    """
    raise NotImplementedError("Need to implement for exercise ddpm_step")


def q_sample(x0: np.ndarray, t: np.ndarray, eps: np.ndarray, alpha_bar: np.ndarray) -> np.ndarray:
    """x_t for each sample: x0 and eps (N, ...) of any shape, t (N,) integer steps.

    Example:
        >>> q_sample(np.array([[1.0, 1.0]]), np.array([1]), np.array([[0.0, 1.0]]),
        ...          np.array([0.9, 0.64])).round(4).tolist()
        [[0.8, 1.4]]

    TODO: pick each sample's alpha_bar, reshape it to broadcast over the sample, one line.
    """
    raise NotImplementedError("Need to implement for exercise ddpm_step")


def noise_loss(eps: np.ndarray, eps_hat: np.ndarray) -> float:
    """The simple loss: mean of (eps - eps_hat)^2 over every element, a float.

    Example:
        >>> noise_loss(np.array([1.0, -1.0]), np.array([0.0, 0.0]))
        1.0

    TODO: one line.
    """
    raise NotImplementedError("Need to implement for exercise ddpm_step")
