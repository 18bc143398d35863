"""Grader for masked_mha: multi-head attention with masks against nn.MultiheadAttention."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dllab.lab.checks import Case, Failed, as_array, assert_close, call, text, unpack


def _mha(query, key, value, p, heads, blocked, *, how="right", scale_by_model=False):
    """A transcription with switches for the typical mistakes; `blocked` (B, 1, T, S)."""
    b, t, d = query.shape
    w_q, w_k, w_v = p["in_proj_weight"].chunk(3)
    b_q, b_k, b_v = p["in_proj_bias"].chunk(3)

    def split(x):
        return x.reshape(b, -1, heads, d // heads).transpose(1, 2)

    q, k, v = (
        split(F.linear(query, w_q, b_q)),
        split(F.linear(key, w_k, b_k)),
        split(F.linear(value, w_v, b_v)),
    )
    scores = q @ k.transpose(-1, -2) / math.sqrt(d if scale_by_model else d // heads)
    if how == "right":
        weights = scores.masked_fill(blocked, float("-inf")).softmax(-1)
    elif how == "plus":  # a big number added where blocked, instead of subtracted
        weights = (scores + 1e9 * blocked).softmax(-1)
    elif how == "inverted":  # the allowed keys hidden instead of the blocked ones
        weights = scores.masked_fill(~blocked, -1e9).softmax(-1)
    elif how == "after":  # zeroed after the softmax: rows no longer sum to 1
        weights = scores.softmax(-1).masked_fill(blocked, 0.0)
    else:  # "none"
        weights = scores.softmax(-1)
    out = (weights @ v).transpose(1, 2).reshape(b, t, d)
    return F.linear(out, p["out_proj.weight"], p["out_proj.bias"]), weights


WHY = {
    "plus": text(
        "The mask has the wrong sign: blocked scores must go DOWN to -inf (or a large negative "
        "number), so that their weight after the softmax is 0.",
        "掩码的符号反了：被屏蔽的分数要变成 -inf（或很大的负数），softmax 之后权重才是 0。",
    ),
    "inverted": text(
        "You hid the keys a query may see and kept the others: key_padding_mask is True at "
        "PADDING, and causal hides keys j > i.",
        "你屏蔽了应该看到的 key、保留了其余的：key_padding_mask 在填充处为 True，"
        "causal 屏蔽的是 j > i 的 key。",
    ),
    "after": text(
        "Masking after the softmax leaves rows that no longer sum to 1: put -inf in the scores "
        "BEFORE the softmax.",
        "在 softmax 之后再屏蔽，每行权重之和就不再是 1：要在 softmax 之前把分数设为 -inf。",
    ),
    "none": text(
        "The masks are not applied: padded keys (and, with causal, future keys) get weight.",
        "没有使用掩码：填充的 key（以及 causal 时未来的 key）得到了权重。",
    ),
    "scale": text(
        "Each head scales by 1/sqrt(d_head), d_head = d_model / n_heads, not 1/sqrt(d_model).",
        "每个头按 1/sqrt(d_head) 缩放，d_head = d_model / n_heads，而不是 1/sqrt(d_model)。",
    ),
}


def make_case(index: int, rng: np.random.Generator) -> Case:
    heads = [1, 2, 4][index % 3]
    d = heads * int(rng.integers(2, 6))
    causal = index % 2 == 1  # self-attention with a causal mask; otherwise cross-attention
    b, t = int(rng.integers(1, 4)), int(rng.integers(2, 8))
    s = t if causal else int(rng.integers(2, 8))
    lengths = rng.integers(1, s + 1, size=b)
    lengths[-1] = max(1, s - 1 - int(rng.integers(0, s)))  # at least one padded row mostly
    padding = torch.tensor(np.arange(s)[None, :] >= lengths[:, None])  # (B, S)
    torch.manual_seed(int(rng.integers(2**31)))
    mha = nn.MultiheadAttention(d, heads, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        for p in mha.parameters():
            p.add_(torch.randn_like(p) * 0.3)  # biases start at 0: make them matter
    params = {k: v.detach().clone() for k, v in mha.state_dict().items()}
    query = torch.tensor(rng.normal(size=(b, t, d)))
    key = query if causal else torch.tensor(rng.normal(size=(b, s, d)))
    value = query if causal else torch.tensor(rng.normal(size=(b, s, d)))
    blocked = padding[:, None, None, :]
    if causal:
        blocked = blocked | torch.ones(t, s, dtype=torch.bool).triu(1)

    def check(module):
        with torch.no_grad():
            ref_out, ref_w = mha(
                query, key, value, key_padding_mask=padding, need_weights=True,
                attn_mask=torch.ones(t, s, dtype=torch.bool).triu(1) if causal else None,
                average_attn_weights=False,
            )  # fmt: skip
            variants = [(_mha(query, key, value, params, heads, blocked, how=h), WHY[h])
                        for h in ("plus", "inverted", "after", "none")]  # fmt: skip
            variants.append(
                (_mha(query, key, value, params, heads, blocked, scale_by_model=True), WHY["scale"])
            )
        got = call(
            module, "masked_multi_head_attention", query.clone(), key.clone(), value.clone(),
            {k: v.clone() for k, v in params.items()}, heads, padding.clone(), causal,
        )  # fmt: skip
        out, weights = unpack("masked_multi_head_attention", got, 2)
        w = as_array("weights", weights)
        if w.shape == tuple(ref_w.shape) and np.isnan(w).any():
            raise Failed(
                text(
                    "weights contain nan: a row whose scores are all -inf (every key hidden), "
                    "or +inf - inf",
                    "weights 含有 nan：某一行的分数全是 -inf（所有 key 都被屏蔽），或出现了 "
                    "+inf - inf",
                ),
                text(
                    "Check the mask's direction and sign: key_padding_mask is True at padding; "
                    "blocked scores get -inf; every query keeps at least key 0.",
                    "检查掩码的方向和符号：key_padding_mask 在填充处为 True；被屏蔽的分数设为 "
                    "-inf；每个 query 至少能看到 key 0。",
                ),
            )
        assert_close(
            "weights",
            w,
            ref_w.numpy(),
            mistakes=[(vw.numpy(), why) for (_, vw), why in variants],
            hint=text(
                "Split heads as (B, L, d) -> (B, L, h, d/h) -> (B, h, L, d/h).",
                "按 (B, L, d) -> (B, L, h, d/h) -> (B, h, L, d/h) 拆分多头。",
            ),
        )
        assert_close(
            "out",
            out,
            ref_out.numpy(),
            mistakes=[(vo.numpy(), why) for (vo, _), why in variants],
            hint=text(
                "Merge the heads back to (B, T, d) before out_proj.",
                "在 out_proj 之前把多头合并回 (B, T, d)。",
            ),
        )

    kind = (
        text("self-attention, causal", "自注意力，因果")
        if causal
        else text(f"cross-attention over {s} keys", f"对 {s} 个键的交叉注意力")
    )
    return Case(
        text(
            f"query {(b, t, d)}, {heads} heads, {kind['en']}, key lengths {lengths.tolist()}",
            f"query {(b, t, d)}，{heads} 个头，{kind['zh']}，键长度 {lengths.tolist()}",
        ),
        check,
    )
