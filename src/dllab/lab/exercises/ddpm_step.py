"""Grader for ddpm_step: DDPM's linear schedule, forward noising and simple loss against torch.

The references, in float64 torch (Ho et al. 2020, eq. 4 and Algorithm 1):

- `alpha_bars`: betas = `torch.linspace(beta_start, beta_end, T)`, alpha_bar =
  `torch.cumprod(1 - betas, 0)`. Steps are indexed from 0: alpha_bar[0] = 1 - betas[0], so the
  noisiest step is T - 1 (diffusers' DDPMScheduler uses the same indexing).
- `q_sample`: sqrt(alpha_bar[t]) * x0 + sqrt(1 - alpha_bar[t]) * eps, with each sample's own t
  broadcast over its image dims; the learner gets the reference alpha_bar, so a schedule
  mistake cannot hide one here.
- `noise_loss`: `F.mse_loss(eps_hat, eps)`, the mean over every element.

betas are large (up to 0.2) and T small, so alpha and alpha_bar, t and t - 1 differ visibly.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dllab.lab.checks import Case, assert_close, call, text

OFF_BY_ONE = text(
    "Steps are indexed from 0: alpha_bar[t] = prod over s = 0..t of (1 - beta[s]), so "
    "alpha_bar[0] = 1 - beta[0] (np.cumprod does exactly this), and x_t uses alpha_bar[t].",
    "步数从 0 开始编号：alpha_bar[t] = (1 - beta[s]) 在 s = 0..t 上的连乘，"
    "所以 alpha_bar[0] = 1 - beta[0]（np.cumprod 正是如此），x_t 用的是 alpha_bar[t]。",
)
NOT_CUMULATIVE = text(
    "alpha_bar is the CUMULATIVE product of alpha = 1 - beta: x_t jumps from x0 over t steps "
    "at once, so it needs all of them, not the alpha of step t alone.",
    "alpha_bar 是 alpha = 1 - beta 的累积乘积：x_t 是从 x0 一次跳过 t 步得到的，"
    "需要所有这些步，而不只是第 t 步的 alpha。",
)
NO_SQRT = text(
    "The coefficients are square roots: sqrt(alpha_bar) * x0 + sqrt(1 - alpha_bar) * eps, so "
    "that the variance stays 1 (alpha_bar + (1 - alpha_bar) = 1).",
    "系数要开平方：sqrt(alpha_bar) * x0 + sqrt(1 - alpha_bar) * eps，"
    "这样方差保持为 1（alpha_bar + (1 - alpha_bar) = 1）。",
)
NOT_BROADCAST = text(
    "Each sample has its own t: pick alpha_bar[t] (N,) and reshape it to (N, 1, 1, ...) so it "
    "multiplies every element of its own sample.",
    "每个样本有自己的 t：取 alpha_bar[t] (N,)，再 reshape 成 (N, 1, 1, ...)，"
    "让它乘上对应样本的每个元素。",
)
LOSS_SUM = text(
    "The simple loss is the MEAN of (eps - eps_hat)^2 over every element, as F.mse_loss.",
    "简化损失是 (eps - eps_hat)^2 在所有元素上的平均，与 F.mse_loss 一样。",
)
LOSS_NOSQ = text(
    "Square the differences: (eps - eps_hat)^2, not their absolute values.",
    "差值要平方：(eps - eps_hat)^2，而不是取绝对值。",
)


def _q(x0, ab, eps, root=np.sqrt):
    ab = ab.reshape((-1,) + (1,) * (x0.ndim - 1))
    return root(ab) * x0 + root(1 - ab) * eps


def make_case(index: int, rng: np.random.Generator) -> Case:
    T = 8 if index == 0 else int(rng.integers(3, 21))
    beta_start = float(rng.uniform(1e-3, 0.02))
    beta_end = float(rng.uniform(0.05, 0.2))
    n = int(rng.integers(2, 7))
    shape = (n, int(rng.integers(1, 4)), 3, 3) if index % 2 == 0 else (n, int(rng.integers(2, 9)))
    x0 = rng.uniform(-1.0, 1.0, size=shape)  # images scaled to [-1, 1]
    eps = rng.normal(size=shape)
    t = rng.integers(1, T, size=n)  # t = 0 would hide an off-by-one
    eps_hat = eps + rng.normal(size=shape) * 0.5

    def check(module):
        betas = torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
        ref_ab = torch.cumprod(1 - betas, 0).numpy()
        alphas = 1 - betas.numpy()
        shifted = np.concatenate([[1.0], ref_ab[:-1]])  # the product up to t - 1
        got = call(module, "alpha_bars", beta_start, beta_end, T)
        assert_close("alpha_bar", got, ref_ab,
                     mistakes=[(shifted, OFF_BY_ONE), (alphas, NOT_CUMULATIVE)])  # fmt: skip
        x0t, epst = torch.tensor(x0), torch.tensor(eps)
        ab = torch.tensor(ref_ab)[torch.tensor(t)].reshape((-1,) + (1,) * (x0.ndim - 1))
        ref = (ab.sqrt() * x0t + (1 - ab).sqrt() * epst).numpy()
        got = call(module, "q_sample", x0.copy(), t.copy(), eps.copy(), ref_ab.copy())
        mistakes = [(_q(x0, ref_ab[t - 1], eps), OFF_BY_ONE),
                    (_q(x0, alphas[t], eps), NOT_CUMULATIVE),
                    (_q(x0, ref_ab[t], eps, root=lambda v: v), NO_SQRT)]  # fmt: skip
        assert_close("x_t", got, ref, hint=NOT_BROADCAST, mistakes=mistakes)
        ref_loss = F.mse_loss(torch.tensor(eps_hat), epst).item()
        got = call(module, "noise_loss", eps.copy(), eps_hat.copy())
        assert_close("loss", got, ref_loss,
                     mistakes=[(np.sum((eps - eps_hat) ** 2), LOSS_SUM),
                               (np.sum((eps - eps_hat) ** 2) / n, LOSS_SUM),
                               (np.mean(np.abs(eps - eps_hat)), LOSS_NOSQ)])  # fmt: skip

    return Case(
        text(
            f"betas linear from {beta_start:.4g} to {beta_end:.4g}, T {T}; x0 and eps {shape}, "
            f"t ({n},) in [1, {T - 1}]",
            f"betas 从 {beta_start:.4g} 线性增至 {beta_end:.4g}，T {T}；x0 与 eps {shape}，"
            f"t ({n},) 取值 [1, {T - 1}]",
        ),
        check,
    )
