"""Reference solution of checkpoint: model, optimiser and epoch in one file."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def save_checkpoint(
    path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int
) -> None:
    """Everything a resumed run needs: weights, optimiser state (moments, lr), the epoch."""
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}
    torch.save(state, path)


def load_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Restore in place; weights_only=True loads tensors and plain data, never arbitrary code."""
    state = torch.load(path, weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return state["epoch"]
