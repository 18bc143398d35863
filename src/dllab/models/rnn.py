"""Recurrent encoders (RNN, LSTM, GRU) with a classification or a per-token tagging head.

Papers: Elman, "Finding structure in time", Cognitive Science 14, 1990 (the simple RNN);
Hochreiter, Schmidhuber, "Long short-term memory", Neural Computation 9(8), 1997; Cho et al.,
"Learning phrase representations using RNN encoder-decoder", EMNLP 2014 (the GRU); Schuster,
Paliwal, "Bidirectional recurrent neural networks", IEEE TSP 45(11), 1997. The attention
pooling of `bilstm-attention` is the additive score of Bahdanau, Cho, Bengio (ICLR 2015) with a
learned query, as in Yang et al., "Hierarchical attention networks for document
classification", NAACL 2016; `bilstm-tagger` is the BiLSTM of Huang, Xu, Yu, "Bidirectional
LSTM-CRF models for sequence tagging" (arXiv:1508.01991), whose scores a CRF reads.

Every model takes token ids `(B, T)` padded on the right with `pad_idx`, and optionally their
`lengths (B,)`; without `lengths` a sequence ends where its padding starts. Batches are packed
(`pack_padded_sequence`), so the recurrence never reads a padded position and a sequence gives
the same result alone or in a batch of longer ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from dllab.errors import ConfigError, InputError
from dllab.models.checks import build
from dllab.models.registry import register_model

__all__ = [
    "AdditiveAttention",
    "AttentionClassifier",
    "RNNClassifier",
    "RNNClassifierConfig",
    "RNNConfig",
    "RNNEncoder",
    "RNNTagger",
    "RNNTaggerConfig",
    "sequence_lengths",
]

CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
BILSTM = {"cell": "lstm", "bidirectional": True}  # what the bilstm-* variants fix


@dataclass
class RNNConfig:
    vocab_size: int = 5000  # token ids 0..vocab_size-1; the task sets it from its vocabulary
    cell: str = "lstm"  # "rnn" (Elman, tanh), "lstm" or "gru"
    embed_dim: int = 128  # size of a token vector; 100-300 is usual for words
    hidden_size: int = 128  # per direction
    num_layers: int = 1  # stacked layers; a second one rarely helps on small corpora
    bidirectional: bool = False  # read both ways; the output is then 2 * hidden_size wide
    dropout: float = 0.2  # on embeddings, between layers and before the head
    pad_idx: int = 0  # padding token, which gets a zero vector that is never trained

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ConfigError(f"cell {self.cell!r} is not one of {', '.join(CELLS)}")

    @property
    def output_size(self) -> int:
        return self.hidden_size * (2 if self.bidirectional else 1)


@dataclass
class RNNClassifierConfig(RNNConfig):
    num_classes: int = 2  # classes of the whole sequence (sentiment: negative, positive)


@dataclass
class RNNTaggerConfig(RNNConfig):
    num_tags: int = 7  # tags per token (BIO for persons, places, organisations + O)


def sequence_lengths(
    tokens: torch.Tensor, lengths: torch.Tensor | None, pad_idx: int
) -> torch.Tensor:
    """`lengths` if given, else the number of non-padding tokens of each row: `(B,)` int64.

    Raises `InputError` for an empty sequence, which no recurrence can summarise.
    """
    if lengths is None:
        lengths = (tokens != pad_idx).sum(dim=1)
    if bool((lengths < 1).any()):
        raise InputError(
            f"every sequence needs at least one token, got lengths {lengths.tolist()}; "
            "drop empty texts before batching them"
        )
    return lengths


class RNNEncoder(nn.Module):
    """Embedding and a (multi-layer, maybe bidirectional) RNN, LSTM or GRU.

    `tokens (B, T)` -> outputs `(B, T, H)` at each position (zeros at padding) and a summary
    `(B, H)`: the last layer's final state, both directions side by side (the forward one at
    each sequence's own last token, the backward one at its first). `H = output_size`.
    """

    def __init__(self, cfg: RNNConfig) -> None:
        super().__init__()
        self.pad_idx = cfg.pad_idx
        self.num_directions = 2 if cfg.bidirectional else 1
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embed_dim, padding_idx=cfg.pad_idx)
        self.dropout = nn.Dropout(cfg.dropout)
        self.rnn = CELLS[cfg.cell](
            cfg.embed_dim,
            cfg.hidden_size,
            num_layers=cfg.num_layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,  # torch applies it between layers
            bidirectional=cfg.bidirectional,
        )

    def forward(
        self, tokens: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        b, t = tokens.shape
        lengths = sequence_lengths(tokens, lengths, self.pad_idx)
        x = self.dropout(self.embedding(tokens))  # (B, T, E)
        # Packing sorts by length and feeds each step only the sequences still running.
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, state = self.rnn(packed)
        h_n = state[0] if isinstance(state, tuple) else state  # LSTM: (h_n, c_n)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=t)  # (B, T, H)
        # h_n: (num_layers * D, B, h) -> the last layer's D directions: (B, D * h)
        last = h_n.view(-1, self.num_directions, b, h_n.shape[-1])[-1]  # (D, B, h)
        return out, last.transpose(0, 1).reshape(b, -1)


class AdditiveAttention(nn.Module):
    """Additive attention (Bahdanau et al. 2015, eq. 6 and appendix A.1.2):
    `score_j = v . tanh(W_k k_j + W_q q)`, `weights = softmax(score)`, `context = sum_j w_j k_j`.

    `keys (B, S, Dk)`, `query (B, Dq)` or None, `padding_mask (B, S)` True at padding ->
    context `(B, Dk)` and weights `(B, S)` (zero at padding). Without a query it pools a
    sequence: Yang et al.'s learned query vector is then folded into the bias of `W_k`.
    """

    def __init__(self, key_dim: int, query_dim: int = 0, attn_dim: int = 128) -> None:
        super().__init__()
        self.key_proj = nn.Linear(key_dim, attn_dim)
        self.query_proj = nn.Linear(query_dim, attn_dim, bias=False) if query_dim else None
        self.v = nn.Linear(attn_dim, 1, bias=False)

    def forward(
        self,
        keys: torch.Tensor,
        query: torch.Tensor | None = None,
        padding_mask: torch.Tensor | None = None,
        projected_keys: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`projected_keys`, `W_k keys`, may be passed in by a decoder that attends over the
        same keys at every step, so that it is computed once."""
        energy = self.key_proj(keys) if projected_keys is None else projected_keys  # (B, S, A)
        if query is not None:
            assert self.query_proj is not None, "built without query_dim"
            energy = energy + self.query_proj(query)[:, None, :]
        scores = self.v(torch.tanh(energy)).squeeze(-1)  # (B, S)
        if padding_mask is not None:
            scores = scores.masked_fill(padding_mask, float("-inf"))
        weights = scores.softmax(dim=-1)  # (B, S)
        context = (weights[:, :, None] * keys).sum(dim=1)  # (B, Dk)
        return context, weights


