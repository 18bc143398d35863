"""Exercise masked_mha: multi-head attention with padding and causal masks, in PyTorch.

The weights are those of torch.nn.MultiheadAttention (Vaswani et al. 2017, section 3.2.2):

    q, k, v = query W_q^T + b_q, key W_k^T + b_k, value W_v^T + b_v    (in_proj_* stacks q, k, v)
    split each into n_heads heads of size d_head = d_model / n_heads
    weights = softmax(q k^T / sqrt(d_head) + mask)        per head, over the keys
    out = concat(weights v over heads) W_o^T + b_o                       (out_proj)

Two masks say which keys a query may not see: `key_padding_mask` (B, S), True at the padding
of each key sequence (as in nn.MultiheadAttention and nn.Transformer), and `causal`, which hides
the keys after the query (self-attention in a decoder). Blocked scores become -inf before the
softmax, so each row of weights still sums to 1 over the keys it may see.
Grade it with `dllab lab check masked_mha` (compared with nn.MultiheadAttention).
"""

from __future__ import annotations

import torch


def masked_multi_head_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    params: dict[str, torch.Tensor],
    n_heads: int,
    key_padding_mask: torch.Tensor | None = None,
    causal: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (out (B, T, d_model), weights (B, n_heads, T, S)).

    Args:
        query: (B, T, d_model). key, value: (B, S, d_model).
        params: nn.MultiheadAttention's state_dict: "in_proj_weight" (3 d_model, d_model),
            "in_proj_bias" (3 d_model,), "out_proj.weight" (d_model, d_model),
            "out_proj.bias" (d_model,).
        key_padding_mask: None, or bool (B, S), True where the key is padding.
        causal: if True (then T == S), query i may only see keys j <= i.

    Example:
        >>> out, w = masked_multi_head_attention(x, x, x, params, 2, pad, causal=True)
        >>> torch.allclose(w.sum(-1), torch.ones(()))
        True

    TODO: project, split heads, scores, one boolean "blocked" mask from both, -inf where
    blocked, softmax over the keys, weighted sum, merge heads, out_proj.
    """
    raise NotImplementedError("Need to implement for exercise masked_mha")
