"""Grader for miou_confusion: a segmentation confusion matrix and IoU per class and mean,
against torchmetrics' MulticlassConfusionMatrix and MulticlassJaccardIndex.

torchmetrics counts a pixel only where the target is not `ignore_index`, puts the true class
in the rows and the prediction in the columns, gives a class with an empty union (absent from
both prediction and target) IoU 0 in the per-class result and leaves it out of the macro mean.
Every case has ignored pixels and at least one absent class, so each known mistake changes
the numbers; the IoU function is given torchmetrics' own matrix, so it is judged on its own.
"""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics.classification import MulticlassConfusionMatrix, MulticlassJaccardIndex

from dllab.lab.checks import Case, Failed, as_array, assert_close, call, text, unpack

IGNORED = text(
    "Pixels whose TARGET is ignore_index (255: unlabelled, a void border) count nowhere: drop "
    "them before counting, e.g. keep = target != ignore_index.",
    "目标为 ignore_index（255：未标注、空白边界）的像素不计入任何格子：计数前先去掉它们，"
    "例如 keep = target != ignore_index。",
)
SWAPPED = text(
    "Rows are the TRUE class and columns the PREDICTED one (torchmetrics and scikit-learn "
    "agree): cm[t, p] counts pixels of class t predicted as p.",
    "行是真实类别，列是预测类别（torchmetrics 与 scikit-learn 一致）：cm[t, p] 统计真实为 t、"
    "被预测为 p 的像素。",
)
PRECISION = text(
    "IoU = TP / (TP + FP + FN), with TP the diagonal, FP the rest of the column and FN the "
    "rest of the row: TP / column sum is precision and TP / row sum is recall, not IoU.",
    "IoU = TP / (TP + FP + FN)：TP 是对角线，FP 是该列其余部分，FN 是该行其余部分。"
    "TP / 列和是精确率，TP / 行和是召回率，都不是 IoU。",
)
ABSENT = text(
    "A class absent from both prediction and target has union 0: its IoU is undefined, so "
    "leave it out of the mean (torchmetrics reports it as 0 in the per-class result). "
    "Averaging it as 0 punishes a model for classes the images do not contain.",
    "预测和目标里都没有的类别并集为 0：它的 IoU 没有定义，所以不计入平均"
    "（torchmetrics 在逐类结果里把它记为 0）。把它当作 0 来平均，会因为图像里根本没有的"
    "类别而惩罚模型。",
)
NAN = text(
    "0 / 0 for an absent class gives nan: report its per-class IoU as 0 (as torchmetrics "
    "does) and leave it out of the mean.",
    "缺失类别的 0 / 0 会得到 nan：逐类结果里记为 0（与 torchmetrics 一致），并且不计入平均。",
)


def make_case(index: int, rng: np.random.Generator) -> Case:
    if index == 0:
        n, h, w, c = 1, 4, 5, 4
    else:
        n = int(rng.integers(1, 4))
        h, w = (int(v) for v in rng.integers(3, 10, size=2))
        c = int(rng.integers(3, 8))
    absent = int(rng.integers(0, c))  # in neither prediction nor target
    only_pred = (absent + 1) % c  # predicted somewhere, never true: IoU 0, still averaged
    rest = np.array([k for k in range(c) if k != absent])
    target = rng.choice(rest[rest != only_pred], size=(n, h, w))
    preds = np.where(rng.random((n, h, w)) < 0.6, target, rng.choice(rest, size=(n, h, w)))
    preds[0, 0, 0] = only_pred
    ignore_index = 255
    ignored = rng.random((n, h, w)) < 0.2
    ignored[0, -1, -1] = True  # at least one
    target = np.where(ignored, ignore_index, target)
    # preds where the target is ignored are of no class in particular: the last class, often
    preds = np.where(ignored & (rng.random((n, h, w)) < 0.7), c - 1, preds)

    def check(module):
        p, t = torch.tensor(preds), torch.tensor(target)
        cm = MulticlassConfusionMatrix(num_classes=c, ignore_index=ignore_index)(p, t).numpy()
        clipped = MulticlassConfusionMatrix(num_classes=c)(p, t.clamp(max=c - 1)).numpy()
        try:
            got = call(module, "confusion_matrix", preds.copy(), target.copy(), c, ignore_index)
        except Failed as failed:  # e.g. an IndexError from row 255 of a C x C matrix
            raise Failed(failed.message, IGNORED) from None
        assert_close(
            "confusion_matrix(preds, target)",
            got,
            cm,
            mistakes=[(cm.T, SWAPPED), (clipped, IGNORED)],
            hint=IGNORED,
        )

        reply = call(module, "iou_from_confusion", cm.copy())
        per_class, miou = unpack("iou_from_confusion", reply, 2)
        per_class, miou = as_array("per-class IoU", per_class), as_array("mIoU", miou)
        if np.isnan(per_class).any() or np.isnan(miou).any():
            raise Failed(text("per-class IoU or mIoU is nan", "逐类 IoU 或 mIoU 是 nan"), NAN)
        jaccard = MulticlassJaccardIndex(num_classes=c, ignore_index=ignore_index, average="none")
        ref_per_class = jaccard(p, t).double().numpy()
        mean = MulticlassJaccardIndex(num_classes=c, ignore_index=ignore_index)(p, t).item()
        tp = np.diag(cm).astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            wrong = [tp / cm.sum(axis=0), tp / cm.sum(axis=1)]
        per_class_mistakes = [(np.nan_to_num(v), PRECISION) for v in wrong]
        assert_close("per-class IoU", per_class, ref_per_class, rtol=1e-5, atol=1e-6,
                     mistakes=per_class_mistakes, hint=PRECISION)  # fmt: skip
        present = cm.sum(0) + cm.sum(1) > 0
        assert_close(
            "mIoU",
            miou,
            mean,
            mistakes=[(ref_per_class.mean(), ABSENT)]
            + [(np.nan_to_num(v)[present].mean(), PRECISION) for v in wrong],
            hint=ABSENT,
        )

    return Case(
        text(
            f"preds and target {(n, h, w)}, {c} classes (class {absent} absent, "
            f"{int(ignored.sum())} pixels ignored)",
            f"preds 与 target {(n, h, w)}，{c} 个类别（类别 {absent} 不出现，"
            f"{int(ignored.sum())} 个像素被忽略）",
        ),
        check,
    )
