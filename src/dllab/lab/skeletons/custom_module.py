"""Exercise custom_module: build a network as your own torch.nn.Module.

    Classifier:  x (B, in_features) -> embed -> n_blocks x ResidualMLP -> head -> (B, n_classes)
    ResidualMLP: x + fc2(relu(fc1(norm(x))))          # a pre-norm residual block

The grader builds `Classifier(in_features, dim, n_blocks, n_classes)`, loads weights into it
BY NAME (so keep the attribute names below), and compares its output with its own.
Grade it with `dllab lab check custom_module`.
"""

from __future__ import annotations

import torch
from torch import nn


class ResidualMLP(nn.Module):
    """One block of norm = nn.LayerNorm(dim), fc1 = nn.Linear(dim, hidden), fc2 = nn.Linear(hidden, dim).

    x (B, dim) -> (B, dim).
    """

    def __init__(self, dim: int, hidden: int) -> None:
        """TODO: call super().__init__(), then create self.norm, self.fc1 and self.fc2."""
        raise NotImplementedError("Need to implement for exercise custom_module")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, dim) -> (B, dim): x + fc2(relu(fc1(norm(x))))."""
        raise NotImplementedError("Need to implement for exercise custom_module")


class Classifier(nn.Module):
    """embed = nn.Linear(in_features, dim); blocks: n_blocks ResidualMLP(dim, 2 * dim);
    head = nn.Linear(dim, n_classes).

    Example:
        >>> model = Classifier(4, 8, 2, 3)
        >>> model(torch.randn(5, 4)).shape
        torch.Size([5, 3])
    """

    def __init__(self, in_features: int, dim: int, n_blocks: int, n_classes: int) -> None:
        """TODO: super().__init__(); self.embed, self.blocks (registered!), self.head."""
        raise NotImplementedError("Need to implement for exercise custom_module")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, in_features) -> logits (B, n_classes)."""
        raise NotImplementedError("Need to implement for exercise custom_module")
