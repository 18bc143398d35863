"""Box overlap and non-maximum suppression, written out so they can be read and checked.

Production code calls `torchvision.ops.box_iou` and `batched_nms`; these twins exist so a
lesson (and the tracker, which works on small numpy arrays) can see every step, and the tests
prove they agree with torchvision. Boxes are xyxy: (x1, y1, x2, y2) with x2 > x1, y2 > y1.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["box_iou", "iou_matrix", "nms"]


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of every box in `a` (N, 4) with every box in `b` (M, 4): (N, M).

    IoU = area(a ∩ b) / area(a ∪ b); disjoint boxes give 0.
    >>> box_iou(torch.tensor([[0., 0, 2, 2]]), torch.tensor([[1., 1, 3, 3]]))
    tensor([[0.1429]])
    """
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])  # (N,)
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])  # (M,)
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])  # (N, M, 2) top-left of the overlap
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])  # (N, M, 2) bottom-right
    inter = (rb - lt).clamp(min=0).prod(-1)  # (N, M), 0 where they do not overlap
    return inter / (area_a[:, None] + area_b[None] - inter)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression: indices of the kept boxes, best score first.

    Take the best remaining box, drop every box overlapping it by more than `iou_threshold`,
    repeat. Same result as `torchvision.ops.nms` (which does this in C++).
    """
    order = scores.argsort(descending=True)
    keep = []
    while order.numel():
        best = order[0]
        keep.append(best)
        overlap = box_iou(boxes[best][None], boxes[order[1:]])[0]  # (rest,)
        order = order[1:][overlap <= iou_threshold]
    return torch.stack(keep) if keep else torch.zeros(0, dtype=torch.long)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`box_iou` for numpy arrays (N, 4) and (M, 4) -> (N, M) float64; empty-safe."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    union = area(a)[:, None] + area(b)[None] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
