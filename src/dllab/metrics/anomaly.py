"""Anomaly-detection metrics as anomalib and the MVTec-AD paper report them.

- image AUROC: each image's score (the maximum of its anomaly map) against good/defective;
- pixel AUROC: every pixel's score against its mask;
- PRO (per-region overlap, Bergmann et al., "MVTec AD", CVPR 2019, sec. 4.2; code of the
  MVTec AD evaluation, `generic_util.compute_pro`): at a threshold, the mean over all defect
  regions (8-connected components of the masks) of the share of the region above the
  threshold, so a small scratch weighs as much as a large stain. The PRO curve is plotted
  against the false-positive rate on good pixels and integrated from 0 to 30 % FPR, then
  divided by 0.3 so that a perfect detector scores 1.

AUROC comes from torchmetrics; PRO is written here (torchmetrics has none), in NumPy with
SciPy's connected components. `AnomalyMetrics` is a torchmetrics `Metric`, so the Trainer
resets, updates and computes it like any other, and it reports every number overall and per
defect type (good parts plus that type's parts).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torchmetrics import Metric
from torchmetrics.functional.classification import binary_auroc
from torchmetrics.utilities import dim_zero_cat

__all__ = ["AnomalyMetrics", "confusion_at", "pro_curve", "pro_score", "threshold_for_recall"]

_EIGHT = np.ones((3, 3), dtype=bool)  # 8-connectivity, as the MVTec AD evaluation code


def pro_curve(maps: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, PRO) at every distinct score, from the highest threshold down, starting at (0, 0).

    `maps` (N, H, W) float scores, `masks` (N, H, W) bool. FPR is the share of good pixels
    (over all images) at or above the threshold; PRO the mean over every defect region of the
    share of its pixels at or above it. Exact and O(P log P) for P pixels: each pixel adds
    1/#good to FPR or 1/(#regions * region size) to PRO as the threshold passes it.

    >>> fpr, pro = pro_curve(np.array([[[0.9, 0.1]]]), np.array([[[True, False]]]))
    >>> fpr.tolist(), pro.tolist()
    ([0.0, 0.0, 1.0], [0.0, 1.0, 1.0])
    """
    from scipy import ndimage  # here, not at import: `import dllab.tasks` stays quick

    maps, masks = np.asarray(maps, np.float64), np.asarray(masks, bool)
    assert maps.shape == masks.shape and maps.ndim == 3, (maps.shape, masks.shape)
    fp_change = np.zeros(maps.shape)
    pro_change = np.zeros(maps.shape)
    n_regions = 0
    for i, mask in enumerate(masks):
        labels, n = ndimage.label(mask, structure=_EIGHT)
        if n:
            sizes = np.bincount(labels.ravel())  # sizes[0] counts the good pixels
            pro_change[i] = np.where(labels > 0, 1.0 / sizes[labels], 0.0)
        n_regions += n
    fp_change[~masks] = 1.0
    n_good = int((~masks).sum())
    fp_change /= max(n_good, 1)
    pro_change /= max(n_regions, 1)
    order = np.argsort(-maps.ravel(), kind="stable")
    scores = maps.ravel()[order]
    fpr = np.clip(np.cumsum(fp_change.ravel()[order]), 0, 1)
    pro = np.clip(np.cumsum(pro_change.ravel()[order]), 0, 1)
    last_of_tie = np.append(np.diff(scores) != 0, True)  # a threshold takes all equal scores
    return np.concatenate([[0.0], fpr[last_of_tie]]), np.concatenate([[0.0], pro[last_of_tie]])


def _area_up_to(x: np.ndarray, y: np.ndarray, x_max: float) -> float:
    """Trapezoid area under the polyline (x, y), x non-decreasing, from x[0] to x_max; y is
    interpolated linearly at x_max when no point lies on it."""
    inside = x <= x_max
    xs, ys = x[inside], y[inside]
    area = float(np.sum((xs[1:] - xs[:-1]) * (ys[1:] + ys[:-1]) / 2))
    j = int(inside.sum())
    if j < len(x) and x[j - 1] < x_max:  # the segment crossing x_max
        y_max = y[j - 1] + (y[j] - y[j - 1]) * (x_max - x[j - 1]) / (x[j] - x[j - 1])
        area += (x_max - x[j - 1]) * (y[j - 1] + y_max) / 2
    return area


