"""A tiny Fashion-MNIST in its real IDX format, and a feature classifier trained on it by dllab.

The images are drawn so a classifier can tell the classes apart after a few steps: class k is
a bright horizontal band at rows 2k+4..2k+6 on faint noise. The catalog entry is unpinned
(no digests), since these files are not the real ones.
"""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from dllab.config import load_recipe
from dllab.data import CATALOG, FileSpec, get_spec
from dllab.experiment import run_recipe
from dllab.train.callbacks import Callback

N_TRAIN, N_TEST = 300, 60


def band_images(labels: np.ndarray, seed: int) -> np.ndarray:
    """uint8 `(N, 28, 28)`: noise below 40 and, for label k, rows 2k+4..2k+6 at 200-255."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 40, (len(labels), 28, 28), dtype=np.uint8)
    for i, k in enumerate(labels):
        images[i, 2 * k + 4 : 2 * k + 7, 4:24] = rng.integers(200, 256, (3, 20), dtype=np.uint8)
    return images


def _idx(array: np.ndarray) -> bytes:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_fashion(root: Path) -> Path:
    """The four Fashion-MNIST files under `root/fashion-mnist`; returns `root`."""
    folder = root / "fashion-mnist"
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n, seed in (("train", N_TRAIN, 0), ("t10k", N_TEST, 1)):
        labels = np.arange(n, dtype=np.uint8) % 10
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(_idx(band_images(labels, seed)))
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(_idx(labels))
    return root


def unpin(mp: pytest.MonkeyPatch) -> None:
    spec = get_spec("fashion-mnist")
    files = tuple(FileSpec(f.name, None, f.url) for f in spec.files)
    mp.setitem(CATALOG, "fashion-mnist", replace(spec, files=files))


class StopAt(Callback):
    """Ctrl-C after step `step` (before that step's checkpoint: a run resumes from the one
    before)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, out) -> None:
        if trainer.state.step == self.step:
            raise KeyboardInterrupt


@pytest.fixture(scope="session")
def stop_at() -> type[StopAt]:
    """The Ctrl-C callback class, for the resume tests of every generative task."""
    return StopAt


@pytest.fixture(scope="session")
def unpin_catalog():
    """`unpin(monkeypatch)`: for module fixtures that hold their own MonkeyPatch context."""
    return unpin


@pytest.fixture(scope="session")
def fashion_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fashion(tmp_path_factory.mktemp("data"))


@pytest.fixture
def tiny_catalog(monkeypatch: pytest.MonkeyPatch, fashion_root: Path) -> Path:
    """The unpinned catalog for one test; returns the data root."""
    unpin(monkeypatch)
    return fashion_root


@pytest.fixture(scope="session")
def classifier_run(tmp_path_factory: pytest.TempPathFactory, fashion_root: Path) -> Path:
    """A `fashion-mnist-fast` run on the tiny data (30 steps, fp32): a real run folder."""
    recipe = load_recipe(
        "fashion-mnist-fast",
        [
            f"data.data_dir={fashion_root}",
            "data.val_fraction=0.2",
            "data.batch_size=32",
            "train.max_epochs=1",
            "train.precision=fp32",
            "train.channels_last=false",
            "train.checkpoint_every=0",
            "schedule.name=none",
            "optim.lr=0.05",
        ],
    )
    with pytest.MonkeyPatch.context() as mp:
        unpin(mp)
        run = tmp_path_factory.mktemp("clf") / "run"
        return run_recipe(recipe, run_dir=run, echo=lambda s: None, progress=False)
