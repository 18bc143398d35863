"""Skip-gram with negative sampling computes the paper's loss and samples as word2vec does."""

from __future__ import annotations

import math

import pytest
import torch

from dllab.errors import ConfigError
from dllab.models import create_model
from dllab.models.skipgram import (
    keep_probabilities,
    negative_sampling_loss,
    noise_distribution,
    skipgram_pairs,
)


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


def test_negative_sampling_loss_equals_the_hand_computation() -> None:
    v_c = torch.tensor([[1.0, 2.0], [0.5, -1.0]])  # centres
    u_o = torch.tensor([[0.5, 0.5], [1.0, 0.0]])  # their contexts
    u_n = torch.tensor([[[1.0, 0.0], [0.0, -1.0]], [[2.0, 1.0], [0.0, 0.0]]])  # 2 noise words
    # Row 0: u_o.v_c = 1.5, noise dots 1 and -2. Row 1: 0.5, noise dots 0 and 0.
    expected = [
        -log_sigmoid(1.5) - log_sigmoid(-1.0) - log_sigmoid(2.0),
        -log_sigmoid(0.5) - 2 * log_sigmoid(0.0),
    ]
    loss = negative_sampling_loss(v_c, u_o, u_n)
    assert loss.tolist() == pytest.approx(expected, abs=1e-6)


def test_model_loss_reads_input_vectors_for_centres_and_output_vectors_for_the_rest() -> None:
    torch.manual_seed(0)
    model = create_model("skipgram", vocab_size=12, embed_dim=3)
    torch.nn.init.normal_(model.out_embed.weight)  # word2vec starts them at zero
    c, o, n = torch.tensor([1, 4]), torch.tensor([2, 5]), torch.tensor([[3, 7, 8], [9, 1, 0]])
    w_in, w_out = model.in_embed.weight, model.out_embed.weight
    expected = negative_sampling_loss(w_in[c], w_out[o], w_out[n])
    assert torch.allclose(model(c, o, n), expected)
    model(c, o, n).sum().backward()
    touched_in = model.in_embed.weight.grad.abs().sum(1).nonzero().flatten().tolist()
    assert touched_in == [1, 4]  # only the centres' input vectors learn


def test_initialisation_follows_word2vec() -> None:
    model = create_model("skipgram", vocab_size=50, embed_dim=10)
    assert model.in_embed.weight.abs().max() <= 0.5 / 10
    assert model.out_embed.weight.abs().max() == 0


def test_noise_distribution_is_unigram_to_the_three_quarters() -> None:
    p = noise_distribution(torch.tensor([0, 0, 16, 81]))  # 16^0.75 = 8, 81^0.75 = 27
    assert p.tolist() == pytest.approx([0.0, 0.0, 8 / 35, 27 / 35])
    draws = torch.multinomial(p, 200_000, True, generator=torch.Generator().manual_seed(0))
    assert (draws == 3).double().mean().item() == pytest.approx(27 / 35, abs=0.005)


def test_keep_probabilities_follow_word2vec_c() -> None:
    counts = torch.tensor([50, 1, 949])  # f = 0.05, 0.001, 0.949 of 1000 tokens
    keep = keep_probabilities(counts, sample=1e-3)
    f = counts.double() / 1000
    word2vec_c = ((f / 1e-3).sqrt() + 1) * 1e-3 / f
    assert keep.tolist() == pytest.approx(word2vec_c.clamp(max=1).tolist(), rel=1e-6)
    assert keep[0].item() == pytest.approx((math.sqrt(50) + 1) * 0.02, rel=1e-6)  # ~0.161
    assert keep[1] == 1.0  # as rare as the threshold: always kept
    assert torch.all(keep_probabilities(counts, sample=0) == 1)


def test_subsampling_keeps_each_word_at_its_rate() -> None:
    ids = torch.tensor([2, 3] * 50_000)
    keep = torch.tensor([0.0, 0.0, 0.25, 1.0])
    centre, _ = skipgram_pairs(
        ids, torch.zeros_like(ids), 1, keep, torch.Generator().manual_seed(0)
    )
    # With window 1 each kept token is a centre once or twice (inner tokens twice).
    kept_2 = (centre == 2).sum().item() / 2
    assert kept_2 / 50_000 == pytest.approx(0.25, abs=0.01)


def test_window_one_pairs_every_neighbour_within_a_sentence() -> None:
    ids = torch.tensor([10, 11, 12, 20, 21])
    sentence = torch.tensor([0, 0, 0, 1, 1])
    centre, context = skipgram_pairs(ids, sentence, window=1)
    pairs = sorted(zip(centre.tolist(), context.tolist(), strict=True))
    assert pairs == sorted(
        [(10, 11), (11, 10), (11, 12), (12, 11), (20, 21), (21, 20)]
    )  # never (12, 20): that crosses sentences


def test_reduced_window_sees_distance_d_with_probability_w_minus_d_plus_1_over_w() -> None:
    n, window = 20_000, 4
    ids = torch.arange(n)
    centre, context = skipgram_pairs(
        ids, torch.zeros(n, dtype=torch.long), window, None, torch.Generator().manual_seed(0)
    )
    distance = (context - centre).abs()
    for d in range(1, window + 1):
        share = (distance == d).sum().item() / (2 * (n - d))
        assert share == pytest.approx((window - d + 1) / window, abs=0.015)
    assert distance.max() == window


def test_bad_sizes_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="vocab_size"):
        create_model("skipgram", vocab_size=1)
    with pytest.raises(ConfigError, match="'embed_size'"):
        create_model("skipgram", vocab_size=10, embed_size=8)
