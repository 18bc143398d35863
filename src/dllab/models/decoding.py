"""Turning a sequence-to-sequence model into output text: greedy search and beam search.

Both searches see a model through a `Stepper`: `start` encodes a batch of sources into a
decoder state (a tuple of tensors whose first dimension is the row), `step` gives the
log-probabilities of the next token after each row's prefix, and because the state is a plain
tuple, following a beam is indexing its rows. `stepper_for` wraps the two translation models,
`transformer-seq2seq` and `gru-seq2seq`.

Beam search (Sutskever et al. 2014; Wu et al. 2016, "Google's NMT system", section 7) keeps
the `beam_size` best prefixes of each source. A prefix that ends in EOS is finished and scored
`log P(y|x) / lp(y)` with the length penalty `lp(y) = ((5 + |y|) / 6) ** alpha` (`|y|` counts
EOS): alpha = 0 ranks by probability alone, which favours short outputs since every token
costs probability; larger alpha pays that back. The search stops for a source when it holds
`beam_size` finished hypotheses and no live prefix can still beat the worst of them: log
probabilities only fall, so a live prefix's best possible score is its score now divided by
the largest penalty it could reach (the one at `max_len`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "GRUStepper",
    "Hypothesis",
    "Stepper",
    "TransformerStepper",
    "beam_search",
    "greedy_search",
    "length_penalty",
    "stepper_for",
]

State = tuple[torch.Tensor, ...]  # every tensor indexed by row first


class Stepper(Protocol):
    """A model seen one decoding step at a time."""

    max_len: int  # most tokens the model can write (positions it knows)

    def start(self, src: torch.Tensor, src_lengths: torch.Tensor | None) -> State:
        """Encode `src (B, S)` into the decoder's state for B rows."""
        ...

    def step(self, state: State, prefix: torch.Tensor) -> tuple[torch.Tensor, State]:
        """`prefix (N, t)` (BOS first) -> log-probabilities of the next token `(N, V)` and the
        state after reading the prefix's last token."""
        ...


class TransformerStepper:
    """`transformer-seq2seq`: the state is the encoder's memory and its padding mask; each
    step runs the decoder over the whole prefix (no cache: outputs are a few dozen tokens)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.max_len = model.config.max_len - 1  # one position goes to BOS

    def start(self, src: torch.Tensor, src_lengths: torch.Tensor | None) -> State:
        memory, mask = self.model.encode(src, src_lengths)  # (B, S, d), (B, S)
        return memory, mask

    def step(self, state: State, prefix: torch.Tensor) -> tuple[torch.Tensor, State]:
        memory, mask = state
        hidden, _ = self.model.decoder(prefix, memory, mask)  # (N, t, d)
        logits = self.model.lm_head(hidden[:, -1])  # only the last position's: (N, V)
        return F.log_softmax(logits.float(), dim=-1), state


class GRUStepper:
    """`gru-seq2seq`: the state is the source annotations, their projected keys, the padding
    mask and the decoder's hidden state, which each step advances by one token."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.max_len = model.config.max_len

    def start(self, src: torch.Tensor, src_lengths: torch.Tensor | None) -> State:
        annotations, hidden, padding = self.model.encode(src, src_lengths)
        keys = self.model.decoder.attention.key_proj(annotations)  # computed once
        return annotations, keys, padding, hidden

    def step(self, state: State, prefix: torch.Tensor) -> tuple[torch.Tensor, State]:
        annotations, keys, padding, hidden = state
        logits, hidden, _ = self.model.decoder(prefix[:, -1], hidden, annotations, padding, keys)
        return F.log_softmax(logits.float(), dim=-1), (annotations, keys, padding, hidden)


def stepper_for(model: nn.Module) -> Stepper:
    """The stepper of a translation model: Transformer or GRU encoder-decoder."""
    from dllab.models.seq2seq import GRUSeq2Seq
    from dllab.models.transformer import Transformer

    if isinstance(model, Transformer):
        return TransformerStepper(model)
    if isinstance(model, GRUSeq2Seq):
        return GRUStepper(model)
    raise TypeError(f"no decoding stepper for {type(model).__name__}")


def _select(state: State, rows: torch.Tensor) -> State:
    return tuple(t[rows] for t in state)


# ---------------------------------------------------------------- greedy
@torch.no_grad()
def greedy_search(
    stepper: Stepper,
    src: torch.Tensor,
    *,
    bos: int,
    eos: int,
    pad: int = 0,
    max_len: int = 64,
    src_lengths: torch.Tensor | None = None,
) -> list[list[int]]:
    """The most likely next token at every step, for a batch: `src (B, S)` -> B token lists,
    without BOS and EOS (a row that never writes EOS stops at `max_len` tokens)."""
    max_len = min(max_len, stepper.max_len)
    state = stepper.start(src, src_lengths)
    prefix = torch.full((src.shape[0], 1), bos, dtype=torch.long, device=src.device)
    done = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
    for _ in range(max_len):
        log_probs, state = stepper.step(state, prefix)
        token = log_probs.argmax(-1).masked_fill(done, pad)  # (B,)
        prefix = torch.cat([prefix, token[:, None]], dim=1)
        done |= token == eos
        if done.all():
            break
    return [_strip(row, eos, pad) for row in prefix[:, 1:].tolist()]


