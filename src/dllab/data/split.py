"""Seeded, stratified train/validation/test splits.

Every split draws from a `torch.Generator` seeded by the caller, so the same seed gives the
same indices on every machine. Each class gives its share to the held-out part (largest
remainder rounding), so small classes are not lost from validation by chance.
"""

from __future__ import annotations

import numpy as np
import torch

from dllab.data.types import TensorSplit

__all__ = ["hold_out", "take"]


def _quotas(counts: torch.Tensor, fraction: float) -> torch.Tensor:
    """Per-class sizes summing to round(N * fraction): floors, then the largest remainders."""
    exact = counts.double() * fraction
    quotas = exact.floor().long()
    short = round(float(counts.sum()) * fraction) - int(quotas.sum())
    if short > 0:
        order = torch.argsort(exact - quotas, descending=True, stable=True)
        quotas[order[:short]] += 1
    return quotas


def hold_out(
    labels: torch.Tensor, fraction: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split the indices of `labels` (N,) into (kept, held out), stratified by label.

    `round(N * fraction)` indices are held out; both parts are sorted int64 tensors and
    together are a permutation of `range(N)`.
    Example: `keep, val = hold_out(labels, 0.1, torch.Generator().manual_seed(0))`.
    """
    # numpy's stable argsort is ~100x faster than torch's on CPU; the draw itself is torch's.
    by_class = torch.from_numpy(np.argsort(labels.numpy(), kind="stable"))  # grouped by label
    _, counts = torch.unique_consecutive(labels[by_class], return_counts=True)
    quotas = _quotas(counts, fraction)
    held = []
    groups = by_class.split(counts.tolist())
    for members, quota in zip(groups, quotas.tolist(), strict=True):
        order = torch.randperm(len(members), generator=generator)
        held.append(members[order[:quota]])
    held_idx = torch.cat(held).sort().values if held else torch.zeros(0, dtype=torch.long)
    mask = torch.ones(len(labels), dtype=torch.bool)
    mask[held_idx] = False
    return torch.nonzero(mask).flatten(), held_idx


def take(split: TensorSplit, indices: torch.Tensor) -> TensorSplit:
    """The rows `indices` of an in-memory split."""
    return TensorSplit(split.images[indices], split.labels[indices])
