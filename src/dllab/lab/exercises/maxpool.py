"""Grader for maxpool: max pooling forward (= F.max_pool2d) and backward (= autograd)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dllab.lab.checks import Case, assert_close, call, text


def make_case(index: int, rng: np.random.Generator) -> Case:
    n, c = (int(v) for v in rng.integers(1, [4, 4]))
    overlap = index % 3 == 2  # stride < kernel_size: one input can be the max of two windows
    k = 2 if index == 0 else int(rng.integers(2 if overlap else 1, 4))
    stride = [None, k, k - 1][index % 3]  # None means stride = kernel_size
    h, w = (int(v) for v in rng.integers(k + overlap, 10, size=2))
    x = rng.normal(size=(n, c, h, w))  # continuous values: no ties between maxima
    s = stride or k
    grad_out = rng.normal(size=(n, c, (h - k) // s + 1, (w - k) // s + 1))

    def check(module):
        xt = torch.tensor(x, requires_grad=True)
        ref = F.max_pool2d(xt, k, stride)
        got = call(module, "max_pool2d", x.copy(), k, stride)
        assert_close(
            "max_pool2d(x)",
            got,
            ref.detach().numpy(),
            hint=text(
                "out[n, c, i, j] = max of x[n, c, i*s : i*s + k, j*s : j*s + k]; stride None "
                "means stride = kernel_size.",
                "out[n, c, i, j] = x[n, c, i*s : i*s + k, j*s : j*s + k] 的最大值；stride 为 None "
                "表示 stride = kernel_size。",
            ),
        )
        ref.backward(torch.tensor(grad_out))
        got = call(module, "max_pool2d_backward", x.copy(), grad_out.copy(), k, stride)
        assert_close(
            "max_pool2d_backward(x, grad_out)",
            got,
            xt.grad.numpy(),
            hint=text(
                "Each window sends its gradient to its max only; overlapping windows add up (+=).",
                "每个窗口只把梯度传给它的最大值；重叠窗口的梯度要累加（+=）。",
            ),
        )

    return Case(f"x {(n, c, h, w)}, kernel_size {k}, stride {stride}", check)
