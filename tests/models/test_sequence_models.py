"""Sequence models (RNNs, TextCNN, seq2seq, Transformer, GPT) and the ViT keep their promises.

Shapes, padding that cannot change what real positions compute, packed batches equal to
one sequence at a time, gradients that reach every weight, a KV cache that changes speed and
not tokens, and attention maps of the advertised shape.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dllab.errors import ConfigError, InputError
from dllab.models import create_model, list_models
from dllab.models.gpt import KVCache, sample_logits
from dllab.models.transformer import RotaryEmbedding

VOCAB, PAD = 30, 0
SMALL_RNN = {"vocab_size": VOCAB, "embed_dim": 8, "hidden_size": 12}
SMALL = {
    "rnn-classifier": {**SMALL_RNN, "num_classes": 3, "num_layers": 2, "bidirectional": True},
    "lstm-classifier": {**SMALL_RNN, "num_classes": 3, "num_layers": 2, "bidirectional": True},
    "gru-classifier": {**SMALL_RNN, "num_classes": 3, "num_layers": 2},
    "bilstm-attention": {**SMALL_RNN, "num_classes": 3},
    "bilstm-tagger": {**SMALL_RNN, "num_tags": 5, "num_layers": 2},
    "textcnn": {"vocab_size": VOCAB, "num_classes": 3, "embed_dim": 8, "num_filters": 4},
    "fasttext": {"vocab_size": VOCAB, "num_classes": 3, "embed_dim": 8},
}
SEQ2SEQ = {
    "gru-seq2seq": {
        "src_vocab_size": VOCAB,
        "tgt_vocab_size": 25,
        "embed_dim": 8,
        "hidden_size": 12,
    },
    "transformer-seq2seq": {
        "src_vocab_size": VOCAB,
        "tgt_vocab_size": 25,
        "d_model": 16,
        "n_heads": 2,
        "n_layers": 2,
        "max_len": 32,
    },
}
GPT_SMALL = {"vocab_size": VOCAB, "n_layers": 2, "n_heads": 2, "d_model": 16, "max_len": 24}
CLASSIFIERS = [
    "rnn-classifier",
    "lstm-classifier",
    "gru-classifier",
    "bilstm-attention",
    "textcnn",
    "fasttext",
]
RNNS = ["rnn-classifier", "lstm-classifier", "gru-classifier", "bilstm-attention", "bilstm-tagger"]
LENGTHS = torch.tensor([9, 4, 1, 6])


def build(name: str, **kw: object) -> nn.Module:
    torch.manual_seed(0)
    options = {**SMALL, **SEQ2SEQ}.get(name, {})
    return create_model(name, **{**options, **kw}).eval()


def padded_batch(lengths: torch.Tensor = LENGTHS, t: int = 9, seed: int = 0) -> torch.Tensor:
    """Random ids in 1..VOCAB-1 for real positions, PAD after each row's length: (B, T)."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(1, VOCAB, (len(lengths), t), generator=g)
    return tokens.masked_fill(torch.arange(t)[None, :] >= lengths[:, None], PAD)


