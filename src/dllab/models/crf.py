"""BiLSTM-CRF sequence tagger: character (and optional character-bigram) embeddings, a
bidirectional LSTM, a linear layer giving each position's tag scores, and a linear-chain CRF
over them.

Papers: Lafferty, McCallum, Pereira, "Conditional random fields: probabilistic models for
segmenting and labeling sequence data", ICML 2001; Huang, Xu, Yu, "Bidirectional LSTM-CRF models
for sequence tagging", arXiv:1508.01991, 2015; Lample et al., "Neural architectures for named
entity recognition", NAACL 2016. Character bigrams as extra input for Chinese NER: Zhang, Yang,
"Chinese NER using lattice LSTM", ACL 2018 (its char+bichar baseline).

The CRF is `torchcrf.CRF` (pytorch-crf; only its gold-path score is vectorised): the loss is the negative log-likelihood of the gold
tag path, `log Z - score(gold)`, with `log Z` from the forward algorithm, and decoding is
Viterbi. The CRF reads the sequence lengths as a mask.

Variable lengths without packing: each direction is its own LSTM over the right-padded batch,
the backward one over each sequence reversed *within its length* (padding stays at the end),
then reversed back. A real position so never reads padding — the result equals a packed
bidirectional LSTM — and on CPU the padded batch runs the fused oneDNN kernels, whose backward
pass measured 3x faster here than the step-by-step one that packed sequences fall back to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torchcrf import CRF

from dllab.models.checks import build
from dllab.models.registry import register_model
from dllab.models.rnn import sequence_lengths

__all__ = [
    "BiLSTM",
    "BiLSTMCRF",
    "PathScoreCRF",
    "BiLSTMCRFConfig",
    "length_mask",
    "reverse_within",
]


@dataclass
class BiLSTMCRFConfig:
    vocab_size: int = 5000  # character ids 0..vocab_size-1; the task sets it from its vocabulary
    num_tags: int = 7  # O and B-/I- for persons, places, organisations
    embed_dim: int = 128  # size of a character vector
    bigram_vocab_size: int = 0  # character-bigram ids; 0: no bigram input (plain BiLSTM-CRF)
    bigram_dim: int = 64  # size of a bigram vector, concatenated to the character's
    hidden_size: int = 128  # per direction
    num_layers: int = 1  # stacked BiLSTM layers
    dropout: float = 0.2  # on the embeddings and before the tag scores
    pad_idx: int = 0  # padding id (characters and bigrams), a zero vector never trained


def length_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """`(B,)` lengths -> `(B, max_len)` bool, True at real positions."""
    positions = torch.arange(max_len, device=lengths.device)
    return positions[None, :] < lengths[:, None]


class PathScoreCRF(CRF):
    """`torchcrf.CRF` whose gold-path score is one vectorised expression instead of a Python
    loop over time steps (the forward algorithm and Viterbi are pytorch-crf's own).

    score(y) = start[y_0] + sum_t emit[t, y_t] + sum_{t>0} trans[y_{t-1}, y_t] + end[y_last]
    (Lafferty et al. 2001, eq. 1, in log space), summed over real positions only.
    """

    def _compute_score(
        self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        # pytorch-crf hands these over time-major: (T, B, K), (T, B), (T, B)
        mask = mask.to(emissions.dtype)
        emitted = emissions.gather(2, tags[:, :, None]).squeeze(2)  # (T, B)
        moved = self.transitions[tags[:-1], tags[1:]]  # (T-1, B)
        last = tags.gather(0, (mask.sum(0).long() - 1)[None]).squeeze(0)  # (B,)
        return (
            self.start_transitions[tags[0]]
            + (emitted * mask).sum(0)
            + (moved * mask[1:]).sum(0)
            + self.end_transitions[last]
        )


def reverse_within(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row of `x (B, T, ...)` within its first `lengths[b]` positions; padding
    stays where it is. Its own inverse.

    >>> reverse_within(torch.tensor([[1, 2, 3, 0]]), torch.tensor([3])).tolist()
    [[3, 2, 1, 0]]
    """
    t = x.shape[1]
    pos = torch.arange(t, device=x.device)[None, :]  # (1, T)
    last = lengths.to(x.device)[:, None] - 1  # (B, 1)
    idx = torch.where(pos <= last, last - pos, pos)  # (B, T)
    idx = idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, idx)


