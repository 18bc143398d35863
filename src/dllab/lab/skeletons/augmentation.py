"""Exercise augmentation: the random flip and crop that CIFAR models train with, in NumPy.

Data augmentation fights overfitting by showing the model a slightly different image every
epoch. For each image independently:

  1. with probability 0.5 flip it left-right;
  2. zero-pad it by `padding` pixels on every side;
  3. crop an H x W window at a random offset (dy, dx), each uniform in 0 .. 2 * padding.

Use the `rng` you are given (np.random.Generator) for every random draw.
Grade it with `dllab lab check augmentation`.
"""

from __future__ import annotations

import numpy as np


def random_flip_crop(images: np.ndarray, padding: int, rng: np.random.Generator) -> np.ndarray:
    """Return augmented images: same shape (N, C, H, W) and dtype; `images` is not modified.

    Example:
        >>> out = random_flip_crop(batch, 4, np.random.default_rng(0))
        >>> out.shape == batch.shape
        True

    TODO: draw flips and offsets for the N images, pad once, crop each image.
    """
    raise NotImplementedError("Need to implement for exercise augmentation")
