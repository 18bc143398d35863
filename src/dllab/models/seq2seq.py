"""GRU encoder-decoder with additive attention, the classic neural translation model.

Paper: Bahdanau, Cho, Bengio, "Neural machine translation by jointly learning to align and
translate", ICLR 2015 (arXiv:1409.0473), section 3 and appendix A. A bidirectional GRU reads
the source into annotations `h_j`; at each output step the decoder scores every annotation
against its previous state (`e_ij = v . tanh(W s_{i-1} + U h_j)`, eq. 6), takes their
softmax-weighted sum as the context `c_i`, and updates its GRU state from the previous target
token and `c_i`. Simplified from the paper: the deep output is one linear layer over
`[s_i; c_i; E y_{i-1}]` instead of a maxout layer.

Token ids are padded on the right with `pad_idx`; the target given to `forward` is the
teacher-forced input (BOS, y_1, ..., y_{T-1}) and the logits predict (y_1, ..., y_T).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from dllab.models.checks import build
from dllab.models.registry import register_model
from dllab.models.rnn import AdditiveAttention, RNNConfig, RNNEncoder, sequence_lengths

__all__ = ["AttentionDecoder", "GRUSeq2Seq", "Seq2SeqConfig"]


@dataclass
class Seq2SeqConfig:
    src_vocab_size: int = 8000  # source tokens; the task sets it from its vocabulary
    tgt_vocab_size: int = 8000  # target tokens
    embed_dim: int = 128  # token vectors of both sides (the paper: 620)
    hidden_size: int = 256  # per encoder direction and of the decoder state (the paper: 1000)
    num_layers: int = 1  # encoder layers; the paper's encoder has one
    dropout: float = 0.2  # on embeddings and before the output layer
    pad_idx: int = 0  # padding token of both vocabularies
    max_len: int = 128  # most tokens `greedy_decode` writes


class AttentionDecoder(nn.Module):
    """One step of the decoder: previous token, previous state and the source annotations ->
    logits for the next token `(B, V)`, the new state `(B, H)` and the attention `(B, S)`."""

    def __init__(self, cfg: Seq2SeqConfig) -> None:
        super().__init__()
        h, annotation = cfg.hidden_size, 2 * cfg.hidden_size  # annotations: both directions
        self.embedding = nn.Embedding(cfg.tgt_vocab_size, cfg.embed_dim, padding_idx=cfg.pad_idx)
        self.attention = AdditiveAttention(annotation, query_dim=h, attn_dim=h)
        self.cell = nn.GRUCell(cfg.embed_dim + annotation, h)
        self.dropout = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(h + annotation + cfg.embed_dim, cfg.tgt_vocab_size)

    def forward(
        self,
        prev_token: torch.Tensor,
        state: torch.Tensor,
        annotations: torch.Tensor,
        padding_mask: torch.Tensor,
        projected_keys: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        emb = self.dropout(self.embedding(prev_token))  # (B, E)
        context, weights = self.attention(annotations, state, padding_mask, projected_keys)
        state = self.cell(torch.cat([emb, context], dim=-1), state)  # (B, H)
        logits = self.out(self.dropout(torch.cat([state, context, emb], dim=-1)))  # (B, V)
        return logits, state, weights


class GRUSeq2Seq(nn.Module):
    """Bidirectional GRU encoder, GRU decoder with additive attention.

    `forward(src (B, S), tgt_in (B, T))` -> logits `(B, T, tgt_vocab_size)`; with
    `return_attention`, also the attention over the source at each step `(B, T, S)`.
    """

    def __init__(self, cfg: Seq2SeqConfig) -> None:
        super().__init__()
        self.config = cfg
        self.encoder = RNNEncoder(
            RNNConfig(
                vocab_size=cfg.src_vocab_size,
                cell="gru",
                embed_dim=cfg.embed_dim,
                hidden_size=cfg.hidden_size,
                num_layers=cfg.num_layers,
                bidirectional=True,
                dropout=cfg.dropout,
                pad_idx=cfg.pad_idx,
            )
        )
        # s_0 = tanh(W_s [->h_S; <-h_1]) (appendix A.2.2 uses the backward state alone).
        self.init_state = nn.Linear(2 * cfg.hidden_size, cfg.hidden_size)
        self.decoder = AttentionDecoder(cfg)

    def encode(
        self, src: torch.Tensor, src_lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`src (B, S)` -> annotations `(B, S, 2H)`, first decoder state `(B, H)` and the
        source padding mask `(B, S)` (True at padding)."""
        lengths = sequence_lengths(src, src_lengths, self.config.pad_idx).to(src.device)
        annotations, summary = self.encoder(src, lengths)
        positions = torch.arange(src.shape[1], device=src.device)
        padding = positions[None, :] >= lengths[:, None]
        return annotations, torch.tanh(self.init_state(summary)), padding

    def forward(
        self,
        src: torch.Tensor,
        tgt_in: torch.Tensor,
        src_lengths: torch.Tensor | None = None,
        return_attention: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        annotations, state, padding = self.encode(src, src_lengths)
        keys = self.decoder.attention.key_proj(annotations)  # U h_j, the same at every step
        logits, weights = [], []
        for i in range(tgt_in.shape[1]):  # teacher forcing: feed the true previous token
            step, state, w = self.decoder(tgt_in[:, i], state, annotations, padding, keys)
            logits.append(step)
            weights.append(w)
        out = torch.stack(logits, dim=1)  # (B, T, V)
        return (out, torch.stack(weights, dim=1)) if return_attention else out

    @torch.no_grad()
    def greedy_decode(
        self,
        src: torch.Tensor,
        *,
        bos_idx: int,
        eos_idx: int,
        max_len: int | None = None,
        src_lengths: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Feed back the most likely token: `src (B, S)` -> `(B, L)` target tokens without BOS,
        each row ending at its EOS and padded with `pad_idx` after it; `L <= max_len`
        (default: the config's). Call `model.eval()` first."""
        annotations, state, padding = self.encode(src, src_lengths)
        keys = self.decoder.attention.key_proj(annotations)
        token = torch.full((src.shape[0],), bos_idx, dtype=torch.long, device=src.device)
        done = torch.zeros_like(token, dtype=torch.bool)
        out = []
        for _ in range(max_len or self.config.max_len):
            logits, state, _ = self.decoder(token, state, annotations, padding, keys)
            token = logits.argmax(-1).masked_fill(done, self.config.pad_idx)  # (B,)
            out.append(token)
            done |= token == eos_idx
            if done.all():
                break
        return torch.stack(out, dim=1)


def _create_seq2seq(variant: str, kw: dict[str, Any]) -> GRUSeq2Seq:
    return GRUSeq2Seq(build(Seq2SeqConfig, variant, kw))


@register_model("gru-seq2seq")
def gru_seq2seq(**kw: Any) -> GRUSeq2Seq:
    """GRU encoder-decoder with additive attention; options: the fields of `Seq2SeqConfig`."""
    return _create_seq2seq("gru-seq2seq", kw)
