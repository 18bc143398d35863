"""Exercise reparam_kl: the VAE's reparameterisation trick and its KL term, in NumPy.

A VAE's encoder outputs, for each sample, the mean mu and the log-variance logvar = log sigma^2
of a diagonal Gaussian q(z | x) (Kingma & Welling 2014, "Auto-Encoding Variational Bayes").

- Reparameterisation: z = mu + sigma * eps with sigma = exp(logvar / 2) and eps ~ N(0, I)
  given. The randomness sits in eps, so gradients flow to mu and logvar.
- KL term of the ELBO, against the prior N(0, I), in closed form for each latent dim:
      KL = 0.5 * (mu^2 + sigma^2 - 1 - log sigma^2)
  summed over the latent dims, then averaged over the batch (a float, never negative).

The references are torch's: `Normal(mu, exp(0.5 * logvar))` with this eps, and
`torch.distributions.kl_divergence(q, Normal(0, 1)).sum(1).mean()`. NumPy only: torch is
refused. Grade it with `dllab lab check reparam_kl`.
"""

from __future__ import annotations

import numpy as np


def reparameterize(mu: np.ndarray, logvar: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """The sample z = mu + sigma * eps, shape (N, D) like mu.

    Example:
        >>> reparameterize(np.array([[0.0, 1.0]]), np.array([[0.0, np.log(4.0)]]),
        ...                np.array([[1.0, 1.0]])).tolist()
        [[1.0, 3.0]]

    TODO: sigma from logvar, then one line.
    """
    raise NotImplementedError("Need to implement for exercise reparam_kl")


def kl_normal(mu: np.ndarray, logvar: np.ndarray) -> float:
    """KL(N(mu, sigma^2) || N(0, I)) summed over the latent dims, averaged over the batch.

    Example:
        >>> kl_normal(np.array([[1.0, 0.0]]), np.array([[0.0, 0.0]]))
        0.5

    TODO: the closed form per dim, a sum over axis 1, a mean over the batch.
    """
    raise NotImplementedError("Need to implement for exercise reparam_kl")
