"""Grader for gradient_penalty: WGAN-GP's penalty and the critic's input gradient against autograd.

The critic is one hidden tanh layer, score(x) = w2 . tanh(W1 x + b1) + b2 (Gulrajani et al.
2017 use any critic; a small one keeps the gradient writable by hand). The references, in
float64 torch:

- `critic_input_grad`: `torch.autograd.grad(score.sum(), x)` (each score depends on its own row
  only, so the sum's gradient is every sample's gradient).
- `gradient_penalty`: x_hat = eps * real + (1 - eps) * fake with one eps per sample (N, 1);
  lam * ((grad.norm(2, dim=1) - 1) ** 2).mean(), the gradient taken at x_hat.

The weights are scaled so that the gradient norms are of order 1, where a missing square or a
missing lam changes the number.
"""

from __future__ import annotations

import numpy as np
import torch

from dllab.lab.checks import Case, as_array, assert_close, call, text

NO_TANH_GRAD = text(
    "The gradient passes through the tanh: multiply by its derivative 1 - tanh(z)^2 (z the "
    "hidden pre-activation at x), then by W1.",
    "梯度要穿过 tanh：乘上它的导数 1 - tanh(z)^2（z 是 x 处隐藏层的激活前值），再乘以 W1。",
)
TRANSPOSED = text(
    "The gradient with respect to x has x's shape (N, D): after the tanh's derivative, "
    "multiply by W1 (H, D), (w2 * (1 - h^2)) @ W1, to go back from the hidden units to the "
    "inputs.",
    "对 x 的梯度与 x 形状相同 (N, D)：乘完 tanh 的导数后，还要乘以 W1 (H, D)，"
    "即 (w2 * (1 - h^2)) @ W1，才能从隐藏单元回到输入。",
)
BATCH_NORM = text(
    "Take one L2 norm PER SAMPLE (over the features, axis=1), then average (norm - 1)^2 over "
    "the batch: the 1-Lipschitz constraint holds at each point, not for the batch as a whole.",
    "要对每个样本分别取 L2 范数（在特征维上，axis=1），再对 batch 平均 (norm - 1)^2："
    "1-Lipschitz 约束针对每个点，而不是整个 batch。",
)
NO_SQUARE = text(
    "The penalty is the SQUARED distance of the norm from 1: (||grad|| - 1)^2, averaged.",
    "惩罚是范数与 1 之差的平方：(||grad|| - 1)^2，再取平均。",
)
AT_REAL = text(
    "Take the gradient at the interpolates x_hat = eps * real + (1 - eps) * fake, not at the "
    "real (or fake) samples: WGAN-GP constrains the critic on the lines between them.",
    "梯度要在插值点 x_hat = eps * real + (1 - eps) * fake 处计算，而不是在真实（或生成）样本处："
    "WGAN-GP 约束的是两者之间连线上的 critic。",
)
SWAPPED_EPS = text(
    "eps weighs the REAL sample: x_hat = eps * real + (1 - eps) * fake.",
    "eps 是真实样本的权重：x_hat = eps * real + (1 - eps) * fake。",
)
NO_LAMBDA = text(
    "Multiply by lam (the paper uses 10): the penalty's weight against the Wasserstein term.",
    "要乘以 lam（论文用 10）：惩罚项相对于 Wasserstein 项的权重。",
)


def _grad(x, W1, b1, w2, b2):
    xt = torch.tensor(x, requires_grad=True)
    score = torch.tanh(xt @ torch.tensor(W1).T + torch.tensor(b1)) @ torch.tensor(w2) + b2
    (g,) = torch.autograd.grad(score.sum(), xt)
    return g.numpy()


def _penalty(real, fake, eps, W1, b1, w2, b2, lam, *, at=None, norm="row", square=True):
    """The penalty by autograd, with a known mistake switched on."""
    x = eps * real + (1 - eps) * fake if at is None else at
    g = torch.tensor(_grad(x, W1, b1, w2, b2))
    norms = g.norm(2, dim=1) if norm == "row" else g.norm(2).reshape(1)
    gap = norms - 1
    return float(lam * (gap**2 if square else gap.abs()).mean())


def make_case(index: int, rng: np.random.Generator) -> Case:
    n, d, h = (4, 3, 5) if index == 0 else map(int, rng.integers([2, 2, 2], [9, 9, 9]))
    W1 = rng.normal(size=(h, d)) * rng.uniform(0.3, 1.2)
    b1 = rng.normal(size=h) * 0.5
    w2 = rng.normal(size=h) * rng.uniform(0.5, 1.5)
    b2 = float(rng.normal())
    real, fake = rng.normal(size=(n, d)), rng.normal(size=(n, d)) + 1.0
    eps = rng.uniform(size=(n, 1))
    lam = float(rng.choice([10.0, 5.0, 2.0]))
    x_hat = eps * real + (1 - eps) * fake
    args = (W1, b1, w2, b2)

    def check(module):
        got = call(module, "critic_input_grad", x_hat.copy(), W1.copy(), b1.copy(), w2.copy())
        hp = np.tanh(x_hat @ W1.T + b1)
        wrong_shape = h != d and as_array("critic_input_grad", got).shape == (n, h)
        assert_close("critic_input_grad", got, _grad(x_hat, *args),
                     hint=TRANSPOSED if wrong_shape else None,
                     mistakes=[(np.broadcast_to(w2 @ W1, x_hat.shape), NO_TANH_GRAD),
                               ((w2 * (1 - hp)) @ W1, NO_TANH_GRAD)])  # fmt: skip
        got = call(module, "gradient_penalty", real.copy(), fake.copy(), eps.copy(), W1.copy(),
                   b1.copy(), w2.copy(), b2, lam)  # fmt: skip
        p = lambda **kw: _penalty(real, fake, eps, *args, lam, **kw)  # noqa: E731
        mistakes = [
            (p(norm="batch"), BATCH_NORM),
            (p(square=False), NO_SQUARE),
            (p(at=real), AT_REAL),
            (p(at=fake), AT_REAL),
            (p(at=(1 - eps) * real + eps * fake), SWAPPED_EPS),
            (p() / lam, NO_LAMBDA),
        ]
        assert_close("gradient_penalty", got, p(), mistakes=mistakes)

    return Case(
        text(
            f"real and fake ({n}, {d}), eps ({n}, 1); critic W1 ({h}, {d}), b1 ({h},), "
            f"w2 ({h},), b2; lam {lam:g}",
            f"real 与 fake ({n}, {d})，eps ({n}, 1)；critic W1 ({h}, {d})，b1 ({h},)，"
            f"w2 ({h},)，b2；lam {lam:g}",
        ),
        check,
    )
