"""Seeded, stratified splits, and the digits dataset that relies on them."""

import numpy as np
import pytest
import torch

from dllab.data import channel_stats, hold_out, load_image_dataset
from dllab.data import vision as vision_module


def _draw(labels, fraction, seed):
    return hold_out(labels, fraction, torch.Generator().manual_seed(seed))


def test_hold_out_is_disjoint_complete_sized_and_stratified():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    keep, held = _draw(labels, 0.1, seed=0)
    assert len(held) == 10 and len(keep) == 90
    assert sorted(torch.cat([keep, held]).tolist()) == list(range(100))
    assert torch.bincount(labels[held]).tolist() == [5, 3, 2]


def test_hold_out_rounds_to_the_total_and_keeps_rare_classes_fair():
    labels = torch.tensor([0] * 7 + [1] * 7 + [2] * 7)
    _, held = _draw(labels, 0.2, seed=3)
    assert len(held) == round(21 * 0.2)  # 4, not 3 x floor(1.4)
    assert torch.bincount(labels[held], minlength=3).max() <= 2


def test_hold_out_is_seeded():
    labels = torch.arange(200) % 7
    assert torch.equal(_draw(labels, 0.25, 1)[1], _draw(labels, 0.25, 1)[1])
    assert not torch.equal(_draw(labels, 0.25, 1)[1], _draw(labels, 0.25, 2)[1])


def test_zero_fraction_holds_out_nothing():
    keep, held = _draw(torch.arange(10) % 2, 0.0, 0)
    assert len(held) == 0 and len(keep) == 10


def test_digits_have_seeded_disjoint_test_val_train_splits(monkeypatch):
    # Give every digit a unique picture (its index in two pixels) to follow it across splits.
    n = 1797
    images = np.zeros((n, 1, 8, 8), dtype=np.uint8)
    images[:, 0, 0, 0], images[:, 0, 0, 1] = np.arange(n) // 256, np.arange(n) % 256
    labels = np.arange(n, dtype=np.int64) % 10
    monkeypatch.setattr(vision_module, "load_digits_arrays", lambda: (images, labels))

    def ids(split):
        return set((split.images[:, 0, 0, 0].long() * 256 + split.images[:, 0, 0, 1]).tolist())

    data = load_image_dataset("digits", seed=0)
    train, val, test = ids(data.train), ids(data.val), ids(data.test)

    assert (len(train), len(val), len(test)) == (1294, 144, 359)  # 20 % test, 10 % of the rest
    assert not (train & val or train & test or val & test)
    assert train | val | test == set(range(n))
    again = load_image_dataset("digits", seed=0)
    other = load_image_dataset("digits", seed=1)
    assert torch.equal(again.test.images, data.test.images)
    assert not torch.equal(other.test.images, data.test.images)


def test_real_digits_load_as_uint8_with_names_and_stats():
    data = load_image_dataset("digits", val_fraction=0.1, test_fraction=0.2, seed=0)
    assert data.train.images.dtype == torch.uint8 and data.train.images.shape[1:] == (1, 8, 8)
    assert int(data.train.images.max()) == 255  # 0..16 scaled to 0..255
    assert data.classes == [str(d) for d in range(10)]
    assert (data.image_size, data.in_channels) == (8, 1)
    assert len(data.train) + len(data.val) + len(data.test) == 1797
    assert list(data.checksums) == ["digits.csv"] and "sklearn" in data.source
    assert data.mean == pytest.approx(channel_stats(data.train.images)[0])


def test_channel_stats_match_a_float_computation_and_accept_batches():
    images = torch.randint(0, 256, (20, 3, 5, 6), dtype=torch.uint8)
    x = images.double() / 255
    mean, std = channel_stats(images)
    assert mean == pytest.approx(x.mean(dim=(0, 2, 3)).tolist())
    assert std == pytest.approx(x.std(dim=(0, 2, 3), unbiased=False).tolist())
    for batches in (iter([images[:7], images[7:]]), (img for img in images)):
        batch_mean, batch_std = channel_stats(batches)
        assert batch_mean == pytest.approx(mean) and batch_std == pytest.approx(std)
