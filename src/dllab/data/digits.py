"""The 8x8 handwritten digits that scikit-learn ships (`sklearn.datasets.load_digits`)."""

from __future__ import annotations

import numpy as np

__all__ = ["load_digits_arrays"]


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Return all 1,797 digits: uint8 images (N, 1, 8, 8) scaled 0..16 -> 0..255, int64 labels.

    Example: `images, labels = load_digits_arrays()`; `images.max()` -> 255.
    """
    from sklearn.datasets import load_digits  # imported here: scikit-learn takes ~1 s to load

    bunch = load_digits()
    scaled = np.rint(bunch.images * (255.0 / 16.0)).clip(0, 255)  # (N, 8, 8), float
    return scaled.astype(np.uint8)[:, None], bunch.target.astype(np.int64)
