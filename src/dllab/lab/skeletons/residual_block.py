"""Exercise residual_block: the basic block of ResNet-18/34 (He et al. 2016, fig. 2).

    out = relu( bn2(conv2( relu(bn1(conv1(x))) )) + shortcut(x) )

conv1: 3x3, stride `stride`, padding 1; conv2: 3x3, stride 1, padding 1; both bias=False.
shortcut: the identity when the shapes already agree, else a 1x1 conv (stride `stride`,
bias=False) followed by a BatchNorm2d, so that x can be added to the branch.
The grader loads weights into your block BY NAME: keep conv1, bn1, conv2, bn2, shortcut.
Grade it with `dllab lab check residual_block`.
"""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    """(N, in_channels, H, W) -> (N, out_channels, H_out, W_out), H_out = ceil(H / stride).

    Example:
        >>> BasicBlock(16, 32, stride=2)(torch.randn(1, 16, 8, 8)).shape
        torch.Size([1, 32, 4, 4])
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        """TODO: super().__init__(); conv1, bn1, conv2, bn2, and shortcut (an nn.Sequential,
        empty for the identity)."""
        raise NotImplementedError("Need to implement for exercise residual_block")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """TODO: the residual branch, plus the shortcut, then a ReLU."""
        raise NotImplementedError("Need to implement for exercise residual_block")
