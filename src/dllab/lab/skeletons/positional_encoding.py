"""Exercise positional_encoding: what a Transformer decoder adds to attention.

A decoder predicts token t from tokens < t, so its self-attention must not look ahead: a
causal mask. Attention ignores order, so positions are added to the embeddings: the
sinusoidal encoding of Vaswani et al. 2017, section 3.5:

    PE[pos, 2i]     = sin(pos / 10000 ** (2i / d_model))
    PE[pos, 2i + 1] = cos(pos / 10000 ** (2i / d_model))

Grade it with `dllab lab check positional_encoding`.
"""

from __future__ import annotations

import torch


def causal_mask(T: int) -> torch.Tensor:
    """Return a bool tensor (T, T): True where query i may attend to key j, i.e. j <= i.

    (The same convention as F.scaled_dot_product_attention's bool attn_mask.)

    Example:
        >>> causal_mask(3)
        tensor([[ True, False, False],
                [ True,  True, False],
                [ True,  True,  True]])

    TODO: one torch call.
    """
    raise NotImplementedError("Need to implement for exercise positional_encoding")


def sinusoidal_positional_encoding(T: int, d_model: int) -> torch.Tensor:
    """Return PE (T, d_model) as defined above; d_model is even.

    TODO: angles as an outer product of positions and frequencies; sin and cos interleaved.
    """
    raise NotImplementedError("Need to implement for exercise positional_encoding")
