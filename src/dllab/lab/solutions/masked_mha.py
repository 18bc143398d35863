"""Reference solution of masked_mha: one additive mask, -inf where a key is hidden."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def masked_multi_head_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    params: dict[str, torch.Tensor],
    n_heads: int,
    key_padding_mask: torch.Tensor | None = None,
    causal: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """nn.MultiheadAttention's forward, spelled out."""
    b, t, d = query.shape
    s = key.shape[1]
    w_q, w_k, w_v = params["in_proj_weight"].chunk(3)
    b_q, b_k, b_v = params["in_proj_bias"].chunk(3)

    def heads(x: torch.Tensor) -> torch.Tensor:  # (B, L, d) -> (B, h, L, d / h)
        return x.reshape(b, -1, n_heads, d // n_heads).transpose(1, 2)

    q, k, v = (
        heads(F.linear(query, w_q, b_q)),
        heads(F.linear(key, w_k, b_k)),
        heads(F.linear(value, w_v, b_v)),
    )
    scores = q @ k.transpose(-1, -2) / math.sqrt(d // n_heads)  # (B, h, T, S)
    blocked = torch.zeros(b, 1, t, s, dtype=torch.bool)
    if key_padding_mask is not None:
        blocked = blocked | key_padding_mask[:, None, None, :]  # hide padded keys from all
    if causal:
        blocked = blocked | torch.ones(t, s, dtype=torch.bool).triu(1)  # hide the future
    bias = torch.zeros(blocked.shape, dtype=scores.dtype).masked_fill(blocked, float("-inf"))
    weights = torch.softmax(scores + bias, dim=-1)  # -inf -> weight 0; rows still sum to 1
    out = (weights @ v).transpose(1, 2).reshape(b, t, d)  # heads side by side again
    return F.linear(out, params["out_proj.weight"], params["out_proj.bias"]), weights
