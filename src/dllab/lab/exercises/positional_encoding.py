"""Grader for positional_encoding: a decoder's causal mask and the sinusoidal encoding."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dllab.lab.checks import Case, Failed, assert_close, call, require_tensor, text


def _pe(t: int, d: int, *, swap=False, exponent_i=False, halves=False) -> np.ndarray:
    pos = np.arange(t)[:, None]
    i = np.arange(d // 2)[None, :]
    angle = pos / 10000 ** ((i if exponent_i else 2 * i) / d)  # (T, d/2)
    first, second = (np.cos(angle), np.sin(angle)) if swap else (np.sin(angle), np.cos(angle))
    if halves:
        return np.concatenate([first, second], axis=1)
    pe = np.empty((t, d))
    pe[:, 0::2], pe[:, 1::2] = first, second
    return pe


def make_case(index: int, rng: np.random.Generator) -> Case:
    t = int(rng.integers(2, 13))
    d = 2 * int(rng.integers(1, 17))

    def check(module):
        mask = require_tensor(f"causal_mask({t})", call(module, "causal_mask", t))
        if mask.dtype != torch.bool:
            raise Failed(
                text(
                    f"causal_mask({t}) should have dtype torch.bool, got {mask.dtype}",
                    f"causal_mask({t}) 的 dtype 应为 torch.bool，实际为 {mask.dtype}",
                ),
                text(
                    "True = may attend, as in F.scaled_dot_product_attention.",
                    "True 表示可以关注，与 F.scaled_dot_product_attention 相同。",
                ),
            )
        blocked = nn.Transformer.generate_square_subsequent_mask(t, dtype=torch.float64)
        ref = (blocked == 0).numpy()  # torch's float mask: 0 where attending is allowed
        assert_close(
            f"causal_mask({t})",
            mask,
            ref,
            mistakes=[
                (
                    ref.T,
                    text(
                        "Query i may see keys j <= i (the past), never j > i (the future).",
                        "query i 只能看到 j <= i 的 key（过去），不能看到 j > i（未来）。",
                    ),
                ),
                (
                    np.tril(np.ones((t, t)), -1),
                    text(
                        "A position may attend to itself: keep the diagonal.",
                        "一个位置可以关注它自己：保留对角线。",
                    ),
                ),
            ],
        )
        pe = require_tensor(
            f"sinusoidal_positional_encoding({t}, {d})",
            call(module, "sinusoidal_positional_encoding", t, d),
        )
        assert_close(
            f"sinusoidal_positional_encoding({t}, {d})",
            pe,
            _pe(t, d),
            rtol=1e-4,
            atol=1e-5,
            mistakes=[
                (
                    _pe(t, d, swap=True),
                    text(
                        "sin on the even columns, cos on the odd ones.",
                        "偶数列用 sin，奇数列用 cos。",
                    ),
                ),
                (
                    _pe(t, d, exponent_i=True),
                    text(
                        "The exponent is 2i / d, where 2i is the even column index.",
                        "指数是 2i / d，2i 是偶数列的下标。",
                    ),
                ),
                (
                    _pe(t, d, halves=True),
                    text(
                        "Interleave: column 2i is a sine and column 2i + 1 the matching cosine, "
                        "not all sines then all cosines.",
                        "交错排列：第 2i 列是正弦，第 2i + 1 列是对应的余弦；"
                        "而不是先全部正弦再全部余弦。",
                    ),
                ),
            ],
        )

    return Case(f"T {t}, d_model {d}", check)
