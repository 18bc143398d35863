"""Reference solution of window_dataset: a map-style Dataset and a seeded DataLoader."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset


class WindowDataset(Dataset):
    """Item i: (series[i : i + window], series[i + window])."""

    def __init__(self, series: np.ndarray, window: int) -> None:
        self.series = torch.as_tensor(series, dtype=torch.float32)
        self.window = window

    def __len__(self) -> int:
        return len(self.series) - self.window  # the last window ends just before the last value

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.series[i : i + self.window], self.series[i + self.window]


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool, seed: int = 0) -> DataLoader:
    """Batches of `batch_size`; the generator makes the shuffled order reproducible."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)
