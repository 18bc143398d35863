"""Exercise tensor_ops: three everyday PyTorch tensor manipulations, without Python loops.

Each function takes and returns torch tensors. Grade it with `dllab lab check tensor_ops`.
"""

from __future__ import annotations

import torch


def pairwise_sq_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Return out (N, M) with out[i, j] = ||a[i] - b[j]||^2, for a (N, D) and b (M, D).

    Example:
        >>> pairwise_sq_distances(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]]))
        tensor([[25.]])

    TODO: broadcasting: insert axes so that a and b meet in an (N, M, D) difference.
    """
    raise NotImplementedError("Need to implement for exercise tensor_ops")


def pick(logits: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Return out (N,) with out[i] = logits[i, index[i]], for logits (N, C), index (N,) int64.

    Example:
        >>> pick(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([1, 0]))
        tensor([2., 3.])

    TODO: torch.gather, or indexing with two index tensors.
    """
    raise NotImplementedError("Need to implement for exercise tensor_ops")


def patchify(images: torch.Tensor, p: int) -> torch.Tensor:
    """Cut images (B, C, H, W) into p x p patches: (B, (H // p) * (W // p), C * p * p).

    Patches are in row-major order; inside a patch the order is channel, row, column:
    out[b, i * (W // p) + j, c * p * p + r * p + s] = images[b, c, i * p + r, j * p + s].
    (This is how a Vision Transformer turns an image into a sequence of tokens.)

    TODO: one reshape, one permute, one reshape.
    """
    raise NotImplementedError("Need to implement for exercise tensor_ops")
