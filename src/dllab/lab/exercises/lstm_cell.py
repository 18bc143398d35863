"""Grader for lstm_cell: one step against nn.LSTMCell, a sequence against nn.LSTM."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dllab.lab.checks import Case, assert_close, call, text, unpack


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _variant(x, h, c, w_ih, w_hh, b_ih, b_hh, *, order="ifgo", g_sigmoid=False, no_b_hh=False):
    gates = x @ w_ih.T + b_ih + h @ w_hh.T + (0 if no_b_hh else b_hh)
    blocks = dict(zip(order, np.split(gates, 4, axis=1), strict=True))
    i, f, o = (_sigmoid(blocks[k]) for k in "ifo")
    g = _sigmoid(blocks["g"]) if g_sigmoid else np.tanh(blocks["g"])
    c2 = f * c + i * g
    return o * np.tanh(c2), c2


MISTAKES = (
    (
        dict(order="ifog"),
        text(
            "PyTorch stacks the gates as input, forget, cell (g), output: rows [0:H], [H:2H], "
            "[2H:3H], [3H:4H].",
            "PyTorch 按 输入门、遗忘门、候选细胞 (g)、输出门 的顺序堆叠：行 [0:H]、[H:2H]、"
            "[2H:3H]、[3H:4H]。",
        ),
    ),
    (
        dict(g_sigmoid=True),
        text(
            "The candidate g goes through tanh, not sigmoid: it may be negative.",
            "候选值 g 经过 tanh 而不是 sigmoid：它可以是负数。",
        ),
    ),
    (
        dict(no_b_hh=True),
        text("There are two biases: add both b_ih and b_hh.", "有两个偏置：b_ih 和 b_hh 都要加。"),
    ),
)


def make_case(index: int, rng: np.random.Generator) -> Case:
    n, i_size, h_size, t = (int(v) for v in rng.integers(1, [5, 6, 7, 7]))
    w_ih, w_hh = rng.normal(size=(4 * h_size, i_size)), rng.normal(size=(4 * h_size, h_size))
    b_ih, b_hh = rng.normal(size=4 * h_size), rng.normal(size=4 * h_size)
    params = (w_ih, w_hh, b_ih, b_hh)
    x, h, c = (
        rng.normal(size=(n, i_size)),
        rng.normal(size=(n, h_size)),
        rng.normal(size=(n, h_size)),
    )
    xs = rng.normal(size=(t, n, i_size))

    def check(module):
        cell = nn.LSTMCell(i_size, h_size, dtype=torch.float64)
        lstm = nn.LSTM(i_size, h_size, dtype=torch.float64)
        with torch.no_grad():
            for p, v in zip(
                (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh), params, strict=True
            ):
                p.copy_(torch.tensor(v))
            for p, v in zip(lstm.parameters(), params, strict=True):
                p.copy_(torch.tensor(v))
            ref_h, ref_c = cell(torch.tensor(x), (torch.tensor(h), torch.tensor(c)))
            ref_out, (ref_hT, ref_cT) = lstm(
                torch.tensor(xs), (torch.tensor(h)[None], torch.tensor(c)[None])
            )
        got = call(module, "lstm_cell", x.copy(), h.copy(), c.copy(), *(p.copy() for p in params))
        h2, c2 = unpack("lstm_cell", got, 2)
        variants = [(_variant(x, h, c, *params, **kw), why) for kw, why in MISTAKES]
        assert_close("c_new", c2, ref_c.numpy(), mistakes=[(v[1], why) for v, why in variants])
        assert_close(
            "h_new",
            h2,
            ref_h.numpy(),
            mistakes=[(v[0], why) for v, why in variants],
            hint=text(
                "h' = o * tanh(c'), with the NEW cell state.",
                "h' = o * tanh(c')，用的是新的细胞状态。",
            ),
        )
        got = call(
            module, "lstm_sequence", xs.copy(), h.copy(), c.copy(), *(p.copy() for p in params)
        )
        outputs, last = unpack("lstm_sequence", got, 2)
        h_t, c_t = unpack("lstm_sequence(...)[1]", last, 2)
        assert_close(
            "outputs",
            outputs,
            ref_out.numpy(),
            hint=text(
                "outputs[t] is h after step t; feed each step's (h, c) into the next.",
                "outputs[t] 是第 t 步之后的 h；把每一步的 (h, c) 传给下一步。",
            ),
        )
        assert_close("h_T", h_t, ref_hT[0].numpy())
        assert_close("c_T", c_t, ref_cT[0].numpy())

    return Case(
        text(
            f"x {(n, i_size)}, hidden {h_size}, sequence {(t, n, i_size)}",
            f"x {(n, i_size)}，隐藏维度 {h_size}，序列 {(t, n, i_size)}",
        ),
        check,
    )
