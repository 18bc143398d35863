"""Grader for weight_decay: SGD with L2 and AdamW, step for step against torch.optim."""

from __future__ import annotations

import numpy as np
import torch

from dllab.lab.checks import Case, assert_close, call, text, unpack


def _torch_run(opt_cls, w0, grads, **kw) -> list[np.ndarray]:
    w = torch.nn.Parameter(torch.tensor(w0))
    opt = opt_cls([w], **kw)
    out = []
    for g in grads:
        w.grad = torch.tensor(g)
        opt.step()
        out.append(w.detach().numpy().copy())
    return out


def _adam(w, grads, lr, betas, eps, wd, *, coupled=False, bias_correction=True, decay_after=False):
    m, v, out = np.zeros_like(w), np.zeros_like(w), []
    for t, g in enumerate(grads, start=1):
        if coupled:
            g = g + wd * w
        elif not decay_after:
            w = w * (1 - lr * wd)
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        mh, vh = (m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)) if bias_correction else (m, v)
        w = w - lr * mh / (np.sqrt(vh) + eps)
        if decay_after and not coupled:
            w = w * (1 - lr * wd)
        out.append(w)
    return out


def make_case(index: int, rng: np.random.Generator) -> Case:
    shape = tuple(int(s) for s in rng.integers(1, 6, size=int(rng.integers(1, 3))))
    steps = int(rng.integers(3, 7))
    lr, wd = float(rng.uniform(0.01, 0.1)), float(rng.uniform(0.05, 0.5))
    betas, eps = (float(rng.uniform(0.8, 0.95)), float(rng.uniform(0.9, 0.999))), 1e-8
    w0 = rng.normal(size=shape)
    grads = [rng.normal(size=shape) for _ in range(steps)]

    def check(module):
        ref = _torch_run(torch.optim.SGD, w0, grads, lr=lr, weight_decay=wd)
        w = w0.copy()
        for k, g in enumerate(grads):
            w = call(module, "sgd_step", w.copy(), g.copy(), lr, wd)
            wrong = (ref[k - 1] if k else w0) - lr * (g - wd * (ref[k - 1] if k else w0))
            assert_close(
                f"w after SGD step {k + 1}",
                w,
                ref[k],
                mistakes=[
                    (
                        wrong,
                        text(
                            "The L2 term adds +weight_decay * w to the gradient: it pulls w "
                            "towards 0.",
                            "L2 项给梯度加上 +weight_decay * w：它把 w 拉向 0。",
                        ),
                    )
                ],
            )
            w = ref[k]  # an error does not snowball: each step starts from torch's weights
        ref = _torch_run(torch.optim.AdamW, w0, grads, lr=lr, betas=betas, eps=eps, weight_decay=wd)
        variants = [
            (
                dict(coupled=True),
                text(
                    "AdamW decouples the decay from the gradient (Loshchilov & Hutter 2019): "
                    "w *= 1 - lr * weight_decay, then the Adam step with the plain gradient. "
                    "Adding weight_decay * w to the gradient is Adam with L2.",
                    "AdamW 把衰减和梯度解耦（Loshchilov 与 Hutter 2019）：先 w *= 1 - lr * "
                    "weight_decay，"
                    "再用原始梯度做 Adam 更新。把 weight_decay * w 加到梯度上是 Adam + L2。",
                ),
            ),
            (
                dict(bias_correction=False),
                text(
                    "Correct the bias of m and v: m_hat = m / (1 - beta1**t), v_hat = v / (1 - "
                    "beta2**t), "
                    "with t starting at 1.",
                    "要做偏差修正：m_hat = m / (1 - beta1**t)，v_hat = v / (1 - beta2**t)，t 从 1 "
                    "开始。",
                ),
            ),
            (
                dict(decay_after=True),
                text(
                    "PyTorch decays before the Adam step: w *= 1 - lr * weight_decay first.",
                    "PyTorch 在 Adam 更新之前做衰减：先 w *= 1 - lr * weight_decay。",
                ),
            ),
        ]
        alts = [(_adam(w0, grads, lr, betas, eps, wd, **kw), why) for kw, why in variants]
        w, m, v = w0.copy(), np.zeros(shape), np.zeros(shape)
        for k, g in enumerate(grads):
            out = call(module, "adamw_step", w, g.copy(), m, v, k + 1, lr, betas, eps, wd)
            w, m, v = (np.asarray(a, dtype=float) for a in unpack("adamw_step", out, 3))
            assert_close(
                f"w after AdamW step {k + 1}",
                w,
                ref[k],
                mistakes=[(alt[k], why) for alt, why in alts],
            )

    settings = [f"lr {lr:.3g}", f"weight_decay {wd:.3g}", f"betas ({betas[0]:.3g}, {betas[1]:.3g})"]
    return Case(
        text(
            ", ".join([f"w {shape}", f"{steps} steps", *settings]),
            "，".join([f"w {shape}", f"{steps} 步", *settings]),
        ),
        check,
    )
