"""Grader for reparam_kl: the VAE's reparameterised sample and KL term against torch.distributions.

The references, in float64 torch:

- `reparameterize`: `Normal(mu, torch.exp(0.5 * logvar)).rsample()` with its noise replaced by
  the given eps, i.e. mu + exp(logvar / 2) * eps (Kingma & Welling 2014, eq. 10).
- `kl_normal`: `kl_divergence(Normal(mu, exp(0.5 * logvar)), Normal(0, 1)).sum(1).mean()`:
  summed over the latent dims (the KL of a diagonal Gaussian is a sum) and averaged over the
  batch, as the ELBO of a batch is.

logvar is drawn on both sides of 0 so that exp(logvar) and exp(logvar / 2) always differ.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.distributions import Normal, kl_divergence

from dllab.lab.checks import Case, assert_close, call, text

VAR_NOT_STD = text(
    "logvar is the log of the VARIANCE sigma^2: sigma = exp(logvar / 2), not exp(logvar).",
    "logvar 是方差 sigma^2 的对数：sigma = exp(logvar / 2)，而不是 exp(logvar)。",
)
LOGVAR_AS_STD = text(
    "Scale eps by sigma = exp(logvar / 2), not by logvar itself: logvar can be negative.",
    "eps 要乘以 sigma = exp(logvar / 2)，而不是 logvar 本身：logvar 可以是负数。",
)
KL_SIGN = text(
    "A KL divergence is never negative: KL = 0.5 * sum(mu^2 + exp(logvar) - 1 - logvar). "
    "The ELBO SUBTRACTS it; the loss (minus the ELBO) adds it.",
    "KL 散度永远非负：KL = 0.5 * sum(mu^2 + exp(logvar) - 1 - logvar)。"
    "ELBO 中减去它；损失（负 ELBO）中加上它。",
)
KL_MEAN_DIMS = text(
    "Sum the KL over the latent dimensions (it is the KL of the whole D-dimensional Gaussian), "
    "then average over the batch only.",
    "KL 要在潜变量维度上求和（它是整个 D 维高斯的 KL），然后只在 batch 上平均。",
)
KL_SUM_BATCH = text(
    "Average over the batch, do not sum over it: the loss of a batch is the mean of its "
    "samples' losses.",
    "要在 batch 上取平均，而不是求和：一个 batch 的损失是各样本损失的平均。",
)
KL_VAR = text(
    "In the KL, exp(logvar) is sigma^2 (the variance): 0.5 * (mu^2 + sigma^2 - 1 - log sigma^2).",
    "KL 中的 exp(logvar) 就是 sigma^2（方差）：0.5 * (mu^2 + sigma^2 - 1 - log sigma^2)。",
)


def _kl_terms(mu, logvar):
    q = Normal(torch.tensor(mu), torch.exp(0.5 * torch.tensor(logvar)))
    return kl_divergence(q, Normal(0.0, 1.0)).numpy()  # (N, D)


def make_case(index: int, rng: np.random.Generator) -> Case:
    n, d = (4, 3) if index == 0 else map(int, rng.integers([2, 2], [9, 9]))
    mu = rng.normal(size=(n, d)) * rng.uniform(0.5, 2.0)
    logvar = rng.uniform(-3.0, 2.0, size=(n, d))
    logvar[np.abs(logvar) < 0.1] += 0.5  # near 0, sigma^2 and sigma nearly agree
    eps = rng.normal(size=(n, d))

    def check(module):
        got = call(module, "reparameterize", mu.copy(), logvar.copy(), eps.copy())
        std = np.exp(0.5 * logvar)
        dist = Normal(torch.tensor(mu), torch.tensor(std))
        ref = (dist.loc + dist.scale * torch.tensor(eps)).numpy()  # rsample with this eps
        assert_close("z", got, ref,
                     mistakes=[(mu + np.exp(logvar) * eps, VAR_NOT_STD),
                               (mu + logvar * eps, LOGVAR_AS_STD)])  # fmt: skip
        got = call(module, "kl_normal", mu.copy(), logvar.copy())
        terms = _kl_terms(mu, logvar)
        wrong_var = 0.5 * (mu**2 + np.exp(0.5 * logvar) - 1 - logvar)
        assert_close("kl", got, terms.sum(1).mean(),
                     mistakes=[(-terms.sum(1).mean(), KL_SIGN),
                               (terms.mean(), KL_MEAN_DIMS),
                               (terms.sum(), KL_SUM_BATCH),
                               (wrong_var.sum(1).mean(), KL_VAR)])  # fmt: skip

    return Case(
        text(
            f"mu, logvar and eps ({n}, {d}); logvar in [{logvar.min():.2f}, {logvar.max():.2f}]",
            f"mu、logvar 与 eps ({n}, {d})；logvar 取值 [{logvar.min():.2f}, {logvar.max():.2f}]",
        ),
        check,
    )
