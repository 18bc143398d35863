"""Grader for iou: box areas and pairwise IoU against torchvision.ops.box_area and box_iou."""

from __future__ import annotations

import numpy as np
import torch
from torchvision.ops import box_area, box_iou

from dllab.lab.checks import Case, assert_close, call, text


def random_boxes(rng: np.random.Generator, n: int, *, integer: bool) -> np.ndarray:
    """`n` boxes (x1, y1, x2, y2) with sides from 0.5 to 10 in a 30 x 30 field."""
    corner = rng.uniform(0, 20, size=(n, 2))
    size = rng.uniform(0.5, 10, size=(n, 2))
    if integer:  # pixel-like coordinates: where the old "+1" convention tempts
        corner, size = np.floor(corner), np.ceil(size)
    return np.concatenate([corner, corner + size], axis=1)


def _variant_iou(b1, b2, *, plus=0.0, subtract=True, clamp=True) -> np.ndarray:
    """IoU with a known mistake: `plus` 1 (pixel-index areas), no `subtract`, no `clamp`."""
    lt = np.maximum(b1[:, None, :2], b2[None, :, :2])
    wh = np.minimum(b1[:, None, 2:], b2[None, :, 2:]) - lt + plus
    wh = np.clip(wh, 0, None) if clamp else wh
    inter = wh[..., 0] * wh[..., 1]

    def area(b):
        return (b[:, 2] - b[:, 0] + plus) * (b[:, 3] - b[:, 1] + plus)

    union = area(b1)[:, None] + area(b2)[None, :] - (inter if subtract else 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):  # unclamped overlaps can cancel out
        return inter / union


MISTAKES = [
    (
        dict(plus=1.0),
        text(
            "Boxes are in continuous coordinates, as in torchvision: a box from x1 to x2 is "
            "x2 - x1 wide. The '+1' belongs to old pixel-index code (VOC devkit), not here.",
            "框坐标是连续的（与 torchvision 一致）：从 x1 到 x2 的宽度是 x2 - x1。"
            "'+1' 属于旧的像素索引写法（VOC devkit），这里不用。",
        ),
    ),
    (
        dict(subtract=False),
        text(
            "The union counts the overlap once: area(a) + area(b) - intersection. Without the "
            "subtraction an identical pair scores 0.5 instead of 1.",
            "并集只算一次重叠部分：area(a) + area(b) - 交集。不减的话两个相同的框 IoU 是 0.5 "
            "而不是 1。",
        ),
    ),
    (
        dict(clamp=False),
        text(
            "Boxes that do not overlap have intersection 0: clamp the overlap's width and height "
            "at 0 (two negative sides would multiply to a positive area).",
            "不重叠的框交集为 0：把重叠区域的宽和高截断到 0（两个负的边长相乘会得到正面积）。",
        ),
    ),
]


def make_case(index: int, rng: np.random.Generator) -> Case:
    n, m = (3, 4) if index == 0 else (int(v) for v in rng.integers(1, 7, size=2))
    integer = index % 2 == 1
    boxes1 = random_boxes(rng, n, integer=integer)
    boxes2 = random_boxes(rng, m, integer=integer)
    boxes2[0] = boxes1[0]  # an identical pair: IoU 1
    if m > 1:
        boxes2[1] = boxes1[-1] + 25.0  # apart in both x and y: IoU 0
    if m > 2:  # one box inside another
        inner = boxes1[0] + np.array([0.25, 0.25, -0.25, -0.25]) * (boxes1[0, 2] - boxes1[0, 0])
        boxes2[2] = inner

    def check(module):
        t1, t2 = torch.tensor(boxes1), torch.tensor(boxes2)
        assert_close(
            "box_area(boxes1)",
            call(module, "box_area", boxes1.copy()),
            box_area(t1).numpy(),
            mistakes=[
                (
                    (boxes1[:, 2] - boxes1[:, 0] + 1) * (boxes1[:, 3] - boxes1[:, 1] + 1),
                    MISTAKES[0][1],
                )
            ],
            hint=text(
                "area = (x2 - x1) * (y2 - y1), one value per row.",
                "面积 = (x2 - x1) * (y2 - y1)，每行一个值。",
            ),
        )
        assert_close(
            "box_iou(boxes1, boxes2)",
            call(module, "box_iou", boxes1.copy(), boxes2.copy()),
            box_iou(t1, t2).numpy(),
            mistakes=[(_variant_iou(boxes1, boxes2, **kw), why) for kw, why in MISTAKES],
            hint=text(
                "Entry [i, j] is the IoU of boxes1[i] with boxes2[j]; check the identical pair "
                "(IoU 1), the distant pair (IoU 0) and the nested one (small area / large area).",
                "第 [i, j] 项是 boxes1[i] 与 boxes2[j] 的 IoU；检查相同的一对（IoU 为 1）、"
                "相距很远的一对（IoU 为 0）和嵌套的一对（小面积 / 大面积）。",
            ),
        )

    kind = text("integer", "整数") if integer else text("real", "实数")
    return Case(
        text(
            f"boxes1 ({n}, 4), boxes2 ({m}, 4), {kind['en']} coordinates",
            f"boxes1 ({n}, 4)，boxes2 ({m}, 4)，{kind['zh']}坐标",
        ),
        check,
    )
