"""The binary version of CIFAR-10 and CIFAR-100 (https://www.cs.toronto.edu/~kriz/cifar.html).

Each record is the label byte(s) then 3,072 pixel bytes: 1,024 red, 1,024 green, 1,024 blue,
each a 32x32 plane in row-major order. CIFAR-10 has 1 label byte; CIFAR-100 has 2 (coarse,
then fine). The pickled "python version" is never read: dllab unpickles nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dllab.data.checksum import corrupt, read_content

__all__ = ["PIXELS", "parse_cifar", "read_cifar", "read_class_names"]

PIXELS = 3 * 32 * 32  # bytes of one image


def parse_cifar(
    data: bytes, source: str | Path = "<bytes>", *, label_bytes: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Decode CIFAR binary records.

    Returns `(images, labels)`: uint8 `(N, 3, 32, 32)` and uint8 `(N, label_bytes)`.
    A length that is not a whole number of records raises DataError (truncated file).
    """
    record = label_bytes + PIXELS
    if not data or len(data) % record:
        raise corrupt(
            source, f"{len(data)} bytes is not a whole number of {record}-byte CIFAR records"
        )
    rows = np.frombuffer(data, dtype=np.uint8).reshape(-1, record)  # (N, record)
    images = rows[:, label_bytes:].reshape(-1, 3, 32, 32).copy()  # (N, C, H, W)
    return images, rows[:, :label_bytes].copy()


def read_cifar(
    path: str | Path, *, label_bytes: int = 1, label_index: int = -1
) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR binary file (plain or gzipped).

    `label_index` picks the label byte: -1 is CIFAR-10's only label and CIFAR-100's fine one.
    Returns uint8 images `(N, 3, 32, 32)` and int64 labels `(N,)`.
    Example: `read_cifar("test.bin", label_bytes=2)` -> CIFAR-100 test images, fine labels.
    """
    data, _ = read_content(path)
    images, labels = parse_cifar(data, path, label_bytes=label_bytes)
    return images, labels[:, label_index].astype(np.int64)


def read_class_names(path: str | Path) -> list[str]:
    """Class names from `batches.meta.txt` / `fine_label_names.txt`: one per non-empty line."""
    data, _ = read_content(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise corrupt(path, f"not a text file: {e}") from None
    return [line.strip() for line in text.splitlines() if line.strip()]
