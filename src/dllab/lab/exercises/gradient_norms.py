"""Grader for gradient_norms: per-layer gradient norms of a deep sigmoid MLP, and which vanish."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dllab.lab.checks import Case, Failed, as_array, assert_close, assert_equal, call, text


def _reference_norms(x, y, weights, biases) -> np.ndarray:
    ws = [torch.tensor(w, requires_grad=True) for w in weights]
    a = torch.tensor(x)
    for i, (w, b) in enumerate(zip(ws, biases, strict=True)):
        a = a @ w.T + torch.tensor(b)
        if i < len(ws) - 1:
            a = torch.sigmoid(a)
    F.mse_loss(a, torch.tensor(y)).backward()
    return np.array([w.grad.norm().item() for w in ws])


def _vanishing(norms, ratio) -> list[int]:
    top = max(norms)
    return [i for i, v in enumerate(norms) if v < ratio * top]


def make_case(index: int, rng: np.random.Generator) -> Case:
    depth = 6 if index == 0 else int(rng.integers(3, 13))
    sizes = [int(s) for s in rng.integers(2, 11, size=depth + 1)]
    n = int(rng.integers(2, 9))
    weights = [rng.normal(size=(o, i)) / np.sqrt(i) for i, o in zip(sizes, sizes[1:], strict=False)]
    biases = [rng.normal(size=o) * 0.1 for o in sizes[1:]]
    x, y = rng.normal(size=(n, sizes[0])), rng.normal(size=(n, sizes[-1]))
    ratio = float(rng.choice([1e-2, 1e-3]))
    # Norms that fall by a random factor per layer towards the input: a clear answer to find.
    synthetic = [float(10 ** -(rng.uniform(0.2, 1.5) * (depth - 1 - i))) for i in range(depth)]

    def check(module):
        ref = _reference_norms(x, y, weights, biases)
        args = (x.copy(), y.copy(), [w.copy() for w in weights], [b.copy() for b in biases])
        got = call(module, "layer_gradient_norms", *args)
        if not isinstance(got, list | tuple | np.ndarray) and not hasattr(got, "shape"):
            raise Failed(
                text(
                    f"layer_gradient_norms should return a list, got {type(got).__name__}",
                    f"layer_gradient_norms 应返回列表，实际为 {type(got).__name__}",
                )
            )
        assert_close(
            "norms",
            as_array("norms", got),
            ref,
            rtol=1e-5,
            atol=1e-12,
            mistakes=[
                (
                    ref[::-1],
                    text(
                        "Put the first layer (next to the input) first.",
                        "把第一层（最靠近输入的一层）放在列表最前面。",
                    ),
                ),
            ],
        )
        for norms in (list(ref), synthetic):
            got = call(module, "vanishing_layers", list(norms), ratio)
            expected = _vanishing(norms, ratio)
            assert_equal(
                f"vanishing_layers(norms, ratio={ratio:g})",
                got,
                expected,
                text(
                    "A layer vanishes when its norm is below ratio * max(norms); return 0-based "
                    "indices in increasing order.",
                    "范数小于 ratio * max(norms) 的层就是梯度消失的层；按从小到大返回从 0 "
                    "开始的下标。",
                ),
            )

    return Case(
        text(
            f"{depth} layers of widths {sizes}, batch {n}",
            f"{depth} 层，宽度 {sizes}，批大小 {n}",
        ),
        check,
    )