def scramble_padding(tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Same real tokens, other (non-PAD) ids at the padded positions."""
    noise = torch.randint(1, VOCAB, tokens.shape, generator=torch.Generator().manual_seed(1))
    return torch.where(torch.arange(tokens.shape[1])[None, :] >= lengths[:, None], noise, tokens)


def test_every_sequence_family_registers_its_variants() -> None:
    expected = {*SMALL, *SEQ2SEQ, "gpt-nano", "gpt-micro", "gpt-mini", "vit-tiny"}
    assert expected <= set(list_models())


def test_unknown_option_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"'hiden_size'.*did you mean 'hidden_size'"):
        create_model("lstm-classifier", hiden_size=8)
    with pytest.raises(ConfigError, match="'cell'"):  # the variant decides the cell
        create_model("gru-classifier", cell="lstm")


def test_heads_that_do_not_split_the_width_say_how_to_fix_it() -> None:
    with pytest.raises(ConfigError, match="d_model=30.*n_heads=4.*multiple"):
        create_model("transformer-seq2seq", d_model=30, n_heads=4)
    with pytest.raises(ConfigError, match="positions 'alibi'.*sinusoidal, learned, rotary"):
        create_model("transformer-seq2seq", positions="alibi")
    with pytest.raises(ConfigError, match="patch_size"):
        create_model("vit-tiny", image_size=28, patch_size=5)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_classifiers_map_token_ids_to_logits(name: str) -> None:
    logits = build(name)(padded_batch(), LENGTHS)
    assert logits.shape == (4, 3) and torch.isfinite(logits).all()


@pytest.mark.parametrize("name", [*CLASSIFIERS, "bilstm-tagger"])
def test_changing_padded_tokens_leaves_real_outputs_unchanged(name: str) -> None:
    model, tokens = build(name), padded_batch()
    with torch.no_grad():
        clean = model(tokens, LENGTHS)
        noisy = model(scramble_padding(tokens, LENGTHS), LENGTHS)
        more_padding = model(torch.nn.functional.pad(tokens, (0, 5), value=PAD), LENGTHS)
    if name == "bilstm-tagger":  # (B, T, tags): compare real positions only
        real = torch.arange(tokens.shape[1])[None, :] < LENGTHS[:, None]
        clean, noisy, more_padding = clean[real], noisy[real], more_padding[:, :9][real]
    torch.testing.assert_close(noisy, clean, rtol=0, atol=1e-6)
    torch.testing.assert_close(more_padding, clean, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", [*CLASSIFIERS, "bilstm-tagger"])
def test_lengths_default_to_where_padding_starts(name: str) -> None:
    model, tokens = build(name), padded_batch()
    with torch.no_grad():
        torch.testing.assert_close(model(tokens), model(tokens, LENGTHS))


@pytest.mark.parametrize("name", [*RNNS, "textcnn", "fasttext"])
def test_padded_batch_equals_each_sequence_alone(name: str) -> None:
    """RNNs pack the batch, TextCNN masks windows that reach into the padding, fastText
    averages real tokens only."""
    model, tokens = build(name), padded_batch()
    with torch.no_grad():
        batched = model(tokens, LENGTHS)
        for i, n in enumerate(LENGTHS.tolist()):
            alone = model(tokens[i : i + 1, :n], torch.tensor([n]))
            expected = batched[i : i + 1, :n] if name == "bilstm-tagger" else batched[i : i + 1]
            torch.testing.assert_close(alone, expected, rtol=0, atol=1e-6)


def test_fasttext_is_a_linear_map_of_the_mean_embedding() -> None:
    """The paper's model: logits = W mean(E[tokens]) + b, whatever the order of the tokens."""
    model, tokens = build("fasttext"), padded_batch()
    with torch.no_grad():
        logits = model(tokens, LENGTHS)
        for i, n in enumerate(LENGTHS.tolist()):
            mean = model.embedding.weight[tokens[i, :n]].mean(0)
            torch.testing.assert_close(logits[i], model.head(mean), rtol=0, atol=1e-6)
        shuffled = tokens[0, torch.randperm(9, generator=torch.Generator().manual_seed(3))]
        torch.testing.assert_close(model(shuffled[None]), logits[:1], rtol=0, atol=1e-6)


def test_empty_sequence_is_refused_with_a_reason() -> None:
    with pytest.raises(InputError, match="at least one token"):
        build("lstm-classifier")(padded_batch(), torch.tensor([3, 0, 1, 2]))


def test_tagger_scores_every_token() -> None:
    assert build("bilstm-tagger")(padded_batch(), LENGTHS).shape == (4, 9, 5)


def test_attention_pooling_returns_weights_over_real_tokens() -> None:
    logits, weights = build("bilstm-attention")(padded_batch(), LENGTHS, return_attention=True)
    real = torch.arange(9)[None, :] < LENGTHS[:, None]
    assert logits.shape == (4, 3) and weights.shape == (4, 9)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(4))
    assert weights[~real].abs().max() == 0


@pytest.mark.parametrize(
    "name", [*CLASSIFIERS, "bilstm-tagger", *SEQ2SEQ, "gpt-nano", "transformer-rotary"]
)
def test_backward_reaches_every_parameter(name: str) -> None:
    tokens = padded_batch()
    if name == "transformer-rotary":
        model = build("transformer-seq2seq", positions="rotary", norm_first=False).train()
    elif name == "gpt-nano":
        model = build(name, vocab_size=VOCAB).train()
    else:
        model = build(name).train()
    if name in SEQ2SEQ or name == "transformer-rotary":
        out = model(tokens, tokens[:, :6].clamp(max=24), LENGTHS)
    elif name == "gpt-nano":
        out = model(tokens)
    else:
        out = model(tokens, LENGTHS)
    out.float().pow(2).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing, f"{name}: no gradient for {missing}"


# ------------------------------------------------------------------------- seq2seq
@pytest.mark.parametrize("name", list(SEQ2SEQ))
def test_seq2seq_predicts_each_target_position(name: str) -> None:
    model, src = build(name), padded_batch()
    tgt_in = torch.randint(1, 25, (4, 6))
    logits, attention = model(src, tgt_in, LENGTHS, return_attention=True)
    assert logits.shape == (4, 6, 25)
    weights = attention if attention.dim() == 3 else attention.mean(dim=1)  # (B, T, S)
    assert weights.shape == (4, 6, 9)
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(4, 6))
    real = torch.arange(9)[None, :] < LENGTHS[:, None]
    assert weights.masked_select(~real[:, None, :]).abs().max() == 0


