"""Reference solution of tensor_ops: broadcasting, gather, reshape + permute."""

from __future__ import annotations

import torch


def pairwise_sq_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """out[i, j] = ||a[i] - b[j]||^2 through an (N, M, D) broadcast."""
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)


def pick(logits: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """out[i] = logits[i, index[i]]."""
    return logits.gather(1, index[:, None]).squeeze(1)


def patchify(images: torch.Tensor, p: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, H/p * W/p, C * p * p), patches row-major, each (C, p, p) flattened."""
    b, c, h, w = images.shape
    x = images.reshape(b, c, h // p, p, w // p, p)  # (B, C, i, r, j, s)
    x = x.permute(0, 2, 4, 1, 3, 5)  # (B, i, j, C, r, s)
    return x.reshape(b, (h // p) * (w // p), c * p * p)
