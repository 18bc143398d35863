"""Grader for softmax_xent: cross-entropy and dL/dlogits against F.cross_entropy and autograd."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dllab.lab.checks import Case, assert_close, call, text, unpack


def make_case(index: int, rng: np.random.Generator) -> Case:
    n, c = (3, 4) if index == 0 else map(int, rng.integers([1, 2], [11, 11]))
    scale = 1000.0 if index % 3 == 1 else float(rng.uniform(0.5, 3))  # large: needs stability
    logits = rng.normal(size=(n, c)) * scale
    targets = rng.integers(0, c, size=n)

    def check(module):
        out = call(module, "cross_entropy", logits.copy(), targets.copy())
        loss, dlogits = unpack("cross_entropy", out, 2)
        z = torch.tensor(logits, requires_grad=True)
        ref = F.cross_entropy(z, torch.tensor(targets))
        ref.backward()
        probs = torch.softmax(z, 1).detach().numpy()
        assert_close(
            "loss",
            loss,
            ref.item(),
            hint=text(
                "loss = mean over rows of -log softmax(logits)[target]; subtract each row's max "
                "before exp.",
                "loss = 各行 -log softmax(logits)[target] 的平均；取 exp 前先减去每行最大值。",
            ),
        )
        assert_close(
            "dlogits",
            dlogits,
            z.grad.numpy(),
            mistakes=[
                (
                    probs / n,
                    text(
                        "Subtract the one-hot target: dL/dlogits = (softmax - one_hot(targets)) / "
                        "N.",
                        "要减去目标的 one-hot：dL/dlogits = (softmax - one_hot(targets)) / N。",
                    ),
                )
            ],
        )

    return Case(
        text(
            f"logits {(n, c)} (scale {scale:g}), targets ({n},)",
            f"logits {(n, c)}（尺度 {scale:g}），targets ({n},)",
        ),
        check,
    )
