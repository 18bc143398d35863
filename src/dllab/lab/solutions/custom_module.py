"""Reference solution of custom_module: residual MLP blocks held in an nn.ModuleList."""

from __future__ import annotations

import torch
from torch import nn


class ResidualMLP(nn.Module):
    """x + fc2(relu(fc1(norm(x)))): a pre-norm residual block."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(torch.relu(self.fc1(self.norm(x))))


class Classifier(nn.Module):
    """embed -> blocks -> head."""

    def __init__(self, in_features: int, dim: int, n_blocks: int, n_classes: int) -> None:
        super().__init__()
        self.embed = nn.Linear(in_features, dim)
        # a ModuleList registers its modules: their parameters show up in parameters(),
        # state_dict() and .to(device); a plain Python list would hide them
        self.blocks = nn.ModuleList(ResidualMLP(dim, 2 * dim) for _ in range(n_blocks))
        self.head = nn.Linear(dim, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)  # (B, dim)
        for block in self.blocks:
            h = block(h)
        return self.head(h)  # (B, n_classes)
