"""Attention over a few test texts, for a text classifier's report: which texts to show, and
`attention.json` plus `attention.png` drawn from the weights the model gave their tokens.

The texts are picked from the one test pass's results (no second pass): per true class, the
first texts it got right and the first it got wrong, among those short enough to read.

>>> true, pred = torch.tensor([0, 0, 0, 1, 1]), torch.tensor([0, 1, 1, 1, 1])
>>> pick_examples(true, pred, eligible=torch.ones(5, dtype=torch.bool), num_classes=2)
[0, 1, 3, 4]
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from dllab.viz.token_attention import plot_token_attention

__all__ = ["pick_examples", "save_token_attention"]


def pick_examples(
    true: torch.Tensor,
    pred: torch.Tensor,
    eligible: torch.Tensor,
    num_classes: int,
    right: int = 2,
    wrong: int = 1,
) -> list[int]:
    """Indices of the first `right` eligible items predicted right and the first `wrong`
    predicted wrong, per true class in order; `true`, `pred` `(N,)` class ids, `eligible`
    `(N,)` bool."""
    picked: list[int] = []
    for c in range(num_classes):
        of_c = eligible & (true == c)
        picked += (of_c & (pred == c)).nonzero().flatten().tolist()[:right]
        picked += (of_c & (pred != c)).nonzero().flatten().tolist()[:wrong]
    return picked


def save_token_attention(
    tokens: list[list[str]],
    weights: torch.Tensor,
    picked: list[int],
    out: dict[str, torch.Tensor],
    classes: list[str],
    run_dir: Path,
    title: str,
) -> Path:
    """`run_dir/attention.json` (tokens, weights, true and predicted class, its probability)
    and `attention.png`; `weights (N, T)` of the `picked` texts' `tokens`, `out` the test
    pass's `true`, `pred` and `conf` over the whole split."""
    rows = [
        {
            "tokens": toks,
            "weights": weights[r, : len(toks)].float().cpu().tolist(),
            "true": classes[int(out["true"][i])],
            "pred": classes[int(out["pred"][i])],
            "prob": float(out["conf"][i]),
        }
        for r, (toks, i) in enumerate(zip(tokens, picked, strict=True))
    ]
    (run_dir / "attention.json").write_text(
        json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return plot_token_attention(rows, run_dir / "attention.png", title=title)
