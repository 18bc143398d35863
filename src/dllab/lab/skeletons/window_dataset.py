"""Exercise window_dataset: turn a time series into a Dataset and load it with a DataLoader.

Item i of the dataset is the window series[i : i + window] and the value that follows it,
series[i + window] (what a forecaster learns to predict). Grade it with
`dllab lab check window_dataset`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset


class WindowDataset(Dataset):
    """Sliding windows over a 1-D series.

    Example:
        >>> ds = WindowDataset(np.arange(6.0), window=3)
        >>> len(ds)
        3
        >>> ds[0]
        (tensor([0., 1., 2.]), tensor(3.))
    """

    def __init__(self, series: np.ndarray, window: int) -> None:
        """TODO: store the series (as a float32 tensor, say) and the window length."""
        raise NotImplementedError("Need to implement for exercise window_dataset")

    def __len__(self) -> int:
        """TODO: how many windows have a value after them?"""
        raise NotImplementedError("Need to implement for exercise window_dataset")

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """TODO: return (window (window,), target ()) as float32 tensors."""
        raise NotImplementedError("Need to implement for exercise window_dataset")


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool, seed: int = 0) -> DataLoader:
    """Return a DataLoader over `dataset` whose shuffled order is fixed by `seed`.

    Batches are (B, window) and (B,); the last batch may be smaller.

    TODO: DataLoader with a seeded torch.Generator.
    """
    raise NotImplementedError("Need to implement for exercise window_dataset")
