"""Grader for sinusoidal_positions: encodings of arbitrary positions, and the shift matrix."""

from __future__ import annotations

import numpy as np
import torch

from dllab.lab.checks import Case, assert_close, call, require_tensor, text


def _pe(positions: np.ndarray, d: int, base: float, *, swap=False, exponent_i=False,
        halves=False) -> np.ndarray:  # fmt: skip
    i = np.arange(d // 2)
    angle = positions[..., None] / base ** ((i if exponent_i else 2 * i) / d)  # (..., d/2)
    first, second = (np.cos(angle), np.sin(angle)) if swap else (np.sin(angle), np.cos(angle))
    if halves:
        return np.concatenate([first, second], axis=-1)
    pe = np.empty((*positions.shape, d))
    pe[..., 0::2], pe[..., 1::2] = first, second
    return pe


def _shift(k: int, d: int, base: float) -> np.ndarray:
    angle = k / base ** (np.arange(0, d, 2) / d)
    m = np.zeros((d, d))
    for j, a in enumerate(angle):
        m[2 * j : 2 * j + 2, 2 * j : 2 * j + 2] = [[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]]
    return m


def make_case(index: int, rng: np.random.Generator) -> Case:
    d = 2 * int(rng.integers(1, 9))
    base = [10000.0, 10000.0, 100.0, 500000.0][index % 4]  # 100: positions repeat quickly
    shape = [(int(rng.integers(1, 9)),), (int(rng.integers(1, 4)), int(rng.integers(1, 6)))][
        index % 2
    ]
    positions = rng.integers(0, 200, size=shape)  # not 0..T-1: a cache or padding offset
    k = int(rng.integers(-20, 40))

    def check(module):
        args = (
            (torch.tensor(positions), d) if base == 10000.0 else (torch.tensor(positions), d, base)
        )
        pe = require_tensor(
            "sinusoidal_positions(...)", call(module, "sinusoidal_positions", *args)
        )
        assert_close(
            "sinusoidal_positions(...)",
            pe,
            _pe(positions, d, base),
            rtol=1e-6,
            atol=1e-6,
            mistakes=[
                (
                    _pe(positions, d, base, swap=True),
                    text(
                        "sin on the even columns, cos on the odd ones.",
                        "偶数列用 sin，奇数列用 cos。",
                    ),
                ),
                (
                    _pe(positions, d, 10000.0),
                    text(
                        f"Use the `base` argument (here {base:g}), not a fixed 10000.",
                        f"使用参数 `base`（这里是 {base:g}），不要写死 10000。",
                    ),
                ),
                (
                    _pe(positions, d, base, exponent_i=True),
                    text(
                        "The exponent is -2i / d_model, where 2i is the even column index.",
                        "指数是 -2i / d_model，2i 是偶数列的下标。",
                    ),
                ),
                (
                    _pe(positions, d, base, halves=True),
                    text(
                        "Interleave: column 2i is a sine and column 2i + 1 the matching cosine, "
                        "not all sines then all cosines.",
                        "交错排列：第 2i 列是正弦，第 2i + 1 列是对应的余弦。",
                    ),
                ),
                (
                    _pe(np.broadcast_to(np.arange(shape[-1]), shape), d, base),
                    text(
                        "Encode the positions you are given, not 0..T-1.",
                        "编码传进来的位置值，而不是 0..T-1。",
                    ),
                ),
            ],
            hint=text(
                "Keep the positions' shape and add one axis of size d_model at the end.",
                "保持 positions 的形状，在最后加一维 d_model。",
            ),
        )
        args = (k, d) if base == 10000.0 else (k, d, base)
        m = require_tensor("shift_matrix(...)", call(module, "shift_matrix", *args))
        ref = _shift(k, d, base)
        assert_close(
            f"shift_matrix({k}, {d})",
            m,
            ref,
            rtol=1e-6,
            atol=1e-6,
            mistakes=[
                (
                    ref.T,
                    text(
                        "This rotates the wrong way (it moves back by k): the row-vector rule is "
                        "PE(p + k) = PE(p) @ M.T, so M's row 2i gives the new sine.",
                        "旋转方向反了（向后移动了 k）：按行向量的规则 PE(p + k) = PE(p) @ M.T，"
                        "M 的第 2i 行给出新的正弦。",
                    ),
                ),
            ],
        )

    parts = [f"positions {shape}", f"d_model {d}"] + ([] if base == 10000.0 else [f"base {base:g}"])
    return Case(
        text(", ".join([*parts, f"shift k = {k}"]), "，".join([*parts, f"平移 k = {k}"])), check
    )
