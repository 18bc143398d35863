"""What a loaded image dataset looks like to the rest of dllab.

Small datasets are held in memory as one uint8 tensor per split, so batches are indexed
directly (a per-sample DataLoader costs more than the model on 2 cores); a folder of the
user's own images is a `torch.utils.data.Dataset` that streams through DataLoader workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.utils.data import Dataset


@dataclass
class TensorSplit:
    """One split held in memory."""

    images: torch.Tensor  # (N, C, H, W) uint8
    labels: torch.Tensor  # (N,) int64

    def __len__(self) -> int:
        return len(self.labels)


Split = TensorSplit | Dataset  # a Dataset yields (uint8 (C, H, W) tensor, int label)


@dataclass
class ImageData:
    """Train/validation/test splits plus what is needed to preprocess and name predictions."""

    name: str
    train: Split
    val: Split
    test: Split
    classes: list[str]
    mean: tuple[float, ...]  # per channel, on the 0..1 scale, fitted on the training split
    std: tuple[float, ...]
    image_size: int  # side of the square images
    in_channels: int
    checksums: dict[str, str] = field(default_factory=dict)  # file name -> sha256 of content
    source: str = ""  # where the files were found, for env.json and `dllab doctor`