def _strip(tokens: list[int], eos: int, pad: int) -> list[int]:
    out = []
    for t in tokens:
        if t in (eos, pad):
            break
        out.append(t)
    return out


# ---------------------------------------------------------------- beam
def length_penalty(length: int | torch.Tensor, alpha: float) -> float | torch.Tensor:
    """GNMT's `((5 + length) / 6) ** alpha` (Wu et al. 2016, eq. 14); 1 when alpha is 0."""
    return ((5 + length) / 6) ** alpha


@dataclass(frozen=True)
class Hypothesis:
    tokens: tuple[int, ...]  # without BOS and EOS
    log_prob: float  # log P(tokens, EOS | source)
    score: float  # log_prob / length_penalty(len(tokens) + 1)


@torch.no_grad()
def beam_search(
    stepper: Stepper,
    src: torch.Tensor,
    *,
    bos: int,
    eos: int,
    beam_size: int = 4,
    alpha: float = 0.6,
    max_len: int = 64,
    src_lengths: torch.Tensor | None = None,
) -> list[list[Hypothesis]]:
    """The best finished hypotheses of each source, best first (at most `beam_size`).

    `src (B, S)`; the B sources are searched together, as B * beam_size rows of one batch.
    A source with no finished hypothesis after `max_len` steps returns its best live prefixes,
    scored as if they ended there.
    """
    max_len = min(max_len, stepper.max_len)
    b, k, device = src.shape[0], beam_size, src.device
    state = stepper.start(src, src_lengths)
    state = _select(state, torch.arange(b, device=device).repeat_interleave(k))  # (B*K, ...)
    prefix = torch.full((b * k, 1), bos, dtype=torch.long, device=device)
    # Only the first beam of each source is live at the start: the others are copies.
    scores = torch.full((b, k), float("-inf"), device=device)
    scores[:, 0] = 0.0
    finished: list[list[Hypothesis]] = [[] for _ in range(b)]
    done = [False] * b
    for t in range(1, max_len + 1):
        log_probs, state = stepper.step(state, prefix)  # (B*K, V)
        vocab = log_probs.shape[-1]
        total = scores[:, :, None] + log_probs.view(b, k, vocab)  # (B, K, V)
        # 2K candidates: even if K of them end in EOS, K live ones remain.
        cand_scores, cand = total.view(b, -1).topk(min(2 * k, k * vocab), dim=-1)  # (B, 2K)
        beam_of, token_of = cand // vocab, cand % vocab
        keep_rows, keep_tokens, keep_scores = [], [], []
        for i in range(b):
            live: list[tuple[int, int, float]] = []
            for score, beam, token in zip(
                cand_scores[i].tolist(), beam_of[i].tolist(), token_of[i].tolist(), strict=True
            ):
                if score == float("-inf") or len(live) == k:
                    break
                if token == eos:
                    if not done[i]:
                        tokens = tuple(prefix[i * k + beam, 1:].tolist())
                        norm = score / length_penalty(t, alpha)
                        finished[i].append(Hypothesis(tokens, score, norm))
                    continue
                live.append((i * k + beam, token, score))
            finished[i] = sorted(finished[i], key=lambda h: -h.score)[:k]
            live += [(i * k, eos, float("-inf"))] * (k - len(live))  # dead filler rows
            best_possible = max(s for _, _, s in live) / length_penalty(max_len, alpha)
            if len(finished[i]) == k and finished[i][-1].score >= best_possible:
                done[i] = True
            for row, token, score in live:
                keep_rows.append(row)
                keep_tokens.append(token)
                keep_scores.append(score if not done[i] else float("-inf"))
        if all(done):
            break
        rows = torch.tensor(keep_rows, device=device)
        prefix = torch.cat([prefix[rows], torch.tensor(keep_tokens, device=device)[:, None]], 1)
        state = _select(state, rows)
        scores = torch.tensor(keep_scores, device=device).view(b, k)
    for i in range(b):
        if not finished[i]:  # nothing ended within max_len: the live prefixes as they are
            for j in range(k):
                if scores[i, j] > float("-inf"):
                    tokens = tuple(prefix[i * k + j, 1:].tolist())
                    s = float(scores[i, j])
                    finished[i].append(
                        Hypothesis(tokens, s, s / length_penalty(len(tokens), alpha))
                    )
            finished[i].sort(key=lambda h: -h.score)
    return finished
