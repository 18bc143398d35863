"""Every layer, activation and loss module equals torch.nn's, with the same weights copied in;
and Module behaves as torch's does (names, state_dict, train/eval)."""

import numpy as np
import pytest
import torch

import dllab.scratch as scratch
import dllab.scratch.nn as snn

SEEDS = (0, 1, 2)

# name: (build(lib, a, b, c) -> a module of lib.nn, input spec[, {"train": False}])
MODULES = {
    "Linear": (lambda lib, a, b, c: lib.nn.Linear(b, c), "ab"),
    "Linear on 3-D input, no bias": (lambda lib, a, b, c: lib.nn.Linear(b, 4, bias=False), "cab"),
    "Conv2d": (lambda lib, a, b, c: lib.nn.Conv2d(b, c, 3), "ab66"),
    "Conv2d stride, padding, dilation": (
        lambda lib, a, b, c: lib.nn.Conv2d(
            2, c, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(1, 2)
        ),
        "a289",
    ),
    "Conv2d padding same": (
        lambda lib, a, b, c: lib.nn.Conv2d(b, 2, 3, padding="same", bias=False),
        "ab57",
    ),
    "MaxPool2d": (lambda lib, a, b, c: lib.nn.MaxPool2d(2), "ab66"),
    "MaxPool2d stride 1, padded": (lambda lib, a, b, c: lib.nn.MaxPool2d(3, 1, 1), "ab55"),
    "AvgPool2d": (lambda lib, a, b, c: lib.nn.AvgPool2d(2, stride=1), "ab45"),
    "AvgPool2d padded, pixels only": (
        lambda lib, a, b, c: lib.nn.AvgPool2d(3, 2, 1, count_include_pad=False),
        "ab77",
    ),
    "BatchNorm1d train": (lambda lib, a, b, c: lib.nn.BatchNorm1d(b), "4b"),
    "BatchNorm1d train on (N, C, L)": (
        lambda lib, a, b, c: lib.nn.BatchNorm1d(b, momentum=0.5),
        "abc",
    ),
    "BatchNorm1d eval": (lambda lib, a, b, c: lib.nn.BatchNorm1d(b), "ab", {"train": False}),
    "BatchNorm2d train": (lambda lib, a, b, c: lib.nn.BatchNorm2d(b), "ab34"),
    "BatchNorm2d eval": (
        lambda lib, a, b, c: lib.nn.BatchNorm2d(b, eps=1e-3),
        "ab34",
        {"train": False},
    ),
    "BatchNorm2d cumulative average": (
        lambda lib, a, b, c: lib.nn.BatchNorm2d(b, momentum=None),
        "ab34",
    ),
    "BatchNorm2d without affine or stats": (
        lambda lib, a, b, c: lib.nn.BatchNorm2d(b, affine=False, track_running_stats=False),
        "ab34",
        {"train": False},
    ),
    "LayerNorm": (lambda lib, a, b, c: lib.nn.LayerNorm(c), "abc"),
    "LayerNorm 2-D shape, no bias": (
        lambda lib, a, b, c: lib.nn.LayerNorm((b, c), bias=False),
        "abc",
    ),
    "LayerNorm no affine": (
        lambda lib, a, b, c: lib.nn.LayerNorm(c, elementwise_affine=False),
        "abc",
    ),
    "Dropout in eval": (lambda lib, a, b, c: lib.nn.Dropout(0.5), "abc", {"train": False}),
    "Embedding": (lambda lib, a, b, c: lib.nn.Embedding(c + 2, b), "#c:ab"),
    "Embedding padding_idx": (lambda lib, a, b, c: lib.nn.Embedding(4, b, padding_idx=1), "#4:ac"),
    "Flatten": (lambda lib, a, b, c: lib.nn.Flatten(), "abc2"),
    "Identity": (lambda lib, a, b, c: lib.nn.Identity(), "ab"),
    "ReLU": (lambda lib, a, b, c: lib.nn.ReLU(), "abc"),
    "LeakyReLU": (lambda lib, a, b, c: lib.nn.LeakyReLU(0.1), "abc"),
    "Sigmoid": (lambda lib, a, b, c: lib.nn.Sigmoid(), "abc"),
    "Tanh": (lambda lib, a, b, c: lib.nn.Tanh(), "abc"),
    "GELU": (lambda lib, a, b, c: lib.nn.GELU(), "abc"),
    "GELU tanh": (lambda lib, a, b, c: lib.nn.GELU(approximate="tanh"), "abc"),
    "Softmax": (lambda lib, a, b, c: lib.nn.Softmax(dim=1), "abc"),
    "LogSoftmax": (lambda lib, a, b, c: lib.nn.LogSoftmax(dim=-1), "abc"),
    "MSELoss": (lambda lib, a, b, c: lib.nn.MSELoss(), "abc abc"),
    "MSELoss sum": (lambda lib, a, b, c: lib.nn.MSELoss(reduction="sum"), "ab ab"),
    "CrossEntropyLoss": (lambda lib, a, b, c: lib.nn.CrossEntropyLoss(), "ac #c:a"),
    "CrossEntropyLoss label_smoothing": (
        lambda lib, a, b, c: lib.nn.CrossEntropyLoss(label_smoothing=0.1),
        "ac #c:a",
    ),
    "CrossEntropyLoss weighted": (
        lambda lib, a, b, c: lib.nn.CrossEntropyLoss(
            weight=lib.tensor([1.0, 2.0, 0.5, 3.0]), label_smoothing=0.2
        ),
        "a4 #4:a",
    ),
    "NLLLoss": (lambda lib, a, b, c: lib.nn.NLLLoss(), "ac #c:a"),
    "BCEWithLogitsLoss": (lambda lib, a, b, c: lib.nn.BCEWithLogitsLoss(), "ab +ab"),
    "BCEWithLogitsLoss pos_weight": (
        lambda lib, a, b, c: lib.nn.BCEWithLogitsLoss(pos_weight=lib.tensor([0.5, 2.0, 3.0])),
        "a3 +a3",
    ),
    "Sequential MLP": (
        lambda lib, a, b, c: lib.nn.Sequential(
            lib.nn.Linear(b, 8),
            lib.nn.BatchNorm1d(8),
            lib.nn.ReLU(),
            lib.nn.Dropout(0.0),
            lib.nn.Linear(8, c),
        ),
        "ab",
    ),
    "Sequential CNN": (
        lambda lib, a, b, c: lib.nn.Sequential(
            lib.nn.Conv2d(1, 4, 3, padding=1),
            lib.nn.BatchNorm2d(4),
            lib.nn.ReLU(),
            lib.nn.MaxPool2d(2),
            lib.nn.Conv2d(4, 3, 3),
            lib.nn.GELU(),
            lib.nn.AvgPool2d(2),
            lib.nn.Flatten(),
            lib.nn.Linear(3, c),
        ),
        "a188",
    ),
}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", MODULES)
def test_module_matches_torch(name, seed, parity):
    build, inputs, *options = MODULES[name]
    parity(build, inputs, seed, **(options[0] if options else {}))


