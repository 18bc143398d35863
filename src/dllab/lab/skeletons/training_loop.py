"""Exercise training_loop: the loop every PyTorch project is built around.

You are given a model, DataLoaders of (x, y) batches, a loss function (e.g. nn.MSELoss())
and an optimiser. The model may contain dropout or BatchNorm, so modes matter.
Grade it with `dllab lab check training_loop`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader


def train_epoch(
    model: nn.Module, loader: DataLoader, loss_fn: nn.Module, optimizer: torch.optim.Optimizer
) -> float:
    """Train for one pass over `loader`, one optimiser step per batch.

    Returns:
        The mean training loss over the samples of the epoch (each batch weighted by its size).

    TODO: train mode; for each batch: zero the gradients, forward, loss, backward, step.
    """
    raise NotImplementedError("Need to implement for exercise training_loop")


def evaluate(model: nn.Module, loader: DataLoader, loss_fn: nn.Module) -> float:
    """Return the mean loss over the samples of `loader`, without changing the model.

    TODO: eval mode, no autograd, a weighted mean as above.
    """
    raise NotImplementedError("Need to implement for exercise training_loop")


def fit(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    epochs: int,
) -> dict[str, list[float]]:
    """Train for `epochs` epochs, evaluating on `val_loader` after each.

    Returns:
        {"train_loss": [one float per epoch], "val_loss": [one float per epoch]}

    Example:
        >>> history = fit(model, train_loader, val_loader, nn.MSELoss(), optimizer, epochs=3)
        >>> len(history["val_loss"])
        3

    TODO: a loop over epochs calling train_epoch then evaluate.
    """
    raise NotImplementedError("Need to implement for exercise training_loop")
