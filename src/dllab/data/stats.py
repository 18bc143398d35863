"""Per-channel mean and standard deviation of uint8 images, on the 0..1 scale.

Counting the 256 possible values per channel gives exact statistics in float64 without
building a float copy of the images (60k Fashion-MNIST images take ~0.1 s).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

__all__ = ["channel_stats", "histogram", "stats_from_histogram"]


def histogram(images: torch.Tensor) -> torch.Tensor:
    """Counts of each value 0..255 per channel: int64 (C, 256) for uint8 images (N, C, H, W)."""
    assert images.dtype == torch.uint8, images.dtype
    channels = images.shape[1]
    return torch.stack(
        [torch.bincount(images[:, c].reshape(-1), minlength=256) for c in range(channels)]
    )


def stats_from_histogram(counts: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) per channel on the 0..1 scale from (C, 256) value counts; std >= 1/255."""
    values = torch.arange(256, dtype=torch.float64) / 255.0
    n = counts.sum(dim=1).double().clamp(min=1)
    mean = (counts.double() * values).sum(dim=1) / n
    var = (counts.double() * values**2).sum(dim=1) / n - mean**2
    # A constant channel would make (x - mean) / std divide by zero: floor std at one grey level.
    std = var.clamp(min=0).sqrt().clamp(min=1 / 255)
    return tuple(mean.tolist()), tuple(std.tolist())


def channel_stats(
    images: torch.Tensor | Iterable[torch.Tensor],
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel (mean, std) on the 0..1 scale of uint8 images (N, C, H, W).

    Also accepts an iterable of such batches (or of single (C, H, W) images), so a streamed
    folder can be measured without holding it in memory.
    Example: `mean, std = channel_stats(data.train.images)`.
    """
    if isinstance(images, torch.Tensor):
        return stats_from_histogram(histogram(images))
    total = None
    for batch in images:
        counts = histogram(batch if batch.dim() == 4 else batch.unsqueeze(0))
        total = counts if total is None else total + counts
    if total is None:
        raise ValueError("channel_stats needs at least one image")
    return stats_from_histogram(total)