@pytest.mark.parametrize("name", MODULES)
def test_module_passes_gradcheck(name, gradcheck_case):
    build, inputs, *options = MODULES[name]
    gradcheck_case(build, inputs, **(options[0] if options else {}))


def test_default_initialisation_has_torchs_scale():
    scratch.manual_seed(0)
    torch.manual_seed(0)
    for build in (
        lambda lib: lib.nn.Linear(300, 200),
        lambda lib: lib.nn.Conv2d(16, 32, 5),
        lambda lib: lib.nn.LSTM(40, 50),
        lambda lib: lib.nn.MultiheadAttention(64, 4),
        lambda lib: lib.nn.Embedding(100, 30),
    ):
        theirs = dict(build(torch).named_parameters())
        for name, p in build(scratch).named_parameters():
            expected = theirs[name].detach().numpy()
            assert p.shape == expected.shape, name
            assert np.abs(p.data).max() == pytest.approx(
                np.abs(expected).max(), rel=0.1, abs=1e-12
            ), name
            assert p.data.std() == pytest.approx(expected.std(), rel=0.1, abs=1e-12), name


def two_layer(nn):
    """The same small custom module, written once against torch.nn or scratch.nn."""

    class TwoLayer(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.5))
            self.head = nn.Linear(4, 2)
            self.scale = nn.Parameter(torch.ones(1) if nn is torch.nn else scratch.ones(1))

        def forward(self, x):
            return self.head(self.body(x)) * self.scale

    return TwoLayer()


