"""The small BERT masks as the paper says, ties its MLM head, and ignores padding."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dllab.errors import ConfigError, InputError
from dllab.models import create_model
from dllab.models.bert import IGNORE, mask_tokens

V, PAD, CLS, SEP, MASK, FIRST = 60, 0, 2, 3, 4, 5
SMALL = {"vocab_size": V, "d_model": 32, "n_heads": 4, "n_layers": 2, "max_len": 16}


def test_masking_chooses_15_percent_and_splits_them_80_10_10() -> None:
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(FIRST, V, (400, 500), generator=g)
    tokens[:, 0], tokens[:, -1], tokens[:, -50:-1] = CLS, SEP, PAD  # specials and padding
    inputs, labels = mask_tokens(
        tokens, mask_id=MASK, first_token_id=FIRST, vocab_size=V, generator=g
    )
    real = tokens >= FIRST
    chosen = labels != IGNORE
    assert not (chosen & ~real).any()  # specials and padding are never asked for
    assert torch.equal(labels[chosen], tokens[chosen])
    assert torch.equal(inputs[~chosen], tokens[~chosen])  # the rest is untouched
    assert chosen.sum().item() / real.sum().item() == pytest.approx(0.15, abs=0.003)

    n = chosen.sum().item()  # ~27,000: tolerances are about 4 standard deviations
    masked = (inputs == MASK) & chosen
    replaced = (inputs != MASK) & (inputs != tokens) & chosen
    kept = (inputs == tokens) & chosen  # includes the 1/55 of random draws that hit the original
    assert masked.sum().item() / n == pytest.approx(0.8, abs=0.01)
    assert replaced.sum().item() / n == pytest.approx(0.1 * (1 - 1 / (V - FIRST)), abs=0.007)
    assert kept.sum().item() / n == pytest.approx(0.1 * (1 + 1 / (V - FIRST)), abs=0.008)
    assert inputs[replaced].min() >= FIRST and inputs[replaced].max() < V  # real tokens only


def test_mlm_head_is_tied_to_the_input_embedding() -> None:
    model = create_model("bert-mlm-mini", **SMALL)
    embedding = model.encoder.embedding.tokens.weight
    assert model.head.decoder.weight is embedding
    assert sum(p is embedding for p in model.parameters()) == 1  # one matrix, counted once
    before = embedding.detach().clone()
    x = torch.tensor([[CLS, 7, MASK, 9, SEP]])
    logits = model(x)  # (1, 5, V)
    F.cross_entropy(logits[0], torch.tensor([7, 7, 8, 9, 9])).backward()
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    assert not torch.equal(embedding, before)
    assert model.head.decoder.weight is model.encoder.embedding.tokens.weight
    assert model.state_dict()["head.decoder.weight"].data_ptr() == embedding.data_ptr()


def test_shapes_and_selected_positions() -> None:
    model = create_model("bert-mlm-mini", **SMALL).eval()
    x = torch.tensor([[CLS, 7, MASK, 9, SEP, PAD], [CLS, MASK, 8, MASK, 11, SEP]])
    full = model(x)
    select = x == MASK
    assert full.shape == (2, 6, V)
    with torch.no_grad():
        assert torch.allclose(model(x, select), full[select], atol=1e-5)
    clf = create_model("bert-classifier", num_classes=3, **SMALL)
    assert clf(x).shape == (2, 3)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_padding_does_not_change_real_positions(pooling: str) -> None:
    torch.manual_seed(0)
    clf = create_model("bert-classifier", num_classes=2, pooling=pooling, **SMALL).eval()
    lengths = torch.tensor([7, 3, 5])
    tokens = torch.randint(FIRST, V, (3, 7))
    tokens = tokens.masked_fill(torch.arange(7)[None] >= lengths[:, None], PAD)
    with torch.no_grad():
        h = clf.encoder(tokens)
        logits = clf(tokens)
        wider = F.pad(tokens, (0, 6), value=PAD)  # more padding
        h_wide, logits_wide = clf.encoder(wider), clf(wider)
        for i, n in enumerate(lengths.tolist()):
            alone = clf.encoder(tokens[i : i + 1, :n])  # no padding at all
            assert torch.allclose(h[i, :n], alone[0], atol=1e-5)
            assert torch.allclose(h_wide[i, :n], alone[0], atol=1e-5)
            assert torch.allclose(logits[i], clf(tokens[i : i + 1, :n])[0], atol=1e-5)
        assert torch.allclose(logits, logits_wide, atol=1e-5)
        # Padding ids other than <pad> are ignored too when lengths say where padding is.
        noise = torch.where(tokens == PAD, torch.full_like(tokens, 9), tokens)
        assert torch.allclose(clf(noise, lengths), logits, atol=1e-5)


def test_attention_weights_are_returned_for_plots_and_ignore_padding() -> None:
    enc = create_model("bert-mlm-mini", **SMALL).eval().encoder
    x = torch.tensor([[CLS, 7, 8, SEP, PAD, PAD]])
    h, w = enc(x, need_weights=True)
    assert h.shape == (1, 6, 32) and w.shape == (1, 4, 6, 6)
    assert torch.allclose(w.sum(-1), torch.ones(1, 4, 6), atol=1e-5)
    assert w[..., 4:].abs().max() == 0  # nobody attends to padding


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_classifier_returns_token_weights_for_the_report(pooling: str) -> None:
    clf = create_model("bert-classifier", **SMALL, pooling=pooling).eval()
    x = torch.tensor([[CLS, 7, 8, 9, SEP, PAD], [CLS, 9, SEP, PAD, PAD, PAD]])
    logits, w = clf(x, return_attention=True)
    torch.testing.assert_close(logits, clf(x))  # the same decision either way
    assert w.shape == (2, 6)
    torch.testing.assert_close(w.sum(-1), torch.ones(2))  # a distribution over the tokens
    assert w[0, 5] == 0 and w[1, 3:].abs().max() == 0  # none on padding
    _, layer = clf.encoder(x, need_weights=True)  # the last layer's (B, heads, queries, keys)
    heads = layer.mean(1)
    if pooling == "cls":
        expected = heads[:, 0]  # what [CLS] reads
    else:  # the mean over each text's real query rows
        expected = torch.stack([heads[0, :5].mean(0), heads[1, :3].mean(0)])
    torch.testing.assert_close(w, expected)


def test_bad_options_and_too_long_inputs_are_user_errors() -> None:
    with pytest.raises(ConfigError, match="n_heads"):
        create_model("bert-mlm-mini", vocab_size=V, d_model=30, n_heads=4)
    with pytest.raises(ConfigError, match="pooling"):
        create_model("bert-classifier", vocab_size=V, pooling="max")
    with pytest.raises(ConfigError, match="'num_classes'"):
        create_model("bert-mlm-mini", vocab_size=V, num_classes=2)
    model = create_model("bert-mlm-mini", **SMALL)
    with pytest.raises(InputError, match="max_len"):
        model(torch.full((1, 17), 7))


def test_rotary_bert_has_no_position_table_and_still_sees_word_order() -> None:
    model = create_model("bert-mlm-mini", **SMALL, positions="rotary").eval()
    assert not any("positions" in name for name in model.state_dict())
    a = model.encoder(torch.tensor([[CLS, 7, 8, 9, SEP]]))
    b = model.encoder(torch.tensor([[CLS, 9, 8, 7, SEP]]))
    assert not torch.allclose(a[0, 2], b[0, 2], atol=1e-4)  # same token, other neighbours' order
    with pytest.raises(ConfigError, match="learned' or 'rotary"):
        create_model("bert-mlm-mini", **SMALL, positions="sinusoidal")
