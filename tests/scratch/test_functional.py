"""Every function in scratch.functional equals torch.nn.functional's and passes gradcheck."""

import functools

import numpy as np
import pytest
import torch

import dllab.scratch as scratch
import dllab.scratch.nn.functional as F
from dllab.scratch import gradcheck

SEEDS = (0, 1, 2)


def _probabilities(r, a, b, c):
    p = r.random((a, c))
    return [r.standard_normal((a, c)), p / p.sum(1, keepdims=True)]


def _attention_inputs(r, a, b, c, mask_kind=None):
    q, k, v = (
        r.standard_normal((2, a, b, c)),
        r.standard_normal((2, a, 3, c)),
        r.standard_normal((2, a, 3, 4)),
    )
    if mask_kind == "bool":
        mask = r.random((b, 3)) > 0.5
        mask[:, 0] = True  # no query may lose every key (torch and scratch differ on all -inf rows)
        return [q, k, v, mask]
    if mask_kind == "float":
        return [q, k, v, r.standard_normal((2, 1, b, 3))]
    return [q, k, v]


# name: (a function of torch.nn.functional or scratch.nn.functional and the inputs; input spec)
FUNCTIONS = {
    "linear": (lambda F, x, w, b: F.linear(x, w, b), "cab 3b 3"),
    "linear without bias": (lambda F, x, w: F.linear(x, w), "ab cb"),
    "conv2d": (lambda F, x, w, b: F.conv2d(x, w, b), "ab77 3b33 3"),
    "conv2d stride 2 padding 1": (
        lambda F, x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
        "a296 c233 c",
    ),
    "conv2d dilation, rectangles": (
        lambda F, x, w: F.conv2d(x, w, None, (1, 2), (1, 2), 2),
        "a298 c223",
    ),
    "conv2d padding same, even kernel": (
        lambda F, x, w: F.conv2d(x, w, padding="same"),
        "a267 3224",
    ),
    "conv2d padding valid": (lambda F, x, w: F.conv2d(x, w, padding="valid"), "a255 3222"),
    "unfold": (lambda F, x: F.unfold(x, 3, dilation=1, padding=1, stride=2), "ab78"),
    "max_pool2d": (lambda F, x: F.max_pool2d(x, 2), "ab88"),
    "max_pool2d overlapping, padded": (
        lambda F, x: F.max_pool2d(x, 3, stride=2, padding=1),
        "ab97",
    ),
    "max_pool2d dilated with indices": (
        lambda F, x: F.max_pool2d(x, 2, 1, 1, 2, return_indices=True),
        "ab67",
    ),
    "avg_pool2d": (lambda F, x: F.avg_pool2d(x, 2), "ab68"),
    "avg_pool2d padded": (lambda F, x: F.avg_pool2d(x, 3, 2, 1), "ab97"),
    "avg_pool2d padded, pixels only": (
        lambda F, x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
        "ab97",
    ),
    "avg_pool2d divisor_override": (
        lambda F, x: F.avg_pool2d(x, (2, 3), divisor_override=4),
        "ab68",
    ),
    "relu": (lambda F, x: F.relu(x), "abc"),
    "leaky_relu": (lambda F, x: F.leaky_relu(x, 0.2), "abc"),
    "sigmoid": (lambda F, x: F.sigmoid(x), "abc"),
    "tanh": (lambda F, x: F.tanh(x), "abc"),
    "gelu": (lambda F, x: F.gelu(x * 3), "abc"),
    "gelu tanh": (lambda F, x: F.gelu(x * 3, approximate="tanh"), "abc"),
    "softmax": (lambda F, x: F.softmax(x * 5, dim=1), "abc"),
    "softmax last dim": (lambda F, x: F.softmax(x, dim=-1), "ab"),
    "log_softmax": (lambda F, x: F.log_softmax(x * 20, dim=0), "abc"),
    "mse_loss": (lambda F, x, y: F.mse_loss(x, y), "abc abc"),
    "mse_loss sum": (lambda F, x, y: F.mse_loss(x, y, reduction="sum"), "abc abc"),
    "mse_loss none": (lambda F, x, y: F.mse_loss(x, y, reduction="none"), "ab ab"),
    "cross_entropy": (lambda F, x, t: F.cross_entropy(x, t), "ac #c:a"),
    "cross_entropy label smoothing": (
        lambda F, x, t: F.cross_entropy(x, t, label_smoothing=0.1),
        "ac #c:a",
    ),
    "cross_entropy weighted, smoothing": (
        lambda F, x, t, w: F.cross_entropy(x, t, w, label_smoothing=0.2),
        "ac #c:a !c",
    ),
    "cross_entropy ignore_index": (
        lambda F, x, t: F.cross_entropy(x, t, ignore_index=0, label_smoothing=0.1),
        "a5 #5:a",
    ),
    "cross_entropy weighted ignore": (
        lambda F, x, t, w: F.cross_entropy(x, t, w, ignore_index=1),
        "a4 #4:a !4",
    ),
    "cross_entropy per pixel": (
        lambda F, x, t: F.cross_entropy(x, t, label_smoothing=0.05),
        "acb3 #c:ab3",
    ),
    "cross_entropy sum": (
        lambda F, x, t: F.cross_entropy(x, t, reduction="sum", label_smoothing=0.3),
        "ac #c:a",
    ),
    "cross_entropy none": (
        lambda F, x, t: F.cross_entropy(x, t, reduction="none", label_smoothing=0.3),
        "ac #c:a",
    ),
    "cross_entropy probabilities": (
        lambda F, x, p: F.cross_entropy(x, p, label_smoothing=0.1),
        _probabilities,
    ),
    "nll_loss": (lambda F, x, t: F.nll_loss(F.log_softmax(x, 1), t), "ac #c:a"),
    "bce_with_logits": (lambda F, x, y: F.binary_cross_entropy_with_logits(x * 20, y), "ab +ab"),
    "bce_with_logits pos_weight": (
        lambda F, x, y, p: F.binary_cross_entropy_with_logits(x, y, pos_weight=p),
        "ab +ab !b",
    ),
    "bce_with_logits weight, sum": (
        lambda F, x, y, w: F.binary_cross_entropy_with_logits(x, y, w, reduction="sum"),
        "ab +ab !ab",
    ),
    "dropout in eval": (lambda F, x: F.dropout(x, 0.5, training=False), "abc"),
    "dropout p=0": (lambda F, x: F.dropout(x, 0.0), "abc"),
    "layer_norm": (lambda F, x, w, b: F.layer_norm(x * 3 + 1, (x.shape[-1],), w, b), "abc c c"),
    "layer_norm over 2 dims": (lambda F, x: F.layer_norm(x, x.shape[1:], eps=1e-3), "abc"),
    "batch_norm training": (
        lambda F, x, w, b, m, v: (F.batch_norm(x * 2 + 1, m, v, w, b, True, 0.3), m, v),
        "abcc b b !b !b",
    ),
    "batch_norm eval": (
        lambda F, x, w, b, m, v: F.batch_norm(x, m, v, w, b, False),
        "abc b b !b !b",
    ),
    "batch_norm without running stats": (
        lambda F, x: F.batch_norm(x, None, None, training=True),
        "ab",
    ),
    "batch_norm affine, batch stats": (
        lambda F, x, w, b: F.batch_norm(x, None, None, w, b, True),
        "ab3 b b",
    ),
    "embedding": (lambda F, i, w: F.embedding(i, w), "#c:ab cb"),
    "embedding padding_idx": (lambda F, i, w: F.embedding(i, w, padding_idx=0), "#3:ab 3c"),
    "one_hot": (lambda F, i: F.one_hot(i, 5), "#5:ab"),
    "attention": (lambda F, q, k, v: F.scaled_dot_product_attention(q, k, v), _attention_inputs),
    "attention causal": (
        lambda F, q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        _attention_inputs,
    ),
    "attention bool mask": (
        lambda F, q, k, v, m: F.scaled_dot_product_attention(q, k, v, m),
        functools.partial(_attention_inputs, mask_kind="bool"),
    ),
    "attention float mask, scale": (
        lambda F, q, k, v, m: F.scaled_dot_product_attention(q, k, v, m, scale=0.3),
        functools.partial(_attention_inputs, mask_kind="float"),
    ),
}