def test_parameters_buffers_and_state_dict_have_torchs_names_in_torchs_order():
    theirs, ours = two_layer(torch.nn), two_layer(snn)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]


def test_state_dict_round_trip_restores_outputs():
    scratch.manual_seed(0)
    source, target = two_layer(snn), two_layer(snn)
    source.train()
    source(scratch.randn(8, 3))  # moves the running statistics
    saved = {k: v.numpy().copy() for k, v in source.state_dict().items()}
    result = target.load_state_dict(saved)
    assert result.missing_keys == [] and result.unexpected_keys == []
    x = scratch.randn(5, 3)
    np.testing.assert_array_equal(source.eval()(x).data, target.eval()(x).data)


def test_load_state_dict_names_the_problem():
    model = two_layer(snn)
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    with pytest.raises(RuntimeError, match="missing keys \\['scale'\\]"):
        model.load_state_dict({k: v for k, v in state.items() if k != "scale"})
    assert model.load_state_dict(
        {"scale": np.ones(1), "extra": 1}, strict=False
    ).unexpected_keys == ["extra"]
    with pytest.raises(RuntimeError, match="size mismatch for head.bias"):
        model.load_state_dict({**state, "head.bias": np.zeros(3)})


def test_train_and_eval_switch_dropout_and_batchnorm_in_every_submodule():
    scratch.manual_seed(0)
    model = two_layer(snn)
    x = scratch.randn(16, 3)
    assert model.training and all(m.training for m in model.modules())
    model.eval()
    assert not any(m.training for m in model.modules())
    before = model.state_dict()["body.1.running_mean"].numpy().copy()
    np.testing.assert_array_equal(model(x).data, model(x).data)  # no dropout, running stats
    np.testing.assert_array_equal(model.state_dict()["body.1.running_mean"].numpy(), before)
    model.train()
    assert not np.array_equal(model(x).data, model(x).data)  # dropout draws new masks
    assert int(model.body[1].num_batches_tracked.item()) == 2


def test_zero_grad_and_requires_grad():
    model = two_layer(snn)
    model(scratch.randn(4, 3)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model.requires_grad_(False)
    assert not model(scratch.randn(4, 3)).requires_grad


def test_module_casts_to_float32_and_trains_in_it():
    model = two_layer(snn).float()
    out = model(scratch.randn(4, 3, dtype=np.float32))
    out.sum().backward()
    assert out.dtype == np.float32 and model.head.weight.grad.dtype == np.float32


def test_assigning_before_init_and_wrong_parameter_types_explain_the_fix():
    class Forgetful(snn.Module):
        def __init__(self):
            self.layer = snn.Linear(2, 2)

    with pytest.raises(AttributeError, match="super\\(\\).__init__\\(\\)"):
        Forgetful()
    model = snn.Linear(2, 2)
    with pytest.raises(TypeError, match="nn.Parameter"):
        model.weight = scratch.ones(2, 2)


def test_repr_lists_the_layers():
    text = repr(snn.Sequential(snn.Linear(3, 4), snn.ReLU()))
    assert "(0): Linear(in_features=3, out_features=4, bias=True)" in text and "(1): ReLU()" in text
