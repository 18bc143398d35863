"""Grader for encoder_layer: one post-norm encoder layer against nn.TransformerEncoderLayer."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dllab.lab.checks import Case, assert_close, call, text


def _layer(x, p, heads, mask, *, norm_first=False, scale_by_model=False):
    """A transcription of the layer with switches for two common mistakes."""
    b, t, d = x.shape

    def attention(z):
        q, k, v = F.linear(z, p["self_attn.in_proj_weight"], p["self_attn.in_proj_bias"]).chunk(
            3, -1
        )
        q, k, v = (u.reshape(b, t, heads, d // heads).transpose(1, 2) for u in (q, k, v))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d if scale_by_model else d // heads)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)
        return F.linear(out, p["self_attn.out_proj.weight"], p["self_attn.out_proj.bias"])

    def feed_forward(z):
        hidden = F.relu(F.linear(z, p["linear1.weight"], p["linear1.bias"]))
        return F.linear(hidden, p["linear2.weight"], p["linear2.bias"])

    def norm(z, i):
        return F.layer_norm(z, (d,), p[f"norm{i}.weight"], p[f"norm{i}.bias"])

    if norm_first:
        x = x + attention(norm(x, 1))
        return x + feed_forward(norm(x, 2))
    x = norm(x + attention(x), 1)
    return norm(x + feed_forward(x), 2)


def make_case(index: int, rng: np.random.Generator) -> Case:
    heads = [1, 2, 4][index % 3]
    d = heads * int(rng.integers(2, 7))
    b, t, ff = int(rng.integers(1, 4)), int(rng.integers(1, 8)), int(rng.integers(4, 17))
    causal = index % 2 == 1
    torch.manual_seed(int(rng.integers(2**31)))
    layer = nn.TransformerEncoderLayer(
        d, heads, ff, dropout=0.0, batch_first=True, dtype=torch.float64
    ).eval()
    with torch.no_grad():
        for p in layer.parameters():  # LayerNorm starts at (1, 0): make it matter
            p.add_(torch.randn_like(p) * 0.3)
    params = {k: v.detach().clone() for k, v in layer.state_dict().items()}
    x = torch.tensor(rng.normal(size=(b, t, d)))
    mask = torch.tril(torch.ones(t, t, dtype=torch.bool)) if causal else None

    def check(module):
        with torch.no_grad():
            # nn.MultiheadAttention's bool mask is True where attending is NOT allowed
            ref = layer(x, src_mask=None if mask is None else ~mask)
            variants = [
                (
                    _layer(x, params, heads, mask, norm_first=True),
                    text(
                        "This layer is post-norm: add the residual first, then normalise "
                        "(x = norm1(x + attn(x))).",
                        "这是 post-norm 层：先加残差，再归一化（x = norm1(x + attn(x))）。",
                    ),
                ),
                (
                    _layer(x, params, heads, mask, scale_by_model=True),
                    text(
                        "Each head scales by 1/sqrt(head_dim) with head_dim = d_model / n_heads, "
                        "not 1/sqrt(d_model).",
                        "每个头按 1/sqrt(head_dim) 缩放，head_dim = d_model / n_heads，而不是 "
                        "1/sqrt(d_model)。",
                    ),
                ),
            ]
        got = call(
            module,
            "encoder_layer",
            x.clone(),
            {k: v.clone() for k, v in params.items()},
            heads,
            None if mask is None else mask.clone(),
        )
        assert_close(
            "encoder_layer(x, ...)",
            got,
            ref.numpy(),
            mistakes=[(v.numpy(), why) for v, why in variants],
            hint=text(
                "Check the head split: (B, T, d) -> (B, T, h, d/h) -> (B, h, T, d/h).",
                "检查多头的拆分：(B, T, d) -> (B, T, h, d/h) -> (B, h, T, d/h)。",
            ),
        )

    mask_note = text(", causal mask", "，因果掩码")
    return Case(
        text(
            f"x {(b, t, d)}, {heads} heads, dim_feedforward {ff}"
            + (mask_note["en"] if causal else ""),
            f"x {(b, t, d)}，{heads} 个头，dim_feedforward {ff}"
            + (mask_note["zh"] if causal else ""),
        ),
        check,
    )
