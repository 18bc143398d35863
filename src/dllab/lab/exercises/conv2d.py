"""Grader for conv2d: output size, im2col (= F.unfold) and conv2d (= F.conv2d)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dllab.lab.checks import Case, Failed, as_int, assert_close, call, text

FORMULA = text(  # the concept, not the formula: that is `dllab lab hint conv2d`, counted
    "Count the positions where the window fits entirely on the padded axis, moving `stride` at "
    "a time; the first position counts too.",
    "数一数窗口在填充后的轴上能完整放下的位置，每次移动 `stride`；第一个位置也要算上。",
)


def _size(size: int, k: int, s: int, p: int) -> int:
    return (size + 2 * p - k) // s + 1


def _check_size(module, size, k, s, p) -> None:
    got = as_int(
        f"conv_output_size({size}, {k}, {s}, {p})",
        call(module, "conv_output_size", size, k, s, p),
        FORMULA,
    )
    expected = _size(size, k, s, p)
    if got != expected:
        off = text(" (off by one)", "（差了一）") if abs(got - expected) == 1 else text("", "")
        raise Failed(
            text(
                f"conv_output_size(size={size}, kernel_size={k}, stride={s}, padding={p}) "
                f"returned {got}, expected {expected}{off['en']}",
                f"conv_output_size(size={size}, kernel_size={k}, stride={s}, padding={p}) "
                f"返回 {got}，应为 {expected}{off['zh']}",
            ),
            FORMULA,
        )


def make_case(index: int, rng: np.random.Generator) -> Case:
    n, c, o = (int(v) for v in rng.integers(1, [4, 5, 6]))
    stride, padding = (2, 1) if index == 0 else (int(rng.integers(1, 4)), int(rng.integers(0, 3)))
    h, w = (int(v) for v in rng.integers(3, 12, size=2))
    kh, kw = (int(rng.integers(1, min(5, d + 2 * padding) + 1)) for d in (h, w))
    x = rng.normal(size=(n, c, h, w))
    weight = rng.normal(size=(o, c, kh, kw)) / np.sqrt(c * kh * kw)
    bias = None if index % 3 == 2 else rng.normal(size=o)
    sizes = [
        (
            int(rng.integers(1, 30)),
            int(rng.integers(1, 6)),
            int(rng.integers(1, 5)),
            int(rng.integers(0, 4)),
        )
        for _ in range(8)
    ]
    sizes = [(max(sz, k - 2 * p), k, s, p) for sz, k, s, p in sizes]

    def check(module):
        _check_size(module, h, kh, stride, padding)
        for args in sizes:
            _check_size(module, *args)
        xt = torch.tensor(x)
        ref_cols = F.unfold(xt, (kh, kw), padding=padding, stride=stride).numpy()
        cols = call(module, "im2col", x.copy(), (kh, kw), stride, padding)
        assert_close(
            "im2col(x)",
            cols,
            ref_cols,
            hint=text(
                "cols[n, c * kh * kw + i * kw + j, l] is channel c at kernel offset (i, j) of the "
                "l-th window (windows in row-major order), like torch.nn.functional.unfold.",
                "cols[n, c * kh * kw + i * kw + j, l] 是第 l 个窗口（按行优先排列）里通道 c "
                "在核内偏移 "
                "(i, j) 处的值，与 torch.nn.functional.unfold 相同。",
            ),
        )
        wt, bt = torch.tensor(weight), None if bias is None else torch.tensor(bias)
        ref = F.conv2d(xt, wt, bt, stride=stride, padding=padding).numpy()
        flipped = F.conv2d(xt, wt.flip(-1, -2), bt, stride=stride, padding=padding).numpy()
        args = (x.copy(), weight.copy(), None if bias is None else bias.copy(), stride, padding)
        assert_close(
            "conv2d(x, weight, bias)",
            call(module, "conv2d", *args),
            ref,
            hint=FORMULA,
            mistakes=[
                (
                    flipped,
                    text(
                        "Do not flip the kernel: deep learning's convolution is a "
                        "cross-correlation.",
                        "不要翻转卷积核：深度学习里的卷积其实是互相关。",
                    ),
                )
            ],
        )

    parts = [f"x {(n, c, h, w)}", f"weight {(o, c, kh, kw)}", f"stride {stride}"]
    parts.append(f"padding {padding}")
    if bias is not None:
        return Case(", ".join(parts), check)  # only names and numbers
    return Case(text(", ".join([*parts, "no bias"]), "，".join([*parts, "无偏置"])), check)
