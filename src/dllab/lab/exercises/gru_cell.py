"""Grader for gru_cell: one step against nn.GRUCell, a sequence against nn.GRU."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dllab.lab.checks import Case, assert_close, call, text, unpack


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _variant(x, h, w_ih, w_hh, b_ih, b_hh, *, order="rzn", reset_before=False, swap_z=False,
             bias_outside=False):  # fmt: skip
    """The GRU step with switches for the typical mistakes."""
    i_blocks = dict(zip(order, np.split(x @ w_ih.T + b_ih, 3, axis=1), strict=True))
    w_blocks = dict(zip(order, np.split(w_hh, 3, axis=0), strict=True))
    b_blocks = dict(zip(order, np.split(b_hh, 3), strict=True))
    r = _sigmoid(i_blocks["r"] + h @ w_blocks["r"].T + b_blocks["r"])
    z = _sigmoid(i_blocks["z"] + h @ w_blocks["z"].T + b_blocks["z"])
    if reset_before:  # Cho et al. 2014: reset h, then multiply
        hidden = (r * h) @ w_blocks["n"].T + b_blocks["n"]
    elif bias_outside:
        hidden = r * (h @ w_blocks["n"].T) + b_blocks["n"]
    else:
        hidden = r * (h @ w_blocks["n"].T + b_blocks["n"])
    n = np.tanh(i_blocks["n"] + hidden)
    return z * n + (1 - z) * h if swap_z else (1 - z) * n + z * h


MISTAKES = (
    (
        dict(reset_before=True),
        text(
            "You reset h before the matrix product, as in Cho et al. 2014. PyTorch applies r "
            "after it: n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn)).",
            "你在矩阵乘法之前重置了 h（Cho 等 2014 的写法）。PyTorch 在乘法之后再乘 r："
            "n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))。",
        ),
    ),
    (
        dict(bias_outside=True),
        text(
            "b_hn sits inside the reset: r * (h W_hn^T + b_hn), not r * (h W_hn^T) + b_hn.",
            "b_hn 在重置门的括号里面：r * (h W_hn^T + b_hn)，而不是 r * (h W_hn^T) + b_hn。",
        ),
    ),
    (
        dict(swap_z=True),
        text(
            "z is the share of the OLD state that is kept: h' = (1 - z) * n + z * h.",
            "z 是保留旧状态的比例：h' = (1 - z) * n + z * h。",
        ),
    ),
    (
        dict(order="zrn"),
        text(
            "PyTorch stacks the gates as reset, update, new: rows [0:H] are r, [H:2H] are z, "
            "[2H:3H] are n.",
            "PyTorch 按 重置门、更新门、候选 的顺序堆叠：行 [0:H] 是 r，[H:2H] 是 z，"
            "[2H:3H] 是 n。",
        ),
    ),
)


def make_case(index: int, rng: np.random.Generator) -> Case:
    n, i_size, h_size, t = (int(v) for v in rng.integers(1, [5, 6, 7, 7]))
    w_ih, w_hh = rng.normal(size=(3 * h_size, i_size)), rng.normal(size=(3 * h_size, h_size))
    b_ih, b_hh = rng.normal(size=3 * h_size), rng.normal(size=3 * h_size)
    params = (w_ih, w_hh, b_ih, b_hh)
    x, h = rng.normal(size=(n, i_size)), rng.normal(size=(n, h_size))
    xs = rng.normal(size=(t, n, i_size))

    def check(module):
        cell = nn.GRUCell(i_size, h_size, dtype=torch.float64)
        gru = nn.GRU(i_size, h_size, dtype=torch.float64)
        with torch.no_grad():
            for p, v in zip(
                (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh), params, strict=True
            ):
                p.copy_(torch.tensor(v))
            for p, v in zip(gru.parameters(), params, strict=True):
                p.copy_(torch.tensor(v))
            ref_h = cell(torch.tensor(x), torch.tensor(h))
            ref_out, ref_h_t = gru(torch.tensor(xs), torch.tensor(h)[None])
        got = call(module, "gru_cell", x.copy(), h.copy(), *(p.copy() for p in params))
        assert_close(
            "h_new",
            got,
            ref_h.numpy(),
            mistakes=[(_variant(x, h, *params, **kw), why) for kw, why in MISTAKES],
            hint=text(
                "r and z go through a sigmoid, n through tanh; x's side and h's side each "
                "have their own bias.",
                "r 和 z 经过 sigmoid，n 经过 tanh；x 一侧和 h 一侧各有自己的偏置。",
            ),
        )
        got = call(module, "gru_sequence", xs.copy(), h.copy(), *(p.copy() for p in params))
        outputs, h_t = unpack("gru_sequence", got, 2)
        assert_close(
            "outputs",
            outputs,
            ref_out.numpy(),
            hint=text(
                "outputs[t] is h after step t; feed each step's h into the next.",
                "outputs[t] 是第 t 步之后的 h；把每一步的 h 传给下一步。",
            ),
        )
        assert_close("h_T", h_t, ref_h_t[0].numpy())

    return Case(
        text(
            f"x {(n, i_size)}, hidden {h_size}, sequence {(t, n, i_size)}",
            f"x {(n, i_size)}，隐藏维度 {h_size}，序列 {(t, n, i_size)}",
        ),
        check,
    )