class BiLSTM(nn.Module):
    """Bidirectional (multi-layer) LSTM over right-padded `x (B, T, D)` with `lengths (B,)` ->
    `(B, T, 2 * hidden_size)`: forward and backward states side by side, as a packed
    `nn.LSTM(bidirectional=True)` gives at real positions (padded positions hold junk)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__()
        sizes = [input_size] + [2 * hidden_size] * (num_layers - 1)
        self.forward_lstms = nn.ModuleList(nn.LSTM(d, hidden_size, batch_first=True) for d in sizes)
        self.backward_lstms = nn.ModuleList(
            nn.LSTM(d, hidden_size, batch_first=True) for d in sizes
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        for i, (fwd, bwd) in enumerate(zip(self.forward_lstms, self.backward_lstms, strict=True)):
            if i:
                x = self.dropout(x)  # between layers, as nn.LSTM's dropout
            ahead, _ = fwd(x)  # (B, T, H)
            behind, _ = bwd(reverse_within(x, lengths))  # (B, T, H), in reversed order
            x = torch.cat([ahead, reverse_within(behind, lengths)], dim=-1)  # (B, T, 2H)
        return x


class BiLSTMCRF(nn.Module):
    """`tokens (B, T)` [+ `bigrams (B, T)`] -> emissions `(B, T, num_tags)`; `loss` and
    `decode` put the CRF on top.

    `loss(emissions, tags, lengths)` is the CRF's negative log-likelihood averaged over real
    characters; `decode(emissions, lengths)` returns the best tag path of each sequence (lists
    of their own lengths).
    """

    def __init__(self, cfg: BiLSTMCRFConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embed_dim, padding_idx=cfg.pad_idx)
        in_dim = cfg.embed_dim
        self.bigram_embedding = None
        if cfg.bigram_vocab_size:
            self.bigram_embedding = nn.Embedding(
                cfg.bigram_vocab_size, cfg.bigram_dim, padding_idx=cfg.pad_idx
            )
            in_dim += cfg.bigram_dim
        self.dropout = nn.Dropout(cfg.dropout)
        self.lstm = BiLSTM(in_dim, cfg.hidden_size, cfg.num_layers, cfg.dropout)
        self.head = nn.Linear(2 * cfg.hidden_size, cfg.num_tags)
        self.crf = PathScoreCRF(cfg.num_tags, batch_first=True)

    def forward(
        self,
        tokens: torch.Tensor,
        lengths: torch.Tensor | None = None,
        bigrams: torch.Tensor | None = None,
    ) -> torch.Tensor:
        lengths = sequence_lengths(tokens, lengths, self.cfg.pad_idx)
        x = self.embedding(tokens)  # (B, T, E)
        if self.bigram_embedding is not None:
            assert bigrams is not None, "this model was built with bigram inputs"
            x = torch.cat([x, self.bigram_embedding(bigrams)], dim=-1)  # (B, T, E + Eb)
        out = self.lstm(self.dropout(x), lengths)  # (B, T, 2H)
        return self.head(self.dropout(out))  # (B, T, num_tags)

    def loss(
        self, emissions: torch.Tensor, tags: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        """Negative log-likelihood of `tags (B, T)` (any value at padding), per character."""
        mask = length_mask(lengths.to(emissions.device), emissions.shape[1])
        tags = tags.clamp(min=0)  # padding may hold -1; the mask hides it from the CRF
        # The forward algorithm's log-sum-exps want fp32 even under bf16 autocast.
        llh = self.crf(emissions.float(), tags, mask=mask, reduction="token_mean")
        return -llh

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
        """Viterbi: the highest-scoring tag path of each sequence."""
        mask = length_mask(lengths.to(emissions.device), emissions.shape[1])
        return self.crf.decode(emissions.float(), mask=mask)


def _create_crf(variant: str, kw: dict[str, Any]) -> BiLSTMCRF:
    return BiLSTMCRF(build(BiLSTMCRFConfig, variant, kw))


@register_model("bilstm-crf")
def bilstm_crf(**kw: Any) -> nn.Module:
    """BiLSTM-CRF tagger; options: the fields of `BiLSTMCRFConfig` (bigram_vocab_size > 0 adds
    character-bigram inputs)."""
    return _create_crf("bilstm-crf", kw)
