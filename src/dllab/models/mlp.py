"""Multilayer perceptron: the fully connected baseline every image model is measured against.

Paper: Rumelhart, Hinton, Williams, "Learning representations by back-propagating errors",
Nature 323, 1986.

It sees an image as a flat vector, so it ignores that neighbouring pixels belong together;
the gap between it and the CNNs in `cnn.py` is what convolution buys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from dllab.models.checks import build, check_input
from dllab.models.registry import register_model

__all__ = ["MLP"]


class MLP(nn.Module):
    """Flatten, then `Linear -> ReLU -> Dropout` per hidden size, then a linear classifier.

    `hidden=()` gives multinomial logistic regression.

    >>> MLP(hidden=(64,))(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        *,
        num_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 28,
        hidden: Sequence[int] = (256, 128),  # two layers: ~98% on MNIST, small enough for a CPU
        dropout: float = 0.0,  # off so the baseline is the plain model; 0.2 curbs overfitting
    ) -> None:
        super().__init__()
        self.input_shape = (in_channels, image_size, image_size)
        layers: list[nn.Module] = [nn.Flatten()]  # (B, C*H*W)
        width = in_channels * image_size * image_size
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]  # (B, size)
            width = size
        layers.append(nn.Linear(width, num_classes))  # (B, num_classes)
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.input_shape, "mlp")
        return self.net(x)


@register_model("mlp")
def mlp(**kw: Any) -> MLP:
    """MLP on flattened pixels; options: `hidden` (layer sizes), `dropout`."""
    return build(MLP, "mlp", kw)
