"""Grader for attention: scaled dot-product attention with a mask, against torch."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dllab.lab.checks import Case, assert_close, call, text, unpack


def _attend(q, k, v, mask, scale, axis=-1):
    scores = q @ k.transpose(-1, -2) * scale  # (..., Tq, Tk)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=axis)
    return weights @ v, weights


def make_case(index: int, rng: np.random.Generator) -> Case:
    batch = [int(b) for b in rng.integers(1, 4, size=int(rng.integers(0, 3)))]
    tq, d, dv = (int(v) for v in rng.integers([1, 4, 1], [7, 17, 9]))
    kind = ["causal", "none", "random"][index % 3]
    tk = tq if kind == "causal" else int(rng.integers(1, 8))
    q, k = rng.normal(size=(*batch, tq, d)), rng.normal(size=(*batch, tk, d))
    large = index % 3 == 1  # scores in the thousands: exp overflows without the max subtracted
    if large:
        q, k = q * 60.0, k * 60.0
    v = rng.normal(size=(*batch, tk, dv))
    if kind == "causal":
        mask = np.tril(np.ones((tq, tk), dtype=bool))
    elif kind == "random":
        mask = rng.random((*batch, tq, tk)) < 0.6
        mask[..., 0] = True  # every query may attend somewhere
    else:
        mask = None

    def check(module):
        args = (q.copy(), k.copy(), v.copy(), None if mask is None else mask.copy())
        out, weights = unpack(
            "scaled_dot_product_attention", call(module, "scaled_dot_product_attention", *args), 2
        )
        tq_, tk_, tv_ = torch.tensor(q), torch.tensor(k), torch.tensor(v)
        tm = None if mask is None else torch.tensor(mask)
        _, ref_w = _attend(tq_, tk_, tv_, tm, d**-0.5)
        ref_out = F.scaled_dot_product_attention(tq_, tk_, tv_, tm)
        wrong = [
            (
                1.0,
                text(
                    "Scale the scores by 1/sqrt(d) before the softmax (d = size of q's last axis): "
                    "without it the softmax saturates as d grows.",
                    "softmax 之前要把分数乘以 1/sqrt(d)（d 是 q 最后一维的大小）：不缩放的话 d "
                    "越大 "
                    "softmax 越饱和。",
                ),
            ),
            (1.0 / d, text("The scale is 1/sqrt(d), not 1/d.", "缩放系数是 1/sqrt(d)，不是 1/d。")),
        ]
        variants = [(_attend(tq_, tk_, tv_, tm, s), why) for s, why in wrong]
        if tm is not None:
            variants.append(
                (
                    _attend(tq_, tk_, tv_, ~tm, d**-0.5),
                    text(
                        "mask is True where a query MAY attend (as in "
                        "F.scaled_dot_product_attention); "
                        "set the scores to -inf where it is False.",
                        "mask 为 True 表示可以关注（与 F.scaled_dot_product_attention 相同）；"
                        "在 False 处把分数设为 -inf。",
                    ),
                )
            )
        if tq > 1:
            variants.append(
                (
                    _attend(tq_, tk_, tv_, tm, d**-0.5, axis=-2),
                    text(
                        "The softmax runs over the keys, the last axis: each query's weights sum "
                        "to 1.",
                        "softmax 在 key 维（最后一维）上做：每个 query 的权重之和为 1。",
                    ),
                )
            )
        assert_close(
            "weights",
            weights,
            ref_w.numpy(),
            mistakes=[(w.numpy(), why) for (_, w), why in variants],
        )
        assert_close(
            "out", out, ref_out.numpy(), mistakes=[(o.numpy(), why) for (o, _), why in variants]
        )

    mask_note = {
        "causal": text("causal mask", "因果掩码"),
        "none": text("no mask", "无掩码"),
        "random": text("random mask", "随机掩码"),
    }[kind]
    size_note = text(
        ", large scores (|q k^T| / sqrt(d) up to ~1e4)", "，分数很大（|q k^T| / sqrt(d) 可达 ~1e4）"
    )
    shapes = [f"q {(*batch, tq, d)}", f"k {(*batch, tk, d)}", f"v {(*batch, tk, dv)}"]
    return Case(
        text(
            f"{', '.join(shapes)}, {mask_note['en']}{size_note['en'] if large else ''}",
            f"{'，'.join(shapes)}，{mask_note['zh']}{size_note['zh'] if large else ''}",
        ),
        check,
    )
