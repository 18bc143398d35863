"""Reference solution of training_loop: train_epoch, evaluate and fit."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader


def train_epoch(
    model: nn.Module, loader: DataLoader, loss_fn: nn.Module, optimizer: torch.optim.Optimizer
) -> float:
    """One epoch of training; the mean loss over samples."""
    model.train()  # dropout on, BatchNorm uses batch statistics
    total, count = 0.0, 0
    for x, y in loader:
        optimizer.zero_grad()  # gradients accumulate in .grad otherwise
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(x)  # loss is a batch mean; weight it by the batch's size
        count += len(x)
    return total / count


def evaluate(model: nn.Module, loader: DataLoader, loss_fn: nn.Module) -> float:
    """Mean loss over samples in eval mode, without building a graph."""
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for x, y in loader:
            total += loss_fn(model(x), y).item() * len(x)
            count += len(x)
    return total / count


def fit(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    epochs: int,
) -> dict[str, list[float]]:
    """Train and validate every epoch; the history of both losses."""
    history: dict[str, list[float]] = {"train_loss": [], "val_loss": []}
    for _ in range(epochs):
        history["train_loss"].append(train_epoch(model, train_loader, loss_fn, optimizer))
        history["val_loss"].append(evaluate(model, val_loader, loss_fn))
    return history
