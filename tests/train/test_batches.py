"""Batch order is a pure function of (seed, epoch): resuming at batch k sees the same data."""

import torch

from dllab.train.batches import TensorBatches, epoch_order


def test_start_offset_continues_the_same_order():
    x, y = torch.arange(100).float()[:, None], torch.arange(100)
    b = TensorBatches(x, y, batch_size=8, shuffle=True, seed=3)
    full = [yb for _, yb in b.epoch(2)]
    tail = [yb for _, yb in b.epoch(2, start=5)]
    assert len(full) == len(b) == 13
    assert all(torch.equal(a, c) for a, c in zip(full[5:], tail, strict=True))


def test_epochs_differ_and_cover_every_index_once():
    a, b = (
        epoch_order(50, seed=0, epoch=0, shuffle=True),
        epoch_order(50, seed=0, epoch=1, shuffle=True),
    )
    assert not torch.equal(a, b)
    assert sorted(a.tolist()) == list(range(50))


def test_ranks_split_the_permutation_without_overlap():
    parts = [epoch_order(10, seed=0, epoch=0, shuffle=True, rank=r, world=2) for r in range(2)]
    assert len(parts[0]) == len(parts[1]) == 5
    assert sorted(torch.cat(parts).tolist()) == list(range(10))
