"""Comparing sets of skip-gram vectors: nearest neighbours by cosine, how far two sets agree on
them, and the negative-sampling scores of held-out pairs.

The `word2vec` task holds its own vectors and gensim's (`models/gensim_twin.py`) against each
other with these; the vectors are `(V, D)` tables in one vocabulary's order.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["nearest", "overlap", "pair_scores", "sgns_loss_and_hit"]


def nearest(
    vectors: torch.Tensor, queries: torch.Tensor, k: int, first: int = 2
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine similarities and ids `(Q, k)` of the `k` nearest rows to each query id, among
    rows `first..V-1` (the specials before `first` are skipped), the query itself left out."""
    unit = F.normalize(vectors.float(), dim=1)  # (V, D)
    sims = unit[queries] @ unit.T  # (Q, V)
    sims[:, :first] = -2.0
    sims[torch.arange(len(queries)), queries] = -2.0
    return sims.topk(k, dim=1)


def overlap(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean share of common ids between rows of two `(Q, k)` neighbour tables.

    >>> overlap(torch.tensor([[1, 2], [3, 4]]), torch.tensor([[2, 5], [3, 4]]))
    0.75
    """
    k = a.shape[1]
    return float(
        np.mean([len(set(x.tolist()) & set(y.tolist())) / k for x, y in zip(a, b, strict=True)])
    )


def pair_scores(vin: torch.Tensor, vout: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """`u_j . v_c` for each row of `x (B, 2 + K)` and its context and noise words: `(B, 1 + K)`."""
    return torch.einsum("bjd,bd->bj", vout[x[:, 1:]], vin[x[:, 0]])


def sgns_loss_and_hit(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pair SGNS loss from scores `(B, 1 + K)` (context first; Mikolov et al. 2013, eq. 4),
    and whether the context outscored every noise word (1.0 or 0.0)."""
    loss = -F.logsigmoid(scores[:, 0]) - F.logsigmoid(-scores[:, 1:]).sum(1)
    hit = scores[:, 0] > scores[:, 1:].max(1).values
    return loss, hit.float()
