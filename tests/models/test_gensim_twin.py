"""gensim's twin is trained once per run folder and read back after that; word2vec's binary
format round-trips exactly."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from dllab.data.text import Vocab
from dllab.data.word2vec_format import read_word2vec_binary, write_word2vec_binary
from dllab.models import gensim_twin
from dllab.models.gensim_twin import GensimSettings, gensim_reference

pytest.importorskip("gensim")

WORDS = [f"w{i}" for i in range(30)]
SETTINGS = GensimSettings(
    dim=8, window=2, negatives=3, min_count=2, sample=0.0, epochs=1, seed=0, workers=1, twice=True
)


@pytest.fixture
def corpus() -> tuple[list[list[str]], Vocab, torch.Tensor]:
    rng = random.Random(0)
    sentences = [[rng.choice(WORDS) for _ in range(8)] for _ in range(200)]
    vocab = Vocab.build(sentences, min_freq=2)
    g = torch.Generator().manual_seed(0)
    pairs = torch.randint(2, len(vocab), (50, 2 + 3), generator=g)
    return sentences, vocab, pairs


def test_word2vec_binary_round_trips_tokens_and_vectors_exactly(tmp_path: Path) -> None:
    tokens = ["中国", "经济", "a"]
    vectors = torch.randn(3, 5)
    back_tokens, back = read_word2vec_binary(write_word2vec_binary(tokens, vectors, tmp_path / "v"))
    assert back_tokens == tokens and torch.equal(back, vectors)


def test_the_twin_is_trained_once_then_read_back_until_its_settings_change(
    tmp_path: Path, corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    sentences, vocab, pairs = corpus
    calls = []
    train = gensim_twin.train_gensim

    def counting(*args, **kwargs):
        calls.append(args[-1])  # the seed
        return train(*args, **kwargs)

    monkeypatch.setattr(gensim_twin, "train_gensim", counting)
    queries = torch.tensor([2, 3, 4])
    args = (tmp_path / "gensim", sentences, vocab.tokens)
    first = gensim_reference(*args, SETTINGS, pairs=pairs, queries=queries, k=5)
    assert calls == [0, 1]  # ours' twin and a second seed for the self-overlap
    saved = json.loads((tmp_path / "gensim" / "gensim.json").read_text())
    assert saved["scores"] == first.scores and 0 <= first.self_overlap <= 1

    again = gensim_reference(*args, SETTINGS, pairs=pairs, queries=queries, k=5)
    assert calls == [0, 1]  # read back: no training
    assert torch.equal(again.vectors, first.vectors) and again.scores == first.scores
    assert again.seconds == first.seconds and again.self_overlap == first.self_overlap
    assert not again.vectors[:2].any()  # our <pad> and <unk>: zero rows

    gensim_reference(*args, replace(SETTINGS, window=3), pairs=pairs, queries=queries, k=5)
    assert calls == [0, 1, 0, 1]  # other settings: trained again
    gensim_reference(*args, replace(SETTINGS, window=3), pairs=pairs[1:], queries=queries, k=5)
    assert calls == [0, 1, 0, 1, 0, 1]  # other held-out pairs: scored anew
