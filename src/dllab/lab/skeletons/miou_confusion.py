"""Exercise miou_confusion: the confusion matrix of a segmentation, IoU per class and mIoU.

A segmentation model labels every pixel. Count, over all pixels, how often true class t was
predicted as p: that is the confusion matrix cm (C, C), rows the TRUE class, columns the
PREDICTED one (as torchmetrics and scikit-learn). Pixels whose target is `ignore_index`
(255: unlabelled, as in Cityscapes) count nowhere. From it, per class k:

    TP = cm[k, k],  FP = column k without TP,  FN = row k without TP
    IoU_k = TP / (TP + FP + FN)

and mIoU is the mean of IoU_k over the classes that occur in the prediction or the target.
A class absent from both has TP + FP + FN = 0: its IoU is reported as 0 and it is left out of
the mean (torchmetrics' MulticlassJaccardIndex does the same).
NumPy only: torch is refused. Grade it with `dllab lab check miou_confusion`.
"""

from __future__ import annotations

import numpy as np


def confusion_matrix(
    preds: np.ndarray, target: np.ndarray, num_classes: int, ignore_index: int = 255
) -> np.ndarray:
    """Return the (C, C) integer confusion matrix of label maps preds and target (same shape).

    Example:
        >>> confusion_matrix(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 255]), 2)
        array([[1, 1],
               [0, 1]])

    TODO: drop the ignored pixels; count each (true, predicted) pair, e.g. with np.bincount
    of target * num_classes + preds, reshaped to (C, C).
    """
    raise NotImplementedError("Need to implement for exercise miou_confusion")


def iou_from_confusion(cm: np.ndarray) -> tuple[np.ndarray, float]:
    """Return (IoU of each class (C,), mIoU as a float) from a confusion matrix (C, C).

    Example:
        >>> iou, miou = iou_from_confusion(np.array([[1, 1, 0], [0, 1, 0], [0, 0, 0]]))
        >>> iou.round(3).tolist(), round(miou, 3)
        ([0.5, 0.5, 0.0], 0.5)

    TODO: TP from the diagonal, the union from row and column sums; IoU 0 and no vote in the
    mean for a class whose union is 0.
    """
    raise NotImplementedError("Need to implement for exercise miou_confusion")
