"""Reference solution of encoder_layer: multi-head self-attention and a post-norm layer."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def encoder_layer(
    x: torch.Tensor,
    params: dict[str, torch.Tensor],
    n_heads: int,
    attn_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """nn.TransformerEncoderLayer(batch_first=True, dropout=0), post-norm, from its weights."""
    p = params
    b, t, d = x.shape
    qkv = F.linear(x, p["self_attn.in_proj_weight"], p["self_attn.in_proj_bias"])  # (B, T, 3d)
    q, k, v = (u.reshape(b, t, n_heads, d // n_heads).transpose(1, 2) for u in qkv.chunk(3, -1))
    # (B, h, T, d/h) each; sdpa scales by 1/sqrt(d/h), the size of one head
    heads = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
    attended = F.linear(
        heads.transpose(1, 2).reshape(b, t, d),
        p["self_attn.out_proj.weight"],
        p["self_attn.out_proj.bias"],
    )
    x = F.layer_norm(x + attended, (d,), p["norm1.weight"], p["norm1.bias"])
    hidden = F.relu(F.linear(x, p["linear1.weight"], p["linear1.bias"]))  # (B, T, ff)
    x2 = F.linear(hidden, p["linear2.weight"], p["linear2.bias"])
    return F.layer_norm(x + x2, (d,), p["norm2.weight"], p["norm2.bias"])
