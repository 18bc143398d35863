"""Grader for dropout: inverted dropout with given uniforms, in train and eval mode.

PyTorch's random stream cannot be reproduced in NumPy, so the uniforms `u` are an argument
and the expected output follows the definition F.dropout implements: keep where u >= p,
scale what is kept by 1 / (1 - p).
"""

from __future__ import annotations

import numpy as np

from dllab.lab.checks import Case, assert_close, call, text, unpack


def make_case(index: int, rng: np.random.Generator) -> Case:
    shape = tuple(int(s) for s in rng.integers(1, 7, size=int(rng.integers(1, 4))))
    p = 0.0 if index == 4 else float(rng.uniform(0.1, 0.8))
    training = index % 3 != 2
    x, u, dout = rng.normal(size=shape), rng.random(shape), rng.normal(size=shape)

    def check(module):
        out, mask = unpack(
            "dropout_forward", call(module, "dropout_forward", x.copy(), p, training, u.copy()), 2
        )
        keep = (u >= p).astype(float)
        expected_mask = keep / (1 - p) if training else np.ones(shape)
        mode = "train" if training else "eval"
        if training:
            mistakes = [
                (
                    x * keep,
                    text(
                        "Scale what you keep by 1 / (1 - p) (inverted dropout): the expected "
                        "output "
                        "then equals the input, and eval mode needs no rescaling.",
                        "保留下来的值要乘以 1 / (1 - p)（inverted dropout）："
                        "这样输出的期望等于输入，"
                        "评估时不需要再缩放。",
                    ),
                ),
                (
                    x * (u < p) / max(p, 1e-12),
                    text(
                        "p is the probability of DROPPING: keep where u >= p.",
                        "p 是丢弃的概率：在 u >= p 的位置保留。",
                    ),
                ),
            ]
        else:
            mistakes = [
                (
                    x * keep / (1 - p),
                    text(
                        "In eval mode (training=False) dropout is the identity: return x "
                        "unchanged.",
                        "评估模式（training=False）下 dropout 是恒等映射：原样返回 x。",
                    ),
                )
            ]
        assert_close(f"out ({mode} mode)", out, x * expected_mask, mistakes=mistakes)
        assert_close(
            f"mask ({mode} mode)",
            mask,
            expected_mask,
            hint=text(
                "mask is what x is multiplied by: out = x * mask.",
                "mask 就是 x 要乘的东西：out = x * mask。",
            ),
        )
        dx = call(module, "dropout_backward", dout.copy(), np.asarray(mask, dtype=float).copy())
        assert_close(
            "dx",
            dx,
            dout * expected_mask,
            hint=text(
                "out = x * mask, so dx = dout * mask.", "out = x * mask，所以 dx = dout * mask。"
            ),
        )

    return Case(f"x {shape}, p {p:.3g}, training={training}", check)
