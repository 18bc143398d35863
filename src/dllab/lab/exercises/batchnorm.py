"""Grader for batchnorm: forward in train and eval mode and backward, against F.batch_norm."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dllab.lab.checks import Case, Failed, as_array, assert_close, call, text, unpack

EVAL_USES_BATCH = text(
    "In eval mode normalise with running_mean and running_var, not the batch's own statistics: "
    "a prediction must not depend on the other samples of the batch.",
    "评估模式下要用 running_mean 和 running_var 归一化，而不是本 batch 的统计量："
    "一个样本的预测不能依赖同一 batch 里的其他样本。",
)


def _normalise(x, mean, var, gamma, beta, eps):
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def make_case(index: int, rng: np.random.Generator) -> Case:
    n, c = (4, 3) if index == 0 else map(int, rng.integers([2, 1], [11, 7]))
    x = rng.normal(size=(n, c)) * rng.uniform(0.5, 3, size=c) + rng.normal(size=c) * 2
    gamma, beta = rng.uniform(0.5, 2, size=c), rng.normal(size=c)
    running_mean, running_var = rng.normal(size=c), rng.uniform(0.5, 2, size=c)
    momentum, eps = float(rng.choice([0.1, 0.2, 0.05])), 1e-5
    dout = rng.normal(size=(n, c))

    def forward(module, training):
        rm, rv = running_mean.copy(), running_var.copy()
        out = call(
            module,
            "batchnorm_forward",
            x.copy(),
            gamma.copy(),
            beta.copy(),
            rm,
            rv,
            training,
            momentum,
            eps,
        )
        return unpack("batchnorm_forward", out, 3)

    def check(module):
        # eval mode: running statistics are used and left alone
        out, new_mean, new_var = forward(module, False)
        ref = _normalise(x, running_mean, running_var, gamma, beta, eps)
        batch = _normalise(x, x.mean(0), x.var(0), gamma, beta, eps)
        assert_close("out (eval mode)", out, ref, mistakes=[(batch, EVAL_USES_BATCH)])
        keep = text(
            "Eval mode must not update the running statistics: return them unchanged.",
            "评估模式不能更新 running 统计量：原样返回它们。",
        )
        assert_close("running_mean (eval mode)", new_mean, running_mean, hint=keep)
        assert_close("running_var (eval mode)", new_var, running_var, hint=keep)

        # train mode: batch statistics, running statistics updated with momentum
        out, new_mean, new_var = forward(module, True)
        rm, rv = torch.tensor(running_mean), torch.tensor(running_var)
        xt = torch.tensor(x, requires_grad=True)
        g, b = torch.tensor(gamma, requires_grad=True), torch.tensor(beta, requires_grad=True)
        ref = F.batch_norm(xt, rm, rv, g, b, training=True, momentum=momentum, eps=eps)
        assert_close(
            "out (train mode)",
            out,
            ref.detach().numpy(),
            mistakes=[
                (
                    _normalise(x, running_mean, running_var, gamma, beta, eps),
                    text(
                        "In train mode normalise with the batch's mean and variance.",
                        "训练模式下要用本 batch 的均值和方差归一化。",
                    ),
                ),
            ],
        )
        assert_close(
            "running_mean (train mode)",
            new_mean,
            rm.numpy(),
            mistakes=[
                (
                    momentum * running_mean + (1 - momentum) * x.mean(0),
                    text(
                        "running = (1 - momentum) * running + momentum * batch_mean: momentum "
                        "weighs "
                        "the NEW value.",
                        "running = (1 - momentum) * running + momentum * batch_mean：momentum "
                        "是新值的权重。",
                    ),
                ),
            ],
        )
        assert_close(
            "running_var (train mode)",
            new_var,
            rv.numpy(),
            mistakes=[
                (
                    (1 - momentum) * running_var + momentum * x.var(0),
                    text(
                        "PyTorch updates running_var with the unbiased batch variance (divide by N "
                        "- 1); "
                        "only the normalisation uses the biased one.",
                        "PyTorch 用无偏 batch 方差（除以 N - 1）更新 running_var；"
                        "只有归一化用有偏方差。",
                    ),
                ),
            ],
        )

        # backward in train mode
        ref.backward(torch.tensor(dout))
        grads = call(module, "batchnorm_backward", dout.copy(), x.copy(), gamma.copy(), eps)
        dx, dgamma, dbeta = unpack("batchnorm_backward", grads, 3)
        if dbeta is None or not np.any(as_array("dbeta", dbeta)):
            raise Failed(
                text("dbeta is missing", "dbeta 缺失"),
                text(
                    "beta is BatchNorm's bias and gets a gradient too: dbeta = dout.sum(axis=0).",
                    "beta 是 BatchNorm 的偏置，也有梯度：dbeta = dout.sum(axis=0)。",
                ),
            )
        assert_close("dbeta", dbeta, b.grad.numpy())
        assert_close("dgamma", dgamma, g.grad.numpy())
        naive = dout * gamma / np.sqrt(x.var(0) + eps)
        assert_close(
            "dx",
            dx,
            xt.grad.numpy(),
            mistakes=[
                (
                    naive,
                    text(
                        "The batch mean and variance depend on x too: backpropagate through them "
                        "as well, which adds two more terms to dx. `dllab lab hint batchnorm` "
                        "gives the closed form.",
                        "batch 的均值和方差也依赖 x：梯度也要穿过它们，这给 dx 多加了两项。"
                        "`dllab lab hint batchnorm` 给出闭式解。",
                    ),
                )
            ],
        )

    return Case(f"x {(n, c)}, momentum {momentum:g}", check)