class RNNClassifier(nn.Module):
    """Encoder summary -> dropout -> linear: `tokens (B, T)` -> logits `(B, num_classes)`."""

    def __init__(self, cfg: RNNClassifierConfig) -> None:
        super().__init__()
        self.encoder = RNNEncoder(cfg)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.output_size, cfg.num_classes)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        _, summary = self.encoder(tokens, lengths)  # (B, H)
        return self.head(self.dropout(summary))


class AttentionClassifier(nn.Module):
    """Encoder outputs -> additive attention pooling -> dropout -> linear.

    `tokens (B, T)` -> logits `(B, num_classes)`; with `return_attention`, also the weight of
    each token `(B, T)` (rows sum to 1, zero at padding), to show what the model read.
    """

    def __init__(self, cfg: RNNClassifierConfig) -> None:
        super().__init__()
        self.pad_idx = cfg.pad_idx
        self.encoder = RNNEncoder(cfg)
        self.attention = AdditiveAttention(cfg.output_size, attn_dim=cfg.output_size)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.output_size, cfg.num_classes)

    def forward(
        self,
        tokens: torch.Tensor,
        lengths: torch.Tensor | None = None,
        return_attention: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        lengths = sequence_lengths(tokens, lengths, self.pad_idx)
        outputs, _ = self.encoder(tokens, lengths)  # (B, T, H)
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        padding = positions[None, :] >= lengths.to(tokens.device)[:, None]  # (B, T)
        pooled, weights = self.attention(outputs, padding_mask=padding)  # (B, H), (B, T)
        logits = self.head(self.dropout(pooled))
        return (logits, weights) if return_attention else logits


class RNNTagger(nn.Module):
    """Encoder outputs -> dropout -> linear at each position: `tokens (B, T)` -> tag scores
    `(B, T, num_tags)` (a CRF's emissions, or logits for per-token cross-entropy). Scores at
    padded positions are the head's bias alone; mask them out of the loss.
    """

    def __init__(self, cfg: RNNTaggerConfig) -> None:
        super().__init__()
        self.encoder = RNNEncoder(cfg)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.output_size, cfg.num_tags)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        outputs, _ = self.encoder(tokens, lengths)  # (B, T, H)
        return self.head(self.dropout(outputs))  # (B, T, num_tags)


def _create_rnn(
    variant: str, model: type[nn.Module], config: type[RNNConfig], kw: dict[str, Any], **fixed: Any
) -> nn.Module:
    """`model(config(**fixed, **kw))`; `fixed` holds what the variant decides (cell, directions)."""
    return model(build(config, variant, kw, **fixed))


@register_model("rnn-classifier")
def rnn_classifier(**kw: Any) -> nn.Module:
    """Elman RNN classifier; options: the fields of `RNNClassifierConfig` but `cell`."""
    return _create_rnn("rnn-classifier", RNNClassifier, RNNClassifierConfig, kw, cell="rnn")


@register_model("lstm-classifier")
def lstm_classifier(**kw: Any) -> nn.Module:
    """LSTM classifier; options: the fields of `RNNClassifierConfig` but `cell`."""
    return _create_rnn("lstm-classifier", RNNClassifier, RNNClassifierConfig, kw, cell="lstm")


@register_model("gru-classifier")
def gru_classifier(**kw: Any) -> nn.Module:
    """GRU classifier; options: the fields of `RNNClassifierConfig` but `cell`."""
    return _create_rnn("gru-classifier", RNNClassifier, RNNClassifierConfig, kw, cell="gru")


@register_model("bilstm-attention")
def bilstm_attention(**kw: Any) -> nn.Module:
    """BiLSTM with additive attention pooling; forward(..., return_attention=True) for weights."""
    return _create_rnn("bilstm-attention", AttentionClassifier, RNNClassifierConfig, kw, **BILSTM)


@register_model("bilstm-tagger")
def bilstm_tagger(**kw: Any) -> nn.Module:
    """BiLSTM emitting `(B, T, num_tags)` scores per token, e.g. for a CRF."""
    return _create_rnn("bilstm-tagger", RNNTagger, RNNTaggerConfig, kw, **BILSTM)
