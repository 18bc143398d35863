"""The real Fashion-MNIST, as Debian's `dataset-fashion-mnist` installs it (skipped if absent)."""

import time
from pathlib import Path

import pytest
import torch

from dllab.data import get_spec, load_image_dataset, verify

SYSTEM = Path("/usr/share/datasets")

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(
        not (SYSTEM / "fashion-mnist").is_dir(),
        reason="install Debian's dataset-fashion-mnist to run this test",
    ),
]


def test_real_fashion_mnist_matches_the_catalog_digests():
    expected = {f.name: f.sha256 for f in get_spec("fashion-mnist").files}
    assert verify("fashion-mnist", data_dir=SYSTEM) == expected


def test_real_fashion_mnist_loads_quickly_with_official_splits():
    start = time.perf_counter()
    data = load_image_dataset("fashion-mnist", data_dir=SYSTEM, seed=0)
    seconds = time.perf_counter() - start

    assert len(data.train) + len(data.val) == 60_000 and len(data.test) == 10_000
    assert len(data.val) == 6_000
    assert data.train.images.shape[1:] == (1, 28, 28) and data.train.images.dtype == torch.uint8
    assert torch.bincount(data.test.labels).tolist() == [1000] * 10
    assert data.checksums == dict(
        sorted((f.name, f.sha256) for f in get_spec("fashion-mnist").files)
    )
    assert data.classes[0] == "T-shirt/top" and data.classes[9] == "Ankle boot"
    assert data.mean[0] == pytest.approx(0.286, abs=0.002)  # the widely quoted figures
    assert data.std[0] == pytest.approx(0.353, abs=0.002)
    assert data.source == str(SYSTEM / "fashion-mnist")
    assert seconds < 3.0, f"loading took {seconds:.1f} s"
