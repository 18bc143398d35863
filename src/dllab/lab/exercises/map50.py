"""Grader for map50: matching, 101-point AP and mAP@0.5 against torchmetrics' MeanAveragePrecision.

The grader's own implementation below (with switches for the known mistakes) must agree with
torchmetrics on every case, computed at torchmetrics' recall levels. Those are float32
(`torch.linspace`): 0.6 is 0.6000000238 there, so a recall of exactly 3/5 misses its level. The
learner's answers are compared with the same computation at the float64 levels 0, 0.01, ..., 1
that the skeleton describes, so that this rounding never fails a correct answer.
"""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics.detection import MeanAveragePrecision
from torchvision.ops import box_iou

from dllab.lab.checks import Case, Failed, as_array, assert_close, call, text

LEVELS = np.linspace(0.0, 1.0, 101)  # COCO's 101 recall levels, as the skeleton states them
TM_LEVELS = torch.linspace(0.0, 1.0, 101).double().numpy()  # the same, as torchmetrics has them


def _match(pred_boxes, pred_scores, gt_boxes, *, once=True) -> np.ndarray:
    """True positives of one image and class; `once=False` lets an object be found twice."""
    is_tp = np.zeros(len(pred_boxes), dtype=bool)
    if len(pred_boxes) == 0 or len(gt_boxes) == 0:
        return is_tp
    iou = box_iou(torch.tensor(pred_boxes), torch.tensor(gt_boxes)).numpy()
    taken = np.zeros(len(gt_boxes), dtype=bool)
    for i in np.argsort(-pred_scores, kind="stable"):
        free = np.where(taken, -1.0, iou[i]) if once else iou[i]
        j = int(np.argmax(free))
        if free[j] >= 0.5:
            is_tp[i] = taken[j] = True
    return is_tp


def _ap(is_tp, scores, n_gt, *, envelope=True, all_points=False, levels=LEVELS) -> float:
    order = np.argsort(-scores, kind="stable")
    tp, fp = np.cumsum(is_tp[order]), np.cumsum(~is_tp[order])
    recall, precision = tp / n_gt, tp / np.maximum(tp + fp, 1)
    if envelope:
        precision = np.maximum.accumulate(precision[::-1])[::-1]
    if all_points:  # VOC 2010's area under the curve, not COCO's 101 levels
        return float(np.sum(np.diff(np.concatenate([[0.0], recall])) * precision))
    return float(np.mean(np.append(precision, 0.0)[np.searchsorted(recall, levels, side="left")]))


def _pooled(preds, targets, c, *, once=True, by_class=True):
    """(is_tp, scores, n_gt) of class `c` over all images."""
    is_tp, scores, n_gt = [], [], 0
    for p, t in zip(preds, targets, strict=True):
        mine = p["labels"] == c if by_class else np.ones(len(p["labels"]), dtype=bool)
        theirs = t["labels"] == c if by_class else np.ones(len(t["labels"]), dtype=bool)
        is_tp.append(_match(p["boxes"][mine], p["scores"][mine], t["boxes"][theirs], once=once))
        scores.append(p["scores"][mine])
        n_gt += int(theirs.sum())
    return np.concatenate(is_tp), np.concatenate(scores), n_gt


def _map(preds, targets, *, once=True, by_class=True, absent=False, **ap) -> float:
    """mAP@0.5; `absent` also averages classes that only the predictions name (AP 0)."""
    classes = np.unique(np.concatenate([t["labels"] for t in targets]))
    if absent:
        classes = np.union1d(classes, np.concatenate([p["labels"] for p in preds]))
    if not by_class:
        classes = classes[:1]
    aps = []
    for c in classes:
        is_tp, scores, n_gt = _pooled(preds, targets, c, once=once, by_class=by_class)
        aps.append(_ap(is_tp, scores, n_gt, **ap) if n_gt else 0.0)
    return float(np.mean(aps))


def _torchmetrics(preds, targets) -> float:
    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", iou_thresholds=[0.5])
    metric.update(
        [{k: torch.tensor(v) for k, v in p.items()} for p in preds],
        [{k: torch.tensor(v) for k, v in t.items()} for t in targets],
    )
    return float(metric.compute()["map"])


DUPLICATES = text(
    "An object is found once: a prediction may only match a ground-truth box that no "
    "higher-scoring prediction has matched; a second detection of the same object is a false "
    "positive.",
    "一个目标只能被找到一次：预测只能匹配还没有被更高分预测匹配过的真实框；对同一目标的第二个"
    "检测是假阳性（FP）。",
)
ENVELOPE = text(
    "Interpolate the precision: at each rank use the best precision at that rank or any later "
    "one (a running max from the end, np.maximum.accumulate on the reversed array).",
    "要对精度做插值：每个位置取该位置及之后所有位置中的最大精度（从末尾开始的累计最大值，"
    "对反转后的数组用 np.maximum.accumulate）。",
)
ALL_POINTS = text(
    "That is the area under the whole curve (VOC 2010). COCO, and torchmetrics, average the "
    "interpolated precision at the 101 recall levels 0, 0.01, ..., 1.",
    "这是整条曲线下的面积（VOC 2010）。COCO 和 torchmetrics 是在 0, 0.01, ..., 1 这 101 个"
    "召回率水平上对插值精度取平均。",
)


