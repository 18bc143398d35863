"""RNN, LSTM, GRU and MultiheadAttention equal torch's: outputs, states, weights and gradients."""

import numpy as np
import pytest
import torch

import dllab.scratch as scratch

SEEDS = (0, 1, 2)

RECURRENT = {
    "RNN": (lambda nn, a, b, c: nn.RNN(b, c), "5ab"),
    "RNN relu, 2 layers, batch_first": (
        lambda nn, a, b, c: nn.RNN(b, c, num_layers=2, nonlinearity="relu", batch_first=True),
        "a4b",
    ),
    "RNN bidirectional, no bias": (
        lambda nn, a, b, c: nn.RNN(b, c, bias=False, bidirectional=True),
        "3ab",
    ),
    "LSTM": (lambda nn, a, b, c: nn.LSTM(b, c), "5ab"),
    "LSTM 2 layers bidirectional batch_first": (
        lambda nn, a, b, c: nn.LSTM(b, c, num_layers=2, bidirectional=True, batch_first=True),
        "a4b",
    ),
    "LSTM unbatched": (lambda nn, a, b, c: nn.LSTM(b, c, num_layers=2), "ab"),
    "GRU": (lambda nn, a, b, c: nn.GRU(b, c), "5ab"),
    "GRU 3 layers bidirectional": (
        lambda nn, a, b, c: nn.GRU(b, c, num_layers=3, bidirectional=True),
        "4ab",
    ),
    "GRU batch_first eval with dropout": (
        lambda nn, a, b, c: nn.GRU(b, c, num_layers=2, batch_first=True, dropout=0.5),
        "a3b",
        {"train": False},
    ),
}


def _nn(build):
    return lambda lib, *dims: build(lib.nn, *dims)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", RECURRENT)
def test_recurrent_layer_matches_torch(name, seed, parity):
    build, inputs, *options = RECURRENT[name]
    parity(_nn(build), inputs, seed, **(options[0] if options else {}))


@pytest.mark.parametrize("name", RECURRENT)
def test_recurrent_layer_passes_gradcheck(name, gradcheck_case):
    build, inputs, *options = RECURRENT[name]
    gradcheck_case(_nn(build), inputs, **(options[0] if options else {}))


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_recurrent_layer_with_initial_state_matches_torch(kind, parity):
    def inputs(r, a, b, c):
        states = [r.standard_normal((4, a, c)) for _ in range(2 if kind == "LSTM" else 1)]
        return [r.standard_normal((3, a, b)), *states]

    def forward(rnn, x, *state):
        return rnn(x, tuple(state) if kind == "LSTM" else state[0])

    build = _nn(lambda nn, a, b, c: getattr(nn, kind)(b, c, num_layers=2, bidirectional=True))
    parity(build, inputs, 0, forward=forward)


def _attention_inputs(r, a, b, c, padding=False, batch_first=False):
    e = 4
    q, kv = r.standard_normal((b, a, e)), r.standard_normal((3, a, e))
    if batch_first:
        q, kv = q.transpose(1, 0, 2), kv.transpose(1, 0, 2)
    arrays = [q, kv, kv.copy()]
    if padding:
        pad = r.random((a, 3)) > 0.5
        pad[:, 0] = False  # every query keeps at least one key
        arrays.append(pad)
    return arrays


ATTENTION = {
    "self-attention": (
        lambda nn: nn.MultiheadAttention(4, 2),
        lambda r, *d: _attention_inputs(r, *d)[:1],
        lambda m, x: m(x, x, x),
    ),
    "cross-attention, per-head weights": (
        lambda nn: nn.MultiheadAttention(4, 2),
        _attention_inputs,
        lambda m, q, k, v: m(q, k, v, average_attn_weights=False),
    ),
    "batch_first with key padding mask": (
        lambda nn: nn.MultiheadAttention(4, 4, batch_first=True),
        lambda r, *d: _attention_inputs(r, *d, padding=True, batch_first=True),
        lambda m, q, k, v, pad: m(q, k, v, key_padding_mask=pad),
    ),
    "causal mask, no bias, no weights": (
        lambda nn: nn.MultiheadAttention(4, 1, bias=False),
        lambda r, *d: [*_attention_inputs(r, *d)[:1], ~np.tri(d[1], dtype=bool)],
        lambda m, x, mask: m(x, x, x, attn_mask=mask, need_weights=False),
    ),
    "float attn_mask and padding": (
        lambda nn: nn.MultiheadAttention(4, 2),
        lambda r, *d: [*_attention_inputs(r, *d, padding=True), r.standard_normal((d[1], 3))],
        lambda m, q, k, v, pad, mask: m(q, k, v, key_padding_mask=pad, attn_mask=mask),
    ),
    "unbatched": (
        lambda nn: nn.MultiheadAttention(4, 2),
        lambda r, a, b, c: [r.standard_normal((b, 4))],
        lambda m, x: m(x, x, x),
    ),
    "eval with dropout": (
        lambda nn: nn.MultiheadAttention(4, 2, dropout=0.5),
        lambda r, *d: _attention_inputs(r, *d)[:1],
        lambda m, x: m(x, x, x),
    ),
}


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", ATTENTION)
def test_multihead_attention_matches_torch(name, seed, parity):
    build, inputs, forward = ATTENTION[name]
    parity(
        lambda lib, *dims: build(lib.nn),
        inputs,
        seed,
        train=name != "eval with dropout",
        forward=forward,
    )


@pytest.mark.parametrize("name", ATTENTION)
def test_multihead_attention_passes_gradcheck(name, gradcheck_case):
    build, inputs, forward = ATTENTION[name]
    train = name != "eval with dropout"
    gradcheck_case(lambda lib, *dims: build(lib.nn), inputs, train=train, forward=forward)


def test_causal_flag_builds_the_mask_that_torch_needs_spelled_out():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 2, 4))
    ours = scratch.nn.MultiheadAttention(4, 2)
    theirs = torch.nn.MultiheadAttention(4, 2).double()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    mask = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
    expected, _ = theirs(*[torch.tensor(x)] * 3, attn_mask=mask, is_causal=True)
    got, _ = ours(*[scratch.tensor(x)] * 3, is_causal=True)
    np.testing.assert_allclose(got.data, expected.detach().numpy(), atol=1e-10)


def test_lstm_learns_and_keeps_gradients_finite_over_long_sequences():
    scratch.manual_seed(0)
    lstm = scratch.nn.LSTM(3, 8, batch_first=True)
    out, (h, c) = lstm(scratch.randn(2, 200, 3))
    out.sum().backward()
    assert out.shape == (2, 200, 8) and h.shape == c.shape == (1, 2, 8)
    assert all(np.isfinite(p.grad.data).all() for p in lstm.parameters())
