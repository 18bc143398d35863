"""Grader for rnn_bptt: a tanh RNN's forward pass and backpropagation through time, against torch.

The reference unrolls h_t = tanh(x_t W_ih^T + h_{t-1} W_hh^T + b) in torch (float64, the same
recurrence as `nn.RNN` with one bias), puts an upstream gradient on EVERY hidden state and lets
autograd compute dW_ih, dW_hh, db and dh0. `rnn_backward` gets the reference hidden states, so
a mistake in the forward pass cannot hide one in the backward pass. The known wrong variants
(no gradient carried from the next step, no tanh derivative, h_t where h_{t-1} belongs) run
here too, so the message can name the mistake.
"""

from __future__ import annotations

import numpy as np
import torch

from dllab.lab.checks import Case, assert_close, call, text, unpack

STATIC = text(
    "Each step feeds on the hidden state the PREVIOUS step produced: h0 is only where the "
    "recurrence starts.",
    "每一步都以上一步产生的隐藏状态为输入：h0 只是递推的起点。",
)
NO_CARRY = text(
    "Each hidden state also feeds the NEXT step: its gradient is the upstream gradient of this "
    "step plus what flows back from step t + 1. Carry that gradient backwards through time.",
    "每个隐藏状态还会输入到下一步：它的梯度是这一步的上游梯度，加上从第 t + 1 步传回来的梯度。"
    "要把这个梯度沿时间反向传递下去。",
)
NO_TANH = text(
    "The gradient must pass through the tanh before it reaches the weights: multiply by the "
    "derivative of tanh, which you can write with the hidden state itself.",
    "梯度在到达权重之前要先穿过 tanh：乘上 tanh 的导数，它可以用隐藏状态本身写出来。",
)
WRONG_PREV = text(
    "W_hh multiplies the PREVIOUS hidden state (h0 at the first step), not the one it produces.",
    "W_hh 乘的是上一步的隐藏状态（第一步用 h0），而不是它所产生的这一个。",
)


def _torch_rnn(x, h0, w_ih, w_hh, b, dhs):
    """(hs, dw_ih, dw_hh, db, dh0) from torch autograd."""
    x = torch.tensor(x)
    h0, w_ih, w_hh, b = (torch.tensor(a, requires_grad=True) for a in (h0, w_ih, w_hh, b))
    h, hs = h0, []
    for x_t in x:
        h = torch.tanh(x_t @ w_ih.T + h @ w_hh.T + b)
        hs.append(h)
    hs = torch.stack(hs)  # (T, N, H)
    hs.backward(torch.tensor(dhs))
    return (
        hs.detach().numpy(),
        w_ih.grad.numpy(),
        w_hh.grad.numpy(),
        b.grad.numpy(),
        h0.grad.numpy(),
    )


def _bptt(dhs, x, hs, h0, w_hh, *, carry=True, tanh=True, prev=True):
    """BPTT with a known mistake switched on: (dw_ih, dw_hh, db, dh0)."""
    dw_ih, dw_hh = 0.0, 0.0
    db, dh_next = 0.0, np.zeros_like(h0)
    for t in reversed(range(len(x))):
        dh = dhs[t] + (dh_next if carry else 0.0)
        dz = dh * (1 - hs[t] ** 2) if tanh else dh
        h_prev = (hs[t - 1] if t > 0 else h0) if prev else hs[t]
        dw_ih, dw_hh, db = dw_ih + dz.T @ x[t], dw_hh + dz.T @ h_prev, db + dz.sum(axis=0)
        dh_next = dz @ w_hh
    return dw_ih, dw_hh, db, dh_next


def make_case(index: int, rng: np.random.Generator) -> Case:
    t, n, d, h = (int(v) for v in rng.integers([2, 1, 1, 1], [7, 5, 6, 7]))
    x, h0 = rng.normal(size=(t, n, d)), rng.normal(scale=0.5, size=(n, h))
    w_ih = rng.normal(scale=0.6, size=(h, d))
    w_hh = rng.normal(scale=0.6 / np.sqrt(h), size=(h, h))
    b, dhs = rng.normal(scale=0.3, size=h), rng.normal(size=(t, n, h))

    def check(module):
        hs, *grads = _torch_rnn(x, h0, w_ih, w_hh, b, dhs)
        got = call(module, "rnn_forward", x.copy(), h0.copy(), w_ih.copy(), w_hh.copy(), b.copy())
        static = np.tanh(x @ w_ih.T + h0 @ w_hh.T + b)  # every step fed h0
        assert_close("hs (forward)", got, hs, mistakes=[(static, STATIC)])
        out = call(module, "rnn_backward", dhs.copy(), x.copy(), hs.copy(), h0.copy(),
                   w_ih.copy(), w_hh.copy())  # fmt: skip
        out = unpack("rnn_backward", out, 4)
        variants = [
            (_bptt(dhs, x, hs, h0, w_hh, carry=False), NO_CARRY),
            (_bptt(dhs, x, hs, h0, w_hh, tanh=False), NO_TANH),
            (_bptt(dhs, x, hs, h0, w_hh, prev=False), WRONG_PREV),
        ]
        for k, name in enumerate(["dW_ih", "dW_hh", "db", "dh0"]):
            assert_close(name, out[k], grads[k], mistakes=[(v[k], why) for v, why in variants])

    return Case(
        text(
            f"x ({t}, {n}, {d}) = (T, N, D), hidden size {h}, upstream gradient on all {t} "
            "hidden states",
            f"x ({t}, {n}, {d}) = (T, N, D)，隐藏层大小 {h}，{t} 个隐藏状态上都有上游梯度",
        ),
        check,
    )
