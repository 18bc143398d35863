"""Greedy and beam search against brute force on a tiny fake model, the length penalty, and
the two translation models' steppers against their own `greedy_decode`."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from dllab.models import create_model
from dllab.models.decoding import (
    beam_search,
    greedy_search,
    length_penalty,
    stepper_for,
)

PAD, BOS, EOS = 0, 1, 2


class TableModel:
    """A fake decoder: the next-token distribution is a fixed random function of (source id,
    prefix), so every sequence's probability can be enumerated."""

    def __init__(self, vocab: int = 6, seed: int = 0, max_len: int = 10) -> None:
        self.vocab, self.seed, self.max_len = vocab, seed, max_len

    def log_probs(self, source: int, prefix: tuple[int, ...]) -> torch.Tensor:
        g = torch.Generator().manual_seed(hash((self.seed, source, prefix)) % 2**31)
        logits = 2.0 * torch.randn(self.vocab, generator=g)
        logits[[PAD, BOS]] = float("-inf")  # never written
        return logits.log_softmax(-1)

    def start(self, src, src_lengths):
        return (src[:, 0],)

    def step(self, state, prefix):
        rows = [
            self.log_probs(int(s), tuple(p)) for s, p in zip(state[0], prefix.tolist(), strict=True)
        ]
        return torch.stack(rows), state


def brute_force(model: TableModel, source: int, max_len: int, alpha: float):
    """The best (score, tokens) over every sequence that ends in EOS within max_len tokens."""
    content = [t for t in range(model.vocab) if t not in (PAD, BOS, EOS)]
    best = (-math.inf, ())
    for n in range(max_len):
        for tokens in itertools.product(content, repeat=n):
            seq = (BOS, *tokens, EOS)
            lp = sum(float(model.log_probs(source, seq[:i])[seq[i]]) for i in range(1, len(seq)))
            best = max(best, (lp / length_penalty(n + 1, alpha), tokens))
    return best


@pytest.mark.parametrize("alpha", [0.0, 0.6, 2.0])
def test_a_wide_beam_finds_the_brute_force_best(alpha):
    model = TableModel(vocab=6, seed=1)  # 3 content tokens: 3^3 = 27 prefixes at depth 3
    src = torch.tensor([[0], [1], [2], [3]])
    found = beam_search(model, src, bos=BOS, eos=EOS, beam_size=32, alpha=alpha, max_len=4)
    for source, hyps in enumerate(found):
        score, tokens = brute_force(model, source, max_len=4, alpha=alpha)
        assert hyps[0].tokens == tokens
        assert hyps[0].score == pytest.approx(score, abs=1e-5)
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)


def test_beam_of_one_without_length_penalty_is_greedy():
    model = TableModel(vocab=9, seed=2)
    src = torch.arange(12)[:, None]
    greedy = greedy_search(model, src, bos=BOS, eos=EOS, max_len=8)
    beams = beam_search(model, src, bos=BOS, eos=EOS, beam_size=1, alpha=0.0, max_len=8)
    assert [list(b[0].tokens) for b in beams] == greedy


def test_a_beam_is_never_worse_than_greedy():
    model = TableModel(vocab=9, seed=3)
    src = torch.arange(12)[:, None]
    greedy = greedy_search(model, src, bos=BOS, eos=EOS, max_len=8)
    beams = beam_search(model, src, bos=BOS, eos=EOS, beam_size=4, alpha=0.0, max_len=8)
    for source, (tokens, hyps) in enumerate(zip(greedy, beams, strict=True)):
        seq = (BOS, *tokens, EOS)
        greedy_lp = sum(float(model.log_probs(source, seq[:i])[seq[i]]) for i in range(1, len(seq)))
        assert hyps[0].log_prob >= greedy_lp - 1e-5


class ShortOrLong(TableModel):
    """After BOS: EOS or "a" at 0.5 each; after "a": EOS at 0.95. The empty output is the more
    probable (0.5 > 0.475), the one-token output wins once length is paid back."""

    def log_probs(self, source, prefix):
        p = torch.zeros(self.vocab)
        p[[EOS, 3]] = torch.tensor([0.5, 0.5]) if len(prefix) == 1 else torch.tensor([0.95, 0.05])
        return p.log()


def test_length_penalty_turns_the_choice_to_the_longer_output():
    model, src = ShortOrLong(vocab=4), torch.zeros(1, 1, dtype=torch.long)
    assert beam_search(model, src, bos=BOS, eos=EOS, beam_size=2, alpha=0.0)[0][0].tokens == ()
    assert beam_search(model, src, bos=BOS, eos=EOS, beam_size=2, alpha=1.0)[0][0].tokens == (3,)


def test_length_penalty_is_gnmts():
    assert length_penalty(1, 0.0) == 1.0
    assert length_penalty(7, 1.0) == pytest.approx(2.0)
    assert length_penalty(10, 0.6) == pytest.approx((15 / 6) ** 0.6)


def test_no_eos_within_max_len_returns_the_live_prefixes():
    class NeverEnds(TableModel):
        def log_probs(self, source, prefix):
            lp = super().log_probs(source, prefix)
            lp[EOS] = float("-inf")
            return lp

    hyps = beam_search(
        NeverEnds(), torch.zeros(1, 1, dtype=torch.long), bos=BOS, eos=EOS, beam_size=3, max_len=5
    )[0]
    assert len(hyps) == 3 and all(len(h.tokens) == 5 for h in hyps)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("transformer-seq2seq", {"d_model": 32, "n_heads": 2, "n_layers": 2, "max_len": 32}),
        ("gru-seq2seq", {"embed_dim": 16, "hidden_size": 24, "max_len": 32}),
    ],
)
def test_the_models_steppers_agree_with_their_own_greedy_decode(name, kwargs):
    torch.manual_seed(0)
    model = create_model(name, src_vocab_size=40, tgt_vocab_size=40, **kwargs).eval()
    src = torch.randint(4, 40, (5, 9))
    src[1, 6:] = PAD  # a padded row
    reference = model.greedy_decode(src, bos_idx=BOS, eos_idx=EOS, max_len=12)
    expected = [[t for t in row if t not in (PAD,)] for row in reference.tolist()]
    expected = [row[: row.index(EOS)] if EOS in row else row for row in expected]
    stepper = stepper_for(model)
    assert greedy_search(stepper, src, bos=BOS, eos=EOS, max_len=12) == expected
    beams = beam_search(stepper, src, bos=BOS, eos=EOS, beam_size=1, alpha=0.0, max_len=12)
    assert [list(b[0].tokens) for b in beams] == expected
