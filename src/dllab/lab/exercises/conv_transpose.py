"""Grader for conv_transpose: a transposed convolution's output size and values against
torch.nn.functional.conv_transpose2d (float64, groups 1).

Every case but the first has padding, and most have stride > 1 with a non-zero
output_padding, so each known mistake (output_padding ignored, padding added as in a normal
convolution, a flipped kernel) changes the size or the numbers.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dllab.lab.checks import Case, Failed, as_array, as_int, assert_close, call, text

OUTPUT_PADDING = text(
    "output_padding adds rows and columns at the bottom and right of the output: with "
    "stride > 1 several input sizes map to the same output size, and it picks the larger one. "
    "size_out = (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + "
    "output_padding + 1.",
    "output_padding 在输出的下方和右方补上行和列：stride > 1 时多个输入尺寸对应同一个输出尺寸，"
    "它用来选较大的那个。size_out = (size - 1) * stride - 2 * padding + dilation * "
    "(kernel_size - 1) + output_padding + 1。",
)
PADDING = text(
    "In a transposed convolution padding CROPS: it undoes the padding of the convolution it "
    "transposes, so it removes `padding` rows and columns from each border (- 2 * padding), "
    "it does not add them.",
    "转置卷积中的 padding 是裁剪：它抵消被转置的那个卷积的填充，所以从每条边去掉 `padding` "
    "行和列（- 2 * padding），而不是加上。",
)
CONV_FORMULA = text(
    "That is the output size of an ordinary convolution. A transposed convolution goes the "
    "other way: (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + "
    "output_padding + 1.",
    "这是普通卷积的输出尺寸。转置卷积方向相反：(size - 1) * stride - 2 * padding + "
    "dilation * (kernel_size - 1) + output_padding + 1。",
)
DILATION = text(
    "Dilation spreads the kernel: its taps sit dilation apart, so the kernel spans "
    "dilation * (kernel_size - 1) + 1 pixels.",
    "膨胀（dilation）把卷积核撑开：相邻抽头相隔 dilation，所以核覆盖 "
    "dilation * (kernel_size - 1) + 1 个像素。",
)
FLIP = text(
    "Scatter the kernel as it is: input pixel (y, x) adds x[y, x] * weight[:, :, i, j] at "
    "(y * stride + i * dilation, x * stride + j * dilation). The flip appears only when you "
    "rewrite it as a convolution of the zero-stuffed input (then the kernel is flipped once "
    "and its in/out channels swapped).",
    "按原样散布卷积核：输入像素 (y, x) 把 x[y, x] * weight[:, :, i, j] 加到 "
    "(y * stride + i * dilation, x * stride + j * dilation)。只有把它改写成对插零后输入的"
    "普通卷积时才需要翻转（翻转一次，并交换输入输出通道）。",
)
CHANNELS = text(
    "A transposed convolution's weight is (C_in, C_out, kh, kw), the transpose of conv2d's "
    "(C_out, C_in, kh, kw): contract the input's channels with weight's FIRST axis.",
    "转置卷积的权重形状是 (C_in, C_out, kh, kw)，与 conv2d 的 (C_out, C_in, kh, kw) 相反："
    "输入通道要与权重的第一维相乘求和。",
)


def _size(size, k, s, p, op, d, *, op_on=True, pad_sign=-1, dil=True) -> int:
    """The output size, with a known mistake: no output_padding, padding added, no dilation."""
    reach = (d if dil else 1) * (k - 1)
    return (size - 1) * s + pad_sign * 2 * p + reach + (op if op_on else 0) + 1


def _wrong_sizes(size, k, s, p, op, d) -> list[tuple[int, dict]]:
    wrong = [
        (_size(size, k, s, p, op, d, op_on=False), OUTPUT_PADDING),
        (_size(size, k, s, p, op, d, pad_sign=+1), PADDING),
        (_size(size, k, s, p, op, d, dil=False), DILATION),
        ((size + 2 * p - d * (k - 1) - 1) // s + 1, CONV_FORMULA),
    ]
    return [(v, why) for v, why in wrong if v != _size(size, k, s, p, op, d)]


def _reference(x, weight, bias, s, p, op, d, *, flip=False) -> np.ndarray:
    w = weight[:, :, ::-1, ::-1].copy() if flip else weight
    t = (torch.tensor(v) if v is not None else None for v in (x, w, bias))
    return F.conv_transpose2d(*t, stride=s, padding=p, output_padding=op, dilation=d).numpy()


def make_case(index: int, rng: np.random.Generator) -> Case:
    if index == 0:  # the textbook 2x up-sampling layer: 4 -> 8 with k 4, s 2, p 1
        n, c_in, c_out, h, w, k, s, p, op, d = 1, 2, 3, 4, 4, 4, 2, 1, 0, 1
    else:
        n, c_in, c_out = (int(v) for v in rng.integers(1, 4, size=3))
        h, w = (int(v) for v in rng.integers(2, 7, size=2))
        k = int(rng.integers(2, 5))
        s = int(rng.integers(2, 4)) if index % 3 else 1
        d = 2 if index % 4 == 3 else 1
        p = int(rng.integers(1, max(1, d * (k - 1) // 2) + 1))  # the output stays >= 1
        op = int(rng.integers(1, max(s, d))) if max(s, d) > 1 else 0
    x = rng.normal(size=(n, c_in, h, w))
    weight = rng.normal(size=(c_in, c_out, k, k))
    bias = rng.normal(size=c_out) if index % 2 == 0 else None

    def check(module):
        for axis, size in (("height", h), ("width", w)):
            got = as_int(
                f"conv_transpose2d_output_size ({axis})",
                call(module, "conv_transpose2d_output_size", size, k, s, p, op, d),
            )
            expected = _size(size, k, s, p, op, d)
            if got != expected:
                why = next((w_ for v, w_ in _wrong_sizes(size, k, s, p, op, d) if v == got),
                           OUTPUT_PADDING)  # fmt: skip
                raise Failed(
                    text(
                        f"conv_transpose2d_output_size({size}, {k}, stride={s}, padding={p}, "
                        f"output_padding={op}, dilation={d}): expected {expected}, got {got}",
                        f"conv_transpose2d_output_size({size}, {k}, stride={s}, padding={p}, "
                        f"output_padding={op}, dilation={d})：应为 {expected}，实际为 {got}",
                    ),
                    why,
                )
        reply = call(module, "conv_transpose2d", x.copy(), weight.copy(),
                     None if bias is None else bias.copy(), s, p, op, d)  # fmt: skip
        got = as_array("conv_transpose2d(x, weight, bias)", reply)
        expected = _reference(x, weight, bias, s, p, op, d)
        if got.shape != expected.shape:
            wrong_h = dict(_wrong_sizes(h, k, s, p, op, d))
            why = wrong_h.get(got.shape[2]) if got.ndim == 4 else None
            if got.ndim == 4 and got.shape[1] == c_in != c_out:
                why = CHANNELS
            raise Failed(
                text(
                    f"conv_transpose2d(x, weight, bias): expected shape {expected.shape}, "
                    f"got {got.shape}",
                    f"conv_transpose2d(x, weight, bias)：形状应为 {expected.shape}，"
                    f"实际为 {got.shape}",
                ),
                why or OUTPUT_PADDING,
            )
        assert_close(
            "conv_transpose2d(x, weight, bias)",
            got,
            expected,
            mistakes=[(_reference(x, weight, bias, s, p, op, d, flip=True), FLIP)],
            hint=text(
                "Each input pixel adds a copy of the kernel, scaled by its value, to the "
                "output at (y * stride, x * stride); overlapping copies add up; then crop "
                "`padding` from every border and add the bias.",
                "每个输入像素把按其值缩放的卷积核副本加到输出的 (y * stride, x * stride) 处；"
                "重叠的副本相加；然后从每条边裁掉 `padding`，再加偏置。",
            ),
        )

    shapes = (
        f"x {(n, c_in, h, w)}, weight {(c_in, c_out, k, k)}, stride {s}, padding {p}, "
        f"output_padding {op}, dilation {d}"
    )
    return Case(
        text(
            shapes + (", bias" if bias is not None else ", no bias"),
            shapes + ("，有偏置" if bias is not None else "，无偏置"),
        ),  # fmt: skip
        check,
    )
