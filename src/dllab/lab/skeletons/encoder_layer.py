"""Exercise encoder_layer: one Transformer encoder layer, from its weights.

The layer of Vaswani et al. 2017 as PyTorch builds it (nn.TransformerEncoderLayer with
batch_first=True, activation ReLU, no dropout, post-norm):

    x = norm1(x + self_attention(x))                 # multi-head, n_heads heads
    x = norm2(x + linear2(relu(linear1(x))))

`params` holds the layer's weights under the names of its state_dict():
    self_attn.in_proj_weight (3d, d), self_attn.in_proj_bias (3d,)   # W_q, W_k, W_v stacked
    self_attn.out_proj.weight (d, d), self_attn.out_proj.bias (d,)
    linear1.weight (ff, d), linear1.bias (ff,), linear2.weight (d, ff), linear2.bias (d,)
    norm1.weight, norm1.bias, norm2.weight, norm2.bias (d,)           # LayerNorm, eps 1e-5

With a causal mask the same layer is a decoder-only (GPT-style) block.
torch.nn.functional helps: F.linear, F.layer_norm, F.relu, F.scaled_dot_product_attention.
Grade it with `dllab lab check encoder_layer`.
"""

from __future__ import annotations

import torch


def encoder_layer(
    x: torch.Tensor,
    params: dict[str, torch.Tensor],
    n_heads: int,
    attn_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Return the layer's output (B, T, d) for x (B, T, d).

    attn_mask: None, or bool (T, T), True where query i may attend to key j (the convention
    of F.scaled_dot_product_attention; nn.MultiheadAttention's bool mask is the opposite).

    TODO: project to q, k, v; split heads; scaled dot-product attention per head; merge;
    out_proj; residual + norm1; feed-forward; residual + norm2.
    """
    raise NotImplementedError("Need to implement for exercise encoder_layer")
