"""Initialisers use torch's gains, fans and bounds: same formulas, same spread of values."""

import numpy as np
import pytest
import torch

import dllab.scratch as scratch
from dllab.scratch import init

SHAPES = [(300, 200), (64, 32, 3, 3)]


@pytest.mark.parametrize(
    "nonlinearity, param",
    [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
     ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None)],
)  # fmt: skip
def test_gain_matches_torch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == torch.nn.init.calculate_gain(
        nonlinearity, param
    )


@pytest.mark.parametrize("shape", SHAPES + [(5, 3), (2, 3, 4, 5, 6)])
def test_fans_match_torch(shape):
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert init._calculate_fan_in_and_fan_out(scratch.zeros(shape)) == expected


CASES = {
    "xavier_uniform_": dict(gain=1.5),
    "xavier_normal_": dict(gain=0.5),
    "kaiming_uniform_": dict(a=0.1, mode="fan_in", nonlinearity="leaky_relu"),
    "kaiming_normal_": dict(mode="fan_out", nonlinearity="relu"),
    "uniform_": dict(a=-0.3, b=0.7),
    "normal_": dict(mean=0.2, std=0.05),
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", CASES)
def test_initialiser_draws_from_torchs_distribution(name, shape):
    scratch.manual_seed(0)
    torch.manual_seed(0)
    ours = getattr(init, name)(scratch.zeros(shape), **CASES[name]).data
    theirs = getattr(torch.nn.init, name)(
        torch.empty(shape, dtype=torch.float64), **CASES[name]
    ).numpy()
    assert ours.mean() == pytest.approx(theirs.mean(), abs=0.03 * theirs.std())
    assert ours.std() == pytest.approx(theirs.std(), rel=0.03)
    if "uniform" in name:  # the bounds themselves
        assert ours.min() == pytest.approx(theirs.min(), rel=0.01)
        assert ours.max() == pytest.approx(theirs.max(), rel=0.01)


def test_manual_seed_makes_initialisation_repeatable():
    scratch.manual_seed(3)
    first = scratch.nn.Linear(4, 4).weight.data.copy()
    scratch.manual_seed(3)
    np.testing.assert_array_equal(scratch.nn.Linear(4, 4).weight.data, first)


def test_constant_fills():
    t = scratch.zeros(2, 3)
    assert init.ones_(t).data.sum() == 6 and init.constant_(t, 0.5).data.sum() == 3
    assert init.zeros_(t).data.sum() == 0


def test_init_errors_list_the_choices():
    with pytest.raises(ValueError, match="tanh, relu"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="at least 2 dims"):
        init.xavier_uniform_(scratch.zeros(5))
    with pytest.raises(ValueError, match="fan_in"):
        init.kaiming_normal_(scratch.zeros(5, 5), mode="fan")
