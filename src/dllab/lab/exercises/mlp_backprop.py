"""Grader for mlp_backprop: loss and gradients of a 2-layer ReLU MLP, against torch.autograd."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dllab.lab.checks import Case, Failed, as_array, assert_close, call, text, unpack

NAMES = ("W1", "b1", "W2", "b2")


def _reference(x, y, params):
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    h = torch.relu(torch.tensor(x) @ t["W1"].T + t["b1"])  # (N, H)
    loss = F.mse_loss(h @ t["W2"].T + t["b2"], torch.tensor(y))
    loss.backward()
    return loss.item(), {k: v.grad.numpy() for k, v in t.items()}


def make_case(index: int, rng: np.random.Generator) -> Case:
    n, d, h, o = (4, 3, 5, 2) if index == 0 else map(int, rng.integers(1, [9, 7, 8, 5]))
    x, y = rng.normal(size=(n, d)), rng.normal(size=(n, o))
    params = {
        "W1": rng.normal(size=(h, d)) / np.sqrt(d),
        "b1": rng.normal(size=h) * 0.5,
        "W2": rng.normal(size=(o, h)) / np.sqrt(h),
        "b2": rng.normal(size=o) * 0.5,
    }

    def check(module):
        args = [a.copy() for a in (x, y, *params.values())]
        loss, grads = unpack("mlp_loss_and_grads", call(module, "mlp_loss_and_grads", *args), 2)
        ref_loss, ref = _reference(x, y, params)
        assert_close(
            "loss",
            loss,
            ref_loss,
            hint=text(
                "loss = mean((y_hat - y) ** 2) over all N * O numbers.",
                "loss = mean((y_hat - y) ** 2)，对全部 N * O 个数取平均。",
            ),
        )
        if not isinstance(grads, dict):
            raise Failed(
                text(
                    f"grads should be a dict, got {type(grads).__name__}",
                    f"grads 应为 dict，实际为 {type(grads).__name__}",
                )
            )
        for k in ("W2", "b2", "W1", "b1"):
            value, bias = grads.get(k), k.startswith("b")
            zero = value is not None and bias and np.any(ref[k])
            if value is None or zero and not np.any(as_array(f"grads['{k}']", value)):
                raise Failed(
                    text(f"grads['{k}'] is missing", f"grads['{k}'] 缺失"),
                    text(
                        f"The bias gets a gradient too: dL/d{k} is the sum over the batch of "
                        "dL/d(the layer's output).",
                        f"偏置也有梯度：dL/d{k} 等于 dL/d(该层输出) 在 batch 维上的求和。",
                    )
                    if bias
                    else None,
                )
            assert_close(
                f"grads['{k}']",
                grads[k],
                ref[k],
                hint=text(
                    "Backpropagation goes one layer at a time from the loss back to W1; at the "
                    "ReLU the gradient passes only where the unit was active. "
                    "`dllab lab hint mlp_backprop` gives the formulas.",
                    "反向传播从损失开始逐层往回推到 W1；经过 ReLU 时，梯度只在激活的单元处通过。"
                    "`dllab lab hint mlp_backprop` 给出公式。",
                ),
            )

    return Case(f"x {(n, d)}, y {(n, o)}, W1 {(h, d)}, W2 {(o, h)}", check)
