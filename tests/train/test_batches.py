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


class Squares(torch.utils.data.Dataset):
    """A map-style dataset, as an image folder streams: item i is (i, i*i)."""

    def __len__(self):
        return 37

    def __getitem__(self, i):
        return torch.tensor([float(i)]), i * i


def test_streamed_batches_resume_mid_epoch_exactly():
    """A resumed image-folder run must not replay its epoch from batch 0."""
    from dllab.train.batches import DatasetBatches

    b = DatasetBatches(Squares(), batch_size=5, shuffle=True, seed=4)
    full = [y for _, y in b.epoch(1)]
    tail = [y for _, y in b.epoch(1, start=3)]
    assert len(full) == len(b) == 8 and len(tail) == 5
    assert all(torch.equal(a, c) for a, c in zip(full[3:], tail, strict=True))
    assert sorted(torch.cat(full).tolist()) == sorted(i * i for i in range(37))
