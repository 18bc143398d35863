"""Exercise nms: greedy non-maximum suppression, per image and per class, in NumPy.

A detector proposes many overlapping boxes for one object. NMS keeps the best: take the
highest-scoring box left, keep it, drop every remaining box whose IoU with it is GREATER than
`iou_threshold` (a box at exactly the threshold stays), repeat. `batched_nms` does the same
within each class only: a dog box never suppresses a cat box. Like torchvision.ops.nms and
torchvision.ops.batched_nms, both return the kept indices in decreasing order of score.
Boxes are (x1, y1, x2, y2). Grade it with `dllab lab check nms` (compared with torchvision).
"""

from __future__ import annotations

import numpy as np


def box_iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """Return the IoU of every pair: boxes1 (N, 4), boxes2 (M, 4) -> (N, M).

    TODO: your box_iou of the `iou` exercise (copy it here).
    """
    raise NotImplementedError("Need to implement for exercise nms")


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Return the indices of the boxes NMS keeps, highest score first.

    Args:
        boxes: (N, 4). scores: (N,), all different. iou_threshold: suppress IoU > this.

    Returns:
        (K,) int array of indices into boxes.

    Example:
        >>> boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30.0]])
        >>> nms(boxes, np.array([0.6, 0.9, 0.8]), 0.5)
        array([1, 2])

    TODO: visit the boxes in decreasing order of score; skip those already suppressed; keep
    the rest and suppress what overlaps them by more than the threshold.
    """
    raise NotImplementedError("Need to implement for exercise nms")


def batched_nms(
    boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, iou_threshold: float
) -> np.ndarray:
    """Return the indices NMS keeps within each class, all classes together, highest score first.

    Args:
        boxes: (N, 4). scores: (N,). labels: (N,) int class of each box.

    TODO: run nms on the boxes of each label separately, map the kept positions back to
    indices into `boxes`, then sort all kept indices by decreasing score.
    """
    raise NotImplementedError("Need to implement for exercise nms")