@pytest.mark.parametrize("name", list(SEQ2SEQ))
def test_seq2seq_ignores_source_padding_and_future_targets(name: str) -> None:
    model, src = build(name), padded_batch()
    tgt_in = torch.randint(1, 25, (4, 6))
    changed_future = tgt_in.clone()
    changed_future[:, 4:] = (changed_future[:, 4:] + 1) % 25
    with torch.no_grad():
        clean = model(src, tgt_in, LENGTHS)
        noisy = model(scramble_padding(src, LENGTHS), tgt_in, LENGTHS)
        future = model(src, changed_future, LENGTHS)
    torch.testing.assert_close(noisy, clean, rtol=0, atol=1e-5)
    torch.testing.assert_close(future[:, :4], clean[:, :4], rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", list(SEQ2SEQ))
def test_greedy_decode_follows_its_own_argmax_and_stops_at_eos(name: str) -> None:
    model, src = build(name), padded_batch()
    bos, eos = 1, 2
    out = model.greedy_decode(src, bos_idx=bos, eos_idx=eos, max_len=7, src_lengths=LENGTHS)
    assert out.shape[0] == 4 and out.shape[1] <= 7
    # Teacher-forcing the decoded tokens must pick the same tokens again.
    tgt_in = torch.cat([torch.full((4, 1), bos), out[:, :-1]], dim=1)
    with torch.no_grad():
        again = model(src, tgt_in, LENGTHS).argmax(-1)
    for row, row_again in zip(out, again, strict=True):
        n = int((row == eos).nonzero()[0]) + 1 if (row == eos).any() else len(row)
        assert torch.equal(row[:n], row_again[:n])
        assert (row[n:] == PAD).all()


@pytest.mark.parametrize("positions", ["sinusoidal", "learned", "rotary"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_builds_with_each_position_and_norm(positions: str, norm_first: bool) -> None:
    model = build("transformer-seq2seq", positions=positions, norm_first=norm_first)
    assert model(padded_batch(), torch.randint(1, 25, (4, 5))).shape == (4, 5, 25)
    assert model.lm_head.weight is model.decoder.embedding.tokens.weight


def test_share_all_embeddings_ties_source_target_and_output() -> None:
    model = build("transformer-seq2seq", tgt_vocab_size=VOCAB, share_all_embeddings=True)
    shared = model.decoder.embedding.tokens.weight
    assert model.encoder.embedding.tokens.weight is shared and model.lm_head.weight is shared
    untied = build("transformer-seq2seq", tgt_vocab_size=VOCAB)
    n = sum(p.numel() for p in untied.parameters()) - sum(p.numel() for p in model.parameters())
    assert n == shared.numel()  # one matrix fewer to learn
    with pytest.raises(ConfigError, match="one vocabulary for both sides"):
        build("transformer-seq2seq", share_all_embeddings=True)  # 25 target ids, VOCAB source


def test_three_way_tied_model_round_trips_through_a_checkpoint(tmp_path) -> None:
    from dllab.train.checkpoint import load_checkpoint, save_checkpoint

    model = build("transformer-seq2seq", tgt_vocab_size=VOCAB, share_all_embeddings=True)
    save_checkpoint(tmp_path / "m.safetensors", {"model": model.state_dict()})
    copy = build("transformer-seq2seq", tgt_vocab_size=VOCAB, share_all_embeddings=True)
    with torch.no_grad():
        for p in copy.parameters():
            p.add_(1.0)  # so that only the checkpoint can make the two agree
    copy.load_state_dict(load_checkpoint(tmp_path / "m.safetensors")["model"])
    src, tgt = padded_batch(), torch.randint(1, VOCAB, (4, 5))
    torch.testing.assert_close(copy(src, tgt), model(src, tgt))
    assert copy.encoder.embedding.tokens.weight is copy.lm_head.weight  # still one matrix


def test_rotary_scores_depend_on_relative_position_only() -> None:
    rotary = RotaryEmbedding(head_dim=8, max_len=32)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)
    scores = [(rotary(q, offset=m) * rotary(k, offset=m - 3)).sum() for m in (3, 10, 20)]
    torch.testing.assert_close(torch.stack(scores), scores[0].expand(3), rtol=1e-5, atol=1e-5)


def test_transformer_refuses_sequences_longer_than_its_positions() -> None:
    with pytest.raises(InputError, match="40 tokens.*max_len is 32"):
        build("transformer-seq2seq")(torch.ones(1, 40, dtype=torch.long), torch.ones(1, 3).long())


# ----------------------------------------------------------------------------- GPT
def test_gpt_ties_the_lm_head_to_the_token_embedding() -> None:
    model = build("gpt-nano", **GPT_SMALL)
    assert model.lm_head.weight is model.wte.weight
    assert model(padded_batch()).shape == (4, 9, VOCAB)


def test_gpt_is_causal() -> None:
    model, tokens = build("gpt-nano", **GPT_SMALL), padded_batch()
    changed = tokens.clone()
    changed[:, 5:] = (changed[:, 5:] + 1) % VOCAB
    with torch.no_grad():
        torch.testing.assert_close(model(changed)[:, :5], model(tokens)[:, :5])


def test_kv_cache_gives_the_logits_of_a_full_pass() -> None:
    model, tokens = build("gpt-nano", **GPT_SMALL), padded_batch()
    cache = KVCache()
    with torch.no_grad():
        steps = [model(tokens[:, :4], cache)] + [model(tokens[:, t : t + 1], cache) for t in (4, 5)]
        steps.append(model(tokens[:, 6:], cache))  # several new tokens after a cached prefix
        full = model(tokens)
    assert len(cache) == 9
    torch.testing.assert_close(torch.cat(steps, dim=1), full, rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    "sampling",
    [{"temperature": 1.0}, {"temperature": 0.8, "top_k": 5}, {"top_p": 0.9}, {"temperature": 0}],
)
def test_kv_cache_changes_speed_not_tokens(sampling: dict[str, float]) -> None:
    model, prompt = build("gpt-nano", **GPT_SMALL), padded_batch(t=6)[:2]
    runs = [
        model.generate(
            prompt, 30, generator=torch.Generator().manual_seed(7), use_cache=cache, **sampling
        )
        for cache in (True, False)
    ]
    assert runs[0].shape == (2, 36)  # 30 new tokens: past max_len 24, so the window slides
    assert torch.equal(runs[0], runs[1])


def test_generation_is_reproducible_with_a_seed() -> None:
    model, prompt = build("gpt-nano", **GPT_SMALL), padded_batch(t=4)[:2]
    first, second, other = (
        model.generate(prompt, 10, generator=torch.Generator().manual_seed(s)) for s in (1, 1, 2)
    )
    assert torch.equal(first, second) and not torch.equal(first, other)


def test_generation_stops_once_every_row_has_its_stop_token_and_keeps_the_tokens_before() -> None:
    model, prompt = build("gpt-nano", **GPT_SMALL), padded_batch(t=4)[:2]
    full = model.generate(prompt, 30, generator=torch.Generator().manual_seed(3))
    rows = full[:, 4:].tolist()
    # a token both rows sample, the earliest by the later of its two first places
    end, stop = min((max(r.index(t) for r in rows), t) for t in set(rows[0]) & set(rows[1]))
    short = model.generate(prompt, 30, generator=torch.Generator().manual_seed(3), stop=stop)
    assert short.shape[1] == 4 + end + 1 < full.shape[1]  # it stopped when the last row did
    assert torch.equal(short, full[:, : short.shape[1]])  # the same draws up to there


def test_top_k_and_top_p_keep_only_the_likely_tokens() -> None:
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).expand(500, 4)
    g = torch.Generator().manual_seed(0)
    assert set(sample_logits(logits, top_k=2, generator=g).unique().tolist()) == {0, 1}
    assert set(sample_logits(logits, top_p=0.75, generator=g).unique().tolist()) == {0, 1}
    assert set(sample_logits(logits, top_p=0.85, generator=g).unique().tolist()) == {0, 1, 2}
    with pytest.raises(ConfigError, match="top_p"):
        sample_logits(logits, top_p=1.5)


def test_gpt_refuses_more_tokens_than_its_context() -> None:
    with pytest.raises(InputError, match="length 25: max_len is only 24"):
        build("gpt-nano", **GPT_SMALL)(torch.zeros(1, 25, dtype=torch.long))


# ----------------------------------------------------------------------------- ViT
def test_vit_returns_logits_and_the_last_blocks_attention() -> None:
    model = build("vit-tiny", num_classes=10, n_layers=2)
    logits, attention = model(torch.randn(3, 1, 28, 28), return_attention=True)
    assert logits.shape == (3, 10)
    assert attention.shape == (3, 4, 50, 50)  # 4 heads, class token + 7 x 7 patches
    torch.testing.assert_close(attention.sum(dim=-1), torch.ones(3, 4, 50))


def test_vit_names_the_input_shape_it_was_built_for() -> None:
    with pytest.raises(InputError, match=r"\(B, 1, 28, 28\)"):
        build("vit-tiny")(torch.zeros(2, 3, 32, 32))
