"""Our encoder and decoder layers compute what torch's do, given the same weights.

Each case copies the weights of an `nn.TransformerEncoderLayer` / `nn.TransformerDecoderLayer`
(`batch_first=True`) into ours and compares outputs on a padded batch, with key padding masks
and causal masks, in both norm placements and with both activations. Outputs at padded query
positions are left out: torch's fast path may zero them, and no one reads them.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dllab.models.transformer import DecoderLayer, EncoderLayer, MultiHeadAttention

D_MODEL, N_HEADS, D_FF = 32, 4, 64
TOLERANCE = 1e-5
CASES = [(nf, act) for nf in (False, True) for act in ("relu", "gelu")]


def copy_attention(ours: MultiHeadAttention, theirs: nn.MultiheadAttention) -> None:
    """torch packs W_Q, W_K, W_V into one `in_proj_weight` (3d, d); ours keeps three Linears."""
    with torch.no_grad():
        for proj, w, b in zip(
            (ours.q_proj, ours.k_proj, ours.v_proj),
            theirs.in_proj_weight.chunk(3),
            theirs.in_proj_bias.chunk(3),
            strict=True,
        ):
            proj.weight.copy_(w)
            proj.bias.copy_(b)
    ours.out_proj.load_state_dict(theirs.out_proj.state_dict())


def copy_layer(ours: EncoderLayer | DecoderLayer, theirs: nn.Module) -> None:
    copy_attention(ours.self_attn, theirs.self_attn)
    if isinstance(ours, DecoderLayer):
        copy_attention(ours.cross_attn, theirs.multihead_attn)
        ours.norm3.load_state_dict(theirs.norm3.state_dict())
    ours.ff.linear1.load_state_dict(theirs.linear1.state_dict())
    ours.ff.linear2.load_state_dict(theirs.linear2.state_dict())
    ours.norm1.load_state_dict(theirs.norm1.state_dict())
    ours.norm2.load_state_dict(theirs.norm2.state_dict())


def padding(lengths: list[int], t: int) -> torch.Tensor:
    return torch.arange(t)[None, :] >= torch.tensor(lengths)[:, None]  # (B, T), True at padding


def causal_mask(t: int) -> torch.Tensor:
    return torch.ones(t, t, dtype=torch.bool).triu(1)  # torch's convention: True = masked


def max_diff_at_real_positions(a: torch.Tensor, b: torch.Tensor, pad: torch.Tensor) -> float:
    return (a - b)[~pad].abs().max().item()


@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize(("norm_first", "activation"), CASES)
def test_encoder_layer_matches_torch(
    norm_first: bool, activation: str, causal: bool, mode: str
) -> None:
    torch.manual_seed(0)
    theirs = nn.TransformerEncoderLayer(
        D_MODEL, N_HEADS, D_FF, 0.0, activation, batch_first=True, norm_first=norm_first
    )
    ours = EncoderLayer(D_MODEL, N_HEADS, D_FF, 0.0, activation, norm_first)
    copy_layer(ours, theirs)
    # eval lets torch take its fused fast path; train (dropout 0) its plain Python one.
    theirs.train(mode == "train")
    ours.train(mode == "train")
    x, pad = torch.randn(3, 7, D_MODEL), padding([7, 4, 2], 7)

    with torch.no_grad():
        expected = theirs(
            x,
            src_mask=causal_mask(7) if causal else None,
            src_key_padding_mask=pad,
            is_causal=causal,
        )
        got, _ = ours(x, key_padding_mask=pad, causal=causal)

    assert max_diff_at_real_positions(got, expected, pad) <= TOLERANCE


@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize(("norm_first", "activation"), CASES)
def test_decoder_layer_matches_torch(norm_first: bool, activation: str, mode: str) -> None:
    torch.manual_seed(0)
    theirs = nn.TransformerDecoderLayer(
        D_MODEL, N_HEADS, D_FF, 0.0, activation, batch_first=True, norm_first=norm_first
    )
    ours = DecoderLayer(D_MODEL, N_HEADS, D_FF, 0.0, activation, norm_first)
    copy_layer(ours, theirs)
    theirs.train(mode == "train")
    ours.train(mode == "train")
    tgt, tgt_pad = torch.randn(3, 6, D_MODEL), padding([6, 3, 1], 6)
    memory, memory_pad = torch.randn(3, 9, D_MODEL), padding([9, 5, 2], 9)

    with torch.no_grad():
        expected = theirs(
            tgt,
            memory,
            tgt_mask=causal_mask(6),
            tgt_key_padding_mask=tgt_pad,
            memory_key_padding_mask=memory_pad,
            tgt_is_causal=True,
        )
        got, _ = ours(tgt, memory, tgt_pad, memory_pad, causal=True)

    assert max_diff_at_real_positions(got, expected, tgt_pad) <= TOLERANCE


def test_attention_weights_match_torch_and_leave_padding_out() -> None:
    torch.manual_seed(0)
    theirs = nn.MultiheadAttention(D_MODEL, N_HEADS, batch_first=True).eval()
    ours = MultiHeadAttention(D_MODEL, N_HEADS).eval()
    copy_attention(ours, theirs)
    q, kv, pad = torch.randn(2, 5, D_MODEL), torch.randn(2, 8, D_MODEL), padding([8, 3], 8)

    with torch.no_grad():
        expected, expected_w = theirs(
            q, kv, kv, key_padding_mask=pad, need_weights=True, average_attn_weights=False
        )
        fused, _ = ours(q, kv, kv, key_padding_mask=pad)
        spelled_out, weights = ours(q, kv, kv, key_padding_mask=pad, need_weights=True)

    assert weights is not None and weights.shape == (2, N_HEADS, 5, 8)
    assert (weights - expected_w).abs().max().item() <= TOLERANCE
    assert (fused - expected).abs().max().item() <= TOLERANCE
    assert (spelled_out - fused).abs().max().item() <= TOLERANCE
    assert weights[1, :, :, 3:].abs().max().item() == 0.0  # padded keys get no weight
