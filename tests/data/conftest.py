"""Fixtures that write small files in the real on-disk formats (IDX, CIFAR binary, PNG) and
keep every test away from the user's own data folders."""

from __future__ import annotations

import gzip
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dllab.data import search


@pytest.fixture(autouse=True)
def isolated_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point ~, $DLLAB_DATA and the system folders at empty places under tmp_path."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DLLAB_DATA", raising=False)
    monkeypatch.setattr(search, "SYSTEM_ROOTS", (tmp_path / "system",))
    return tmp_path


def _idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding of a uint8 array: 0x0000 08 <ndim>, big-endian sizes, then the bytes."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write(path: Path, data: bytes, gz: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


@pytest.fixture
def encode_idx() -> Callable[[np.ndarray], bytes]:
    return _idx_bytes


@pytest.fixture
def encode_cifar() -> Callable[[np.ndarray, np.ndarray], bytes]:
    return _cifar_bytes


@pytest.fixture
def write_idx() -> Callable[..., Path]:
    def write(path: Path, array: np.ndarray, gz: bool = False) -> Path:
        return _write(path, _idx_bytes(array), gz)

    return write


@pytest.fixture
def mnist_like(write_idx) -> Callable[..., dict[str, np.ndarray]]:
    """Write the four MNIST files (n_train/n_test images of 28x28, labels cycling 0..9)."""

    def write(folder: Path, n_train: int = 50, n_test: int = 20, gz: bool = False):
        rng = np.random.default_rng(0)
        arrays = {
            "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
            "train-labels-idx1-ubyte": np.arange(n_train, dtype=np.uint8) % 10,
            "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
            "t10k-labels-idx1-ubyte": np.arange(n_test, dtype=np.uint8) % 10,
        }
        for name, array in arrays.items():
            write_idx(folder / name, array, gz=gz)
        return arrays

    return write


def _cifar_bytes(images: np.ndarray, labels: np.ndarray) -> bytes:
    """CIFAR binary records: label byte(s) then 3072 pixel bytes (R, G, B planes)."""
    labels = labels.reshape(len(images), -1).astype(np.uint8)
    rows = np.concatenate([labels, images.reshape(len(images), -1).astype(np.uint8)], axis=1)
    return rows.tobytes()


@pytest.fixture
def write_cifar() -> Callable[..., Path]:
    def write(path: Path, images: np.ndarray, labels: np.ndarray, gz: bool = False) -> Path:
        return _write(path, _cifar_bytes(images, labels), gz)

    return write


@pytest.fixture
def write_images() -> Callable[..., list[Path]]:
    """Write `per_class` PNGs of `size` pixels into `folder/<class>/` for each class."""

    def write(folder: Path, classes: list[str], per_class: int = 5, size=(12, 10), mode="RGB"):
        paths = []
        for c, name in enumerate(classes):
            (folder / name).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                colour = (c * 60 % 256, i * 40 % 256, 200) if mode == "RGB" else c * 60 % 256
                path = folder / name / f"{i}.png"
                Image.new(mode, size, colour).save(path)
                paths.append(path)
        return paths

    return write