def _random_boxes(rng, n) -> np.ndarray:
    corner, size = rng.uniform(0, 60, size=(n, 2)), rng.uniform(5, 20, size=(n, 2))
    return np.concatenate([corner, corner + size], axis=1)


def _image(rng, n_classes: int, absent: bool) -> tuple[dict, dict]:
    """One image's ground truth and predictions: hits, near misses, duplicates, false alarms."""
    gt = _random_boxes(rng, int(rng.integers(1, 5)))
    gt_labels = rng.integers(0, n_classes, size=len(gt))
    boxes, labels = [], []
    for box, label in zip(gt, gt_labels, strict=True):
        size = np.tile(box[2:] - box[:2], 2)
        for _ in range(int(rng.choice([0, 1, 1, 2]))):  # missed, found, found twice
            boxes.append(box + rng.normal(scale=rng.choice([0.05, 0.2]), size=4) * size)
            labels.append(label)
    n_false = int(rng.integers(0, 3))
    boxes += list(_random_boxes(rng, n_false))
    labels += list(rng.integers(0, n_classes + absent, size=n_false))
    boxes = np.array(boxes).reshape(-1, 4)
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1.0)
    pred = {"boxes": boxes, "scores": rng.uniform(0.01, 1.0, size=len(boxes)),
            "labels": np.array(labels, dtype=np.int64)}  # fmt: skip
    return pred, {"boxes": gt, "labels": gt_labels.astype(np.int64)}


def make_case(index: int, rng: np.random.Generator) -> Case:
    n_images, n_classes = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    absent = index % 2 == 1  # false alarms of a class no image contains
    preds, targets = zip(*(_image(rng, n_classes, absent) for _ in range(n_images)), strict=True)
    preds, targets = list(preds), list(targets)

    def check(module):
        for i, (p, t) in enumerate(zip(preds, targets, strict=True)):
            for c in np.unique(t["labels"]):
                mine, theirs = p["labels"] == c, t["labels"] == c
                args = (p["boxes"][mine], p["scores"][mine], t["boxes"][theirs])
                got = call(module, "match_detections", *(a.copy() for a in args), 0.5)
                expected = _match(*args)
                got = as_array("match_detections", got)
                if got.shape == expected.shape and np.array_equal(got.astype(bool), expected):
                    continue
                message = text(
                    f"match_detections in image {i}, class {c}: expected true positives "
                    f"{expected.astype(int).tolist()}, got {got.astype(int).tolist()}",
                    f"第 {i} 张图、类别 {c} 的 match_detections：真阳性应为 "
                    f"{expected.astype(int).tolist()}，实际为 {got.astype(int).tolist()}",
                )
                dup = _match(*args, once=False)
                raise Failed(message, DUPLICATES if np.array_equal(got, dup) else None)

        c = int(targets[0]["labels"][0])
        is_tp, scores, n_gt = _pooled(preds, targets, c)
        assert_close(
            f"average_precision for class {c} ({len(scores)} predictions, {n_gt} objects)",
            call(module, "average_precision", is_tp.copy(), scores.copy(), n_gt),
            _ap(is_tp, scores, n_gt),
            mistakes=[
                (_ap(is_tp, scores, n_gt, envelope=False), ENVELOPE),
                (_ap(is_tp, scores, n_gt, all_points=True), ALL_POINTS),
            ],
        )

        tm = _torchmetrics(preds, targets)
        assert abs(tm - _map(preds, targets, levels=TM_LEVELS)) < 1e-6, "torchmetrics disagrees"
        variants = [
            (dict(once=False), DUPLICATES),
            (dict(envelope=False), ENVELOPE),
            (dict(all_points=True), ALL_POINTS),
            (
                dict(absent=True),
                text(
                    "Average over the classes that have ground-truth boxes only: a class that "
                    "appears only among the predictions has no AP (COCO leaves it out).",
                    "只对有真实框的类别取平均：只出现在预测中的类别没有 AP（COCO 不计入）。",
                ),
            ),
            (
                dict(by_class=False),
                text(
                    "Match and rank each class on its own: a prediction only matches a "
                    "ground-truth box of its own label.",
                    "每个类别分别匹配和排序：预测只能匹配同一类别的真实框。",
                ),
            ),
        ]
        assert_close(
            "map50(preds, targets)",
            call(module, "map50", preds, targets),
            _map(preds, targets),
            rtol=1e-4,
            atol=1e-5,
            mistakes=[(_map(preds, targets, **kw), why) for kw, why in variants],
            hint=text(
                "Take the mean of the per-class APs, each class pooled over all images.",
                "对各类别的 AP 取平均，每个类别都在所有图像上汇总。",
            ),
        )

    n_pred = sum(len(p["boxes"]) for p in preds)
    n_gt = sum(len(t["boxes"]) for t in targets)
    extra = text(", a class found only in the predictions", "，有一个类别只出现在预测中")
    return Case(
        text(
            f"{n_images} images, {n_classes} classes, {n_pred} predictions, {n_gt} objects"
            + (extra["en"] if absent else ""),
            f"{n_images} 张图像，{n_classes} 个类别，{n_pred} 个预测，{n_gt} 个目标"
            + (extra["zh"] if absent else ""),
        ),
        check,
    )
