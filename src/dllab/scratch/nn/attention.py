"""Multi-head attention (Vaswani et al. 2017) with torch's parameter layout and masks.

`in_proj_weight` (3E, E) stacks W_q, W_k, W_v; `out_proj` is a Linear(E, E). Masks follow
`torch.nn.MultiheadAttention`: in a boolean `key_padding_mask` (N, S) or `attn_mask` (L, S)
or (N·num_heads, L, S), True marks a pair that may NOT attend; a float mask is added to the
scores. (`F.scaled_dot_product_attention` uses the opposite boolean convention, as torch.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dllab.scratch import functional as F
from dllab.scratch import init
from dllab.scratch.nn.layers import Linear, _empty
from dllab.scratch.nn.module import Module
from dllab.scratch.tensor import Tensor

__all__ = ["MultiheadAttention"]


class MultiheadAttention(Module):
    """num_heads attention heads of size embed_dim // num_heads, run side by side."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        dtype=None,
    ) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(
                f"embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})"
            )
        same_dims = kdim in (None, embed_dim) and vdim in (None, embed_dim)
        if add_bias_kv or add_zero_attn or not same_dims:  # differs from torch: not offered
            raise NotImplementedError("scratch MultiheadAttention needs kdim = vdim = embed_dim")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.batch_first, self.head_dim = batch_first, embed_dim // num_heads
        self.in_proj_weight = _empty(3 * embed_dim, embed_dim, dtype=dtype)
        self.in_proj_bias = _empty(3 * embed_dim, dtype=dtype) if bias else None
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        init.xavier_uniform_(self.in_proj_weight)  # torch's _reset_parameters
        if bias:
            init.zeros_(self.out_proj.bias)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Any = None,
        need_weights: bool = True,
        attn_mask: Any = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """Returns the output (L, N, E), or (N, L, E) with batch_first, and the weights (N, L, S)
        averaged over heads (or (N, num_heads, L, S)); unbatched (L, E) inputs work too.

        differs from torch: `is_causal=True` without an `attn_mask` builds the causal mask.
        """
        batched = query.ndim == 3
        if not batched:  # (L, E) -> (1, L, E)
            query, key, value = (t.unsqueeze(0) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = np.asarray(key_padding_mask)[None]
        elif not self.batch_first:  # (L, N, E) -> (N, L, E)
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        (n, length, e), source = query.shape, key.shape[1]
        biases = self.in_proj_bias.chunk(3) if self.in_proj_bias is not None else (None,) * 3
        q, k, v = (
            F.linear(x, w, b).reshape(n, -1, self.num_heads, self.head_dim).transpose(1, 2)
            for x, w, b in zip(
                (query, key, value), self.in_proj_weight.chunk(3), biases, strict=True
            )
        )  # each (N, heads, L or S, head_dim)
        mask = self._additive_mask(attn_mask, key_padding_mask, is_causal, n, length, source)
        weights = F._attention_weights(q, k, mask, False, None)  # (N, heads, L, S)
        weights = F.dropout(weights, self.dropout, self.training)
        out = self.out_proj((weights @ v).transpose(1, 2).reshape(n, length, e))  # (N, L, E)
        if not batched:
            out, weights = out.squeeze(0), weights.squeeze(0)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        return out, (weights.mean(-3) if average_attn_weights else weights)

    def _additive_mask(self, attn_mask, key_padding_mask, is_causal, n, length, source):
        """Both masks as one float array or tensor, broadcastable to (N, heads, L, S)."""
        if attn_mask is None and is_causal:
            attn_mask = ~np.tri(length, source, dtype=bool)
        total = None
        if attn_mask is not None:
            total = _additive(attn_mask)
            if total.ndim == 3:  # (N·heads, L, S)
                total = total.reshape(n, self.num_heads, length, source)
        if key_padding_mask is not None:
            padding = _additive(key_padding_mask).reshape(n, 1, 1, source)
            total = padding if total is None else total + padding
        return total

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"


def _additive(mask: Any) -> Any:
    """A boolean mask (True = may not attend) as 0 / -inf; a float mask (maybe learnt) as it is."""
    if np.asarray(mask).dtype == bool:
        return np.where(np.asarray(mask), -np.inf, 0.0)
    return mask if isinstance(mask, Tensor) else np.asarray(mask)