def pro_score(maps: np.ndarray, masks: np.ndarray, max_fpr: float = 0.3) -> float:
    """Area under the PRO curve from FPR 0 to `max_fpr`, divided by `max_fpr` (1 is perfect).

    NaN when the masks hold no defect or no good pixel (nothing to measure)."""
    masks = np.asarray(masks, bool)
    if not masks.any() or masks.all():
        return math.nan
    fpr, pro = pro_curve(maps, masks)
    return _area_up_to(fpr, pro, max_fpr) / max_fpr


def threshold_for_recall(scores: torch.Tensor, defective: torch.Tensor, recall: float) -> float:
    """The highest score threshold that flags at least `recall` of the defective parts
    (an image is flagged when its score >= the threshold).

    >>> threshold_for_recall(torch.tensor([0.25, 0.5, 0.75, 1.0]), torch.tensor([0, 1, 1, 1]), 0.6)
    0.75
    """
    bad = scores[defective.bool()].double().sort(descending=True).values
    if not len(bad):
        raise ValueError("no defective part to choose a threshold on")
    must_catch = max(1, math.ceil(recall * len(bad) - 1e-9))
    return float(bad[must_catch - 1])


def confusion_at(scores: torch.Tensor, defective: torch.Tensor, threshold: float) -> np.ndarray:
    """2x2 confusion matrix, rows = truth (good, defective), columns = flagged (no, yes)."""
    flagged = (scores.double() >= threshold).long()
    truth = defective.long()
    cm = torch.zeros(2, 2, dtype=torch.long)
    cm.index_put_((truth, flagged), torch.ones_like(truth), accumulate=True)
    return cm.numpy()


class AnomalyMetrics(Metric):
    """Image AUROC, pixel AUROC and PRO@30%, overall and per defect type.

    `update(maps, target)` takes anomaly maps (B, H, W) and `target = {"mask": (B, H, W) bool,
    "kind": (B,) int}` (0 = good, i = `defect_types[i - 1]`). `compute()` returns
    `image_auroc`, `pixel_auroc`, `pro` and, for each defect type `t` present, `image_auroc.t`,
    `pixel_auroc.t` and `pro.t` on the good parts plus the parts of type `t`. A split without
    good or without defective parts measures nothing: every value is NaN.
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, defect_types: list[str], max_fpr: float = 0.3, per_type: bool = True):
        super().__init__()
        self.defect_types, self.max_fpr, self.per_type = list(defect_types), max_fpr, per_type
        self.add_state("maps", default=[], dist_reduce_fx="cat")
        self.add_state("masks", default=[], dist_reduce_fx="cat")
        self.add_state("kinds", default=[], dist_reduce_fx="cat")

    def update(self, maps: torch.Tensor, target: dict[str, torch.Tensor]) -> None:
        self.maps.append(maps.detach().float())
        self.masks.append(target["mask"].bool())
        self.kinds.append(target["kind"].long())

    def compute(self) -> dict[str, torch.Tensor]:
        maps, masks = dim_zero_cat(self.maps).cpu(), dim_zero_cat(self.masks).cpu()
        kinds = dim_zero_cat(self.kinds).cpu()
        result = _scores(maps, masks, kinds > 0, self.max_fpr)
        if self.per_type:
            for i, name in enumerate(self.defect_types, start=1):
                keep = (kinds == 0) | (kinds == i)
                if (kinds == i).any():
                    part = _scores(maps[keep], masks[keep], kinds[keep] > 0, self.max_fpr)
                    result.update({f"{k}.{name}": v for k, v in part.items()})
        return result


def _scores(
    maps: torch.Tensor, masks: torch.Tensor, defective: torch.Tensor, max_fpr: float
) -> dict[str, torch.Tensor]:
    nan = torch.tensor(math.nan)
    if not len(maps) or defective.all() or not defective.any():
        return {"image_auroc": nan, "pixel_auroc": nan, "pro": nan}
    image_scores = maps.flatten(1).amax(1)
    return {
        "image_auroc": binary_auroc(_unit(image_scores), defective.long()),
        "pixel_auroc": binary_auroc(_unit(maps.flatten()), masks.flatten().long()),
        "pro": torch.tensor(pro_score(maps.numpy(), masks.numpy(), max_fpr)),
    }


def _unit(scores: torch.Tensor) -> torch.Tensor:
    """`scores` mapped onto [0, 1] in float64, order kept: torchmetrics reads floats outside
    [0, 1] as logits and squashes them with a sigmoid, which ties every score above ~17."""
    s = scores.double()
    lo, hi = s.min(), s.max()
    return (s - lo) / (hi - lo) if hi > lo else torch.zeros_like(s)
