"""Grader for nms: greedy NMS and per-class NMS against torchvision.ops.nms and batched_nms."""

from __future__ import annotations

import numpy as np
import torch
from torchvision.ops import batched_nms, box_iou, nms

from dllab.lab.checks import Case, Failed, call, text


def _greedy(boxes, scores, t, *, order=None, suppress=np.greater) -> list[int]:
    """NMS with a chosen visiting `order` and `suppress` test: the known wrong variants."""
    iou = box_iou(torch.tensor(boxes), torch.tensor(boxes)).numpy()
    order = np.argsort(-scores, kind="stable") if order is None else order
    dropped, keep = np.zeros(len(boxes), dtype=bool), []
    for i in order:
        if not dropped[i]:
            keep.append(int(i))
            dropped |= suppress(iou[i], t)
    return keep


def _indices(name: str, got) -> list[int]:
    if hasattr(got, "tolist"):
        got = got.tolist()
    if not isinstance(got, list | tuple) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in got
    ):
        raise Failed(
            text(
                f"{name} should return a 1-D array (or list) of int indices, got "
                f"{type(got).__name__}",
                f"{name} 应返回由 int 下标组成的一维数组（或列表），实际为 {type(got).__name__}",
            )
        )
    return [int(i) for i in got]


ORDER = text(
    "The right boxes, in the wrong order: return the kept indices sorted by decreasing score "
    "(torchvision does), not by index or class.",
    "保留的框对了，顺序不对：按分数从高到低返回保留的下标（torchvision 就是这样），"
    "而不是按下标或类别排序。",
)
TIES = text(
    "A box is suppressed only when its IoU is GREATER than iou_threshold: one at exactly the "
    "threshold stays (use >, not >=).",
    "只有 IoU 严格大于 iou_threshold 的框才被抑制：恰好等于阈值的框保留（用 >，不要用 >=）。",
)
SCORE_ORDER = text(
    "Visit the boxes in decreasing order of score (np.argsort(-scores)), not in the order "
    "they come: a box may only be suppressed by a better one.",
    "按分数从高到低（np.argsort(-scores)）访问框，而不是按给出的顺序：只有更好的框才能抑制它。",
)


def _judge(call_name: str, got: list[int], expected: list[int], variants) -> None:
    if got == expected:
        return
    message = text(
        f"{call_name} kept {got}, expected {expected}",
        f"{call_name} 保留了 {got}，应为 {expected}",
    )
    if sorted(got) == sorted(expected):
        raise Failed(message, ORDER)
    for variant, why in variants:
        if got == variant:
            raise Failed(message, why)
    raise Failed(
        message,
        text(
            "Work through the case by hand: the best box is always kept; then which boxes "
            "overlap it by more than the threshold?",
            "手算一遍这个例子：最高分的框一定保留；然后哪些框与它的 IoU 超过阈值？",
        ),
    )


def make_case(index: int, rng: np.random.Generator) -> Case:
    threshold = [0.5, 0.25, 0.75][index % 3]
    boxes = []
    for _ in range(int(rng.integers(2, 4))):  # clusters of overlapping proposals
        corner, size = rng.uniform(0, 30, size=2), rng.uniform(4, 12, size=2)
        for _ in range(int(rng.integers(2, 5))):
            jitter = rng.normal(scale=0.15, size=4) * np.concatenate([size, size])
            boxes.append(np.concatenate([corner, corner + size]) + jitter)
    # A pair far from the rest whose IoU is exactly the threshold (10 x 10 and 10 x 10t).
    x = float(rng.integers(100, 120))
    boxes += [np.array([x, x, x + 10, x + 10]), np.array([x, x, x + 10, x + 10 * threshold])]
    boxes = np.array(boxes)
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 0.5)  # jitter never turns a box over
    n = len(boxes)
    scores = rng.uniform(0.05, 0.95, size=n)
    scores[-2], scores[-1] = 0.99, 0.01  # the full box leads its pair
    labels = rng.integers(0, 3, size=n)
    labels[-1] = labels[-2]
    perm = rng.permutation(n)  # the tie pair anywhere, not always last
    boxes, scores, labels = boxes[perm], scores[perm], labels[perm]

    def check(module):
        tb, ts = torch.tensor(boxes), torch.tensor(scores)
        expected = nms(tb, ts, threshold).tolist()
        got = _indices("nms", call(module, "nms", boxes.copy(), scores.copy(), threshold))
        variants = [
            (_greedy(boxes, scores, threshold, suppress=np.greater_equal), TIES),
            (_greedy(boxes, scores, threshold, order=np.arange(n)), SCORE_ORDER),
        ]
        _judge(f"nms(boxes, scores, {threshold})", got, expected, variants)

        expected = batched_nms(tb, ts, torch.tensor(labels), threshold).tolist()
        got = _indices(
            "batched_nms",
            call(module, "batched_nms", boxes.copy(), scores.copy(), labels.copy(), threshold),
        )
        variants = [
            (
                nms(tb, ts, threshold).tolist(),
                text(
                    "Boxes of different classes must not suppress each other: run NMS on each "
                    "label's boxes separately (or offset each class's boxes so they never "
                    "overlap).",
                    "不同类别的框不能互相抑制：对每个类别的框分别做 NMS（或者把各类别的框平移开，"
                    "使它们永不重叠）。",
                ),
            ),
            (_batched(boxes, scores, labels, threshold, suppress=np.greater_equal), TIES),
        ]
        _judge(f"batched_nms(boxes, scores, labels, {threshold})", got, expected, variants)

    return Case(
        text(
            f"boxes ({n}, 4), 3 classes, iou_threshold {threshold}",
            f"boxes ({n}, 4)，3 个类别，iou_threshold {threshold}",
        ),
        check,
    )


def _batched(boxes, scores, labels, t, **kw) -> list[int]:
    """Per-class `_greedy`, all classes merged by decreasing score."""
    kept = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        kept += [int(idx[i]) for i in _greedy(boxes[idx], scores[idx], t, **kw)]
    return sorted(kept, key=lambda i: -scores[i])
