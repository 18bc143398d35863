"""Exercise iou: the area of boxes and the intersection over union of two sets of boxes, in NumPy.

Boxes are (x1, y1, x2, y2) with x1 <= x2 and y1 <= y2, in continuous coordinates, as in
torchvision.ops.box_iou: a box from x1 = 2 to x2 = 5 is 3 wide (no "+1" as in old pixel-index
code). IoU (the Jaccard index) is

    IoU(a, b) = area(a ∩ b) / area(a ∪ b),   area(a ∪ b) = area(a) + area(b) - area(a ∩ b)

Grade it with `dllab lab check iou` (compared with torchvision.ops.box_iou).
"""

from __future__ import annotations

import numpy as np


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Return the area of each box: boxes (N, 4) -> (N,).

    Example:
        >>> box_area(np.array([[0.0, 0.0, 2.0, 3.0]]))
        array([6.])

    TODO: width times height.
    """
    raise NotImplementedError("Need to implement for exercise iou")


def box_iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """Return the IoU of every pair: boxes1 (N, 4), boxes2 (M, 4) -> (N, M).

    Example:
        >>> box_iou(np.array([[0.0, 0.0, 2.0, 2.0]]), np.array([[1.0, 0.0, 3.0, 2.0]]))
        array([[0.33333333]])

    TODO: the intersection of every pair at once with broadcasting (its corners are the max of
    the top-left corners and the min of the bottom-right ones; an empty overlap has area 0),
    then divide by the union.
    """
    raise NotImplementedError("Need to implement for exercise iou")
