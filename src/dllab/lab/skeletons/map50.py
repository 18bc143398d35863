"""Exercise map50: mean average precision at IoU 0.5 (mAP@0.5), by hand, in NumPy.

A detector returns, per image, boxes (x1, y1, x2, y2) with scores and class labels. For one
class, COCO's evaluation (Lin et al. 2014; pycocotools, torchmetrics' MeanAveragePrecision):

1. Match, image by image: visit the predictions in decreasing order of score; each one takes
   the not-yet-matched ground-truth box it overlaps most, if that IoU is >= 0.5 (a true
   positive, TP); otherwise it is a false positive (FP). An object is found once: a second
   detection of it is an FP.
2. Pool the predictions of all images, sort by decreasing score, and follow the running counts:
   recall = TP / (number of ground-truth boxes), precision = TP / (TP + FP).
3. Interpolate: precision at a rank becomes the best precision at that rank or any later one.
   AP is the mean, over the 101 recall levels 0, 0.01, ..., 1, of the interpolated precision
   at the first rank whose recall reaches the level (0 if no rank does).

mAP@0.5 is the mean AP over the classes that have at least one ground-truth box.
Grade it with `dllab lab check map50` (compared with torchmetrics, iou_thresholds=[0.5]).
"""

from __future__ import annotations

import numpy as np


def box_iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """Return the IoU of every pair: boxes1 (N, 4), boxes2 (M, 4) -> (N, M).

    TODO: your box_iou of the `iou` exercise (copy it here).
    """
    raise NotImplementedError("Need to implement for exercise map50")


def match_detections(
    pred_boxes: np.ndarray, pred_scores: np.ndarray, gt_boxes: np.ndarray, iou_threshold: float
) -> np.ndarray:
    """Return which predictions are true positives, for one image and one class.

    Args:
        pred_boxes: (P, 4). pred_scores: (P,). gt_boxes: (G, 4); P or G may be 0.
        iou_threshold: a match needs IoU >= this.

    Returns:
        (P,) bool, in the order of pred_boxes (not sorted).

    TODO: step 1 above.
    """
    raise NotImplementedError("Need to implement for exercise map50")


def average_precision(is_tp: np.ndarray, scores: np.ndarray, n_gt: int) -> float:
    """Return COCO's 101-point AP of one class.

    Args:
        is_tp: (P,) bool, the predictions of every image together. scores: (P,).
        n_gt: ground-truth boxes of this class in all images (> 0).

    Example:
        >>> average_precision(np.array([True, False]), np.array([0.9, 0.8]), 2)
        0.504950495049505

    TODO: steps 2 and 3 above (np.cumsum, np.maximum.accumulate, np.searchsorted help).
    """
    raise NotImplementedError("Need to implement for exercise map50")


def map50(preds: list[dict], targets: list[dict]) -> float:
    """Return mAP@0.5 over a set of images.

    Args:
        preds: one dict per image: "boxes" (P, 4), "scores" (P,), "labels" (P,) int.
        targets: one dict per image: "boxes" (G, 4), "labels" (G,) int.

    TODO: for each class with a ground-truth box: match in every image (only boxes of that
    class), pool, average_precision; then the mean over those classes.
    """
    raise NotImplementedError("Need to implement for exercise map50")
