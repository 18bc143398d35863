"""Reference solution of augmentation: per-image random flip and padded crop."""

from __future__ import annotations

import numpy as np


def random_flip_crop(images: np.ndarray, padding: int, rng: np.random.Generator) -> np.ndarray:
    """Flip each image with probability 0.5, pad with zeros, crop back at a random offset."""
    n, _, h, w = images.shape
    flip = rng.random(n) < 0.5
    flipped = np.where(flip[:, None, None, None], images[..., ::-1], images)  # a new array
    p = padding
    padded = np.pad(flipped, ((0, 0), (0, 0), (p, p), (p, p)))
    dy, dx = rng.integers(0, 2 * p + 1, size=(2, n))
    return np.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])