def _build(fn):
    return lambda lib, *dims: functools.partial(fn, lib.nn.functional)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_matches_torch(name, seed, parity):
    fn, inputs = FUNCTIONS[name]
    parity(_build(fn), inputs, seed)


NO_GRADCHECK = {"one_hot", "batch_norm training"}  # no gradient / the running stats change per call


@pytest.mark.parametrize("name", [n for n in FUNCTIONS if n not in NO_GRADCHECK])
def test_function_passes_gradcheck(name, scratch_inputs):
    fn, inputs = FUNCTIONS[name]
    assert gradcheck(_build(fn)(scratch, 2, 3, 2), scratch_inputs(inputs, 7, 2, 3, 2))


def test_erf_behind_gelu_agrees_with_torch_to_14_digits():
    x = np.linspace(-8, 8, 4001)
    exact = torch.special.erf(torch.tensor(x)).numpy()
    np.testing.assert_allclose(scratch.functional._erf(x), exact, rtol=0, atol=1e-14)


def test_dropout_zeroes_about_p_and_rescales_the_rest():
    scratch.manual_seed(0)
    x = scratch.ones(200, 500, requires_grad=True)
    y = F.dropout(x, p=0.3)
    kept = y.data != 0
    assert abs(1 - kept.mean() - 0.3) < 0.01
    np.testing.assert_allclose(y.data[kept], 1 / 0.7)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, y.data)  # d(x·mask/(1-p))/dx = mask/(1-p)


def test_max_pool2d_indices_point_into_the_flattened_input():
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 6))
    out, idx = F.max_pool2d(scratch.tensor(x), 3, stride=2, padding=1, return_indices=True)
    picked = np.take_along_axis(x.reshape(2, 3, -1), idx.data.reshape(2, 3, -1), axis=-1)
    np.testing.assert_array_equal(picked.reshape(out.shape), out.data)


def test_unsupported_arguments_say_so():
    x = scratch.randn(1, 2, 4, 4)
    with pytest.raises(NotImplementedError, match="groups"):
        F.conv2d(x, scratch.randn(2, 1, 3, 3), groups=2)
    with pytest.raises(NotImplementedError, match="ceil_mode"):
        F.max_pool2d(x, 3, ceil_mode=True)


def test_bce_with_logits_gradient_at_exactly_zero_matches_torch():
    """Zero logits happen (zero-initialised heads); abs'(0) = relu'(0) = 0 once hid this."""
    import torch

    import dllab.scratch as st
    import dllab.scratch.functional as SF

    for y in (0.0, 1.0, 0.3):
        z = st.tensor([0.0, 0.0], requires_grad=True)
        SF.binary_cross_entropy_with_logits(z, st.tensor([y, y])).backward()
        t = torch.zeros(2, dtype=torch.float64, requires_grad=True)
        torch.nn.functional.binary_cross_entropy_with_logits(
            t, torch.full((2,), y, dtype=torch.float64)
        ).backward()
        np.testing.assert_allclose(z.grad.numpy(), t.grad.numpy(), atol=1e-12)
