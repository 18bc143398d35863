"""Grader for tensor_ops: broadcasting, gather and reshape/permute on torch tensors."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dllab.lab.checks import Case, assert_close, call, require_tensor, text


def make_case(index: int, rng: np.random.Generator) -> Case:
    n, m, d, c = (int(v) for v in rng.integers(1, [9, 9, 6, 8]))
    b, ch, p = (int(v) for v in rng.integers(1, [4, 4, 4]))
    h, w = (p * int(v) for v in rng.integers(1, 5, size=2))
    a_, b_ = torch.tensor(rng.normal(size=(n, d))), torch.tensor(rng.normal(size=(m, d)))
    logits = torch.tensor(rng.normal(size=(n, c)))
    index_ = torch.tensor(rng.integers(0, c, size=n))
    images = torch.tensor(rng.normal(size=(b, ch, h, w)))

    def check(module):
        got = require_tensor(
            "pairwise_sq_distances(a, b)",
            call(module, "pairwise_sq_distances", a_.clone(), b_.clone()),
        )
        ref = torch.cdist(a_, b_) ** 2
        assert_close(
            "pairwise_sq_distances(a, b)",
            got,
            ref.numpy(),
            mistakes=[
                (
                    ref.sqrt().numpy(),
                    text(
                        "Squared distances: leave out the square root.",
                        "要的是距离的平方：不要开方。",
                    ),
                ),
            ],
        )
        got = require_tensor(
            "pick(logits, index)", call(module, "pick", logits.clone(), index_.clone())
        )
        assert_close(
            "pick(logits, index)",
            got,
            logits.gather(1, index_[:, None])[:, 0].numpy(),
            hint=text("out[i] = logits[i, index[i]].", "out[i] = logits[i, index[i]]。"),
        )
        got = require_tensor("patchify(images, p)", call(module, "patchify", images.clone(), p))
        ref = F.unfold(images, p, stride=p).transpose(1, 2)
        assert_close(
            "patchify(images, p)",
            got,
            ref.numpy(),
            hint=text(
                "out[b, i * (W // p) + j, c * p * p + r * p + s] = images[b, c, i * p + r, j * p + "
                "s].",
                "out[b, i * (W // p) + j, c * p * p + r * p + s] = images[b, c, i * p + r, j * p + "
                "s]。",
            ),
        )

    return Case(f"a {(n, d)}, b {(m, d)}, logits {(n, c)}, images {(b, ch, h, w)}, p {p}", check)
