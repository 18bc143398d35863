"""Grader for dice_loss: multi-class soft Dice loss and dL/dlogits against autograd.

The reference is MONAI's `DiceLoss(softmax=True, to_onehot_y=True, smooth_nr=s,
smooth_dr=s)` (mean over images and classes, background included) differentiated by autograd,
in float64; without MONAI, the same formula written in torch. Every case has a class missing
from one image, where the smooth term decides the value, and every third case has logits of
size 1e3 and more, where a softmax that does not subtract the max overflows.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dllab.lab.checks import Case, assert_close, call, text, unpack

SOFTMAX = text(
    "Dice compares probabilities with the one-hot target: take the softmax over the CLASS "
    "axis (axis 1) of the logits first; raw logits or a per-class sigmoid give other numbers.",
    "Dice 比较的是概率与 one-hot 目标：先在类别维（axis 1）上对 logits 做 softmax；"
    "直接用 logits 或逐类 sigmoid 都会得到别的数。",
)
SMOOTH = text(
    "Add the smooth term to the numerator AND the denominator: dice = (2 * inter + smooth) / "
    "(sum p + sum g + smooth). It keeps a class that is absent from an image (inter = sum g = "
    "0) from dividing 0 by almost 0, and scores a correct 'nothing here' as dice 1.",
    "平滑项要同时加在分子和分母上：dice = (2 * inter + smooth) / (sum p + sum g + smooth)。"
    "它使图像中不存在的类别（inter = sum g = 0）不会出现 0 除以接近 0，并把正确的"
    "“这里什么都没有”记为 dice 1。",
)
REDUCE = text(
    "Compute one Dice per image AND class, summing over the pixels only (axes 2 and 3), "
    "then take the mean of 1 - dice over all N * C of them (MONAI's default, batch=False).",
    "对每张图像、每个类别各算一个 Dice，只在像素上求和（axis 2 和 3），然后对全部 N * C 个 "
    "1 - dice 取平均（MONAI 的默认，batch=False）。",
)
SOFTMAX_GRAD = text(
    "The gradient must go back through the softmax: dlogits = p * (dp - sum_c p * dp), where "
    "dp = dL/dp. Each probability depends on every logit of its pixel, so p * (1 - p) * dp "
    "(the diagonal only) is not enough.",
    "梯度必须穿过 softmax 反传：dlogits = p * (dp - sum_c p * dp)，其中 dp = dL/dp。"
    "每个概率都依赖于该像素的所有 logits，所以只用对角项 p * (1 - p) * dp 不够。",
)


def _dice(logits, target, smooth, *, act="softmax", nr=True, dr=True, reduce="mean"):
    """(loss, dL/dlogits) of soft Dice by autograd, with a known mistake switched on."""
    z = torch.tensor(logits, requires_grad=True)
    c = z.shape[1]
    p = {"softmax": lambda: z.softmax(1), "sigmoid": z.sigmoid, "none": lambda: z}[act]()
    g = F.one_hot(torch.tensor(target), c).permute(0, 3, 1, 2).double()  # (N, C, H, W)
    axes = (0, 2, 3) if reduce == "batch" else (2, 3)
    inter, denom = (p * g).sum(axes), p.sum(axes) + g.sum(axes)
    f = 1 - (2 * inter + (smooth if nr else 0.0)) / (denom + (smooth if dr else 0.0))
    loss = f.sum(1).mean() if reduce == "sum_classes" else f.mean()
    loss.backward()
    return loss.item(), z.grad.numpy()


def _reference(logits, target, smooth):
    try:
        from monai.losses import DiceLoss
    except ImportError:  # the [medical] extra is absent: the same formula in torch
        return _dice(logits, target, smooth)
    z = torch.tensor(logits, requires_grad=True)
    dice = DiceLoss(softmax=True, to_onehot_y=True, smooth_nr=smooth, smooth_dr=smooth)
    loss = dice(z, torch.tensor(target)[:, None])
    loss.backward()
    return loss.item(), z.grad.numpy()


def _wrong_softmax_backward(logits, target, smooth) -> list:
    """Gradients that stop at dL/dp or keep only the softmax Jacobian's diagonal."""
    z = torch.tensor(logits)
    p = z.softmax(1).requires_grad_(True)
    c = z.shape[1]
    g = F.one_hot(torch.tensor(target), c).permute(0, 3, 1, 2).double()
    inter, denom = (p * g).sum((2, 3)), p.sum((2, 3)) + g.sum((2, 3))
    (1 - (2 * inter + smooth) / (denom + smooth)).mean().backward()
    dp, pv = p.grad.numpy(), p.detach().numpy()
    return [(dp, SOFTMAX_GRAD), (pv * (1 - pv) * dp, SOFTMAX_GRAD)]


def make_case(index: int, rng: np.random.Generator) -> Case:
    if index == 0:
        n, c, h, w = 2, 3, 4, 4
    else:
        n, c = (int(v) for v in rng.integers([1, 2], [4, 6]))
        h, w = (int(v) for v in rng.integers(2, 8, size=2))
    scale = 1e3 if index % 3 == 1 else float(rng.uniform(0.5, 3.0))
    logits = rng.normal(size=(n, c, h, w)) * scale
    target = rng.integers(0, c, size=(n, h, w))
    target[0][target[0] == c - 1] = 0  # the last class is absent from the first image
    smooth = float(rng.choice([1.0, 0.5, 2.0]))

    def check(module):
        reply = call(module, "dice_loss", logits.copy(), target.copy(), smooth)
        loss, dlogits = unpack("dice_loss", reply, 2)
        ref_loss, ref_grad = _reference(logits, target, smooth)
        variants = [
            (dict(act="none"), SOFTMAX),
            (dict(act="sigmoid"), SOFTMAX),
            (dict(nr=False, dr=False), SMOOTH),
            (dict(nr=False), SMOOTH),
            (dict(dr=False), SMOOTH),
            (dict(reduce="batch"), REDUCE),
            (dict(reduce="sum_classes"), REDUCE),
        ]
        with np.errstate(all="ignore"):
            wrong = [(_dice(logits, target, smooth, **kw), why) for kw, why in variants]
        assert_close("loss", loss, ref_loss, mistakes=[(w[0], why) for w, why in wrong])
        assert_close(
            "dlogits",
            dlogits,
            ref_grad,
            mistakes=[(w[1], why) for w, why in wrong]
            + _wrong_softmax_backward(logits, target, smooth),
            hint=SOFTMAX_GRAD,
        )

    return Case(
        text(
            f"logits {(n, c, h, w)} (scale {scale:g}), target {(n, h, w)}, smooth {smooth:g}",
            f"logits {(n, c, h, w)}（尺度 {scale:g}），target {(n, h, w)}，smooth {smooth:g}",
        ),
        check,
    )
