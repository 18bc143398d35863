"""gradcheck passes correct gradients, catches wrong ones, and reports per input."""

import numpy as np
import pytest

import dllab.scratch as scratch
from dllab.scratch import GradcheckError, gradcheck
from dllab.scratch.tensor import Tensor


def _inputs(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [scratch.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]


def test_correct_gradients_pass_with_a_report_per_input():
    x, w = _inputs((4, 3), (3, 2))
    report = gradcheck(lambda x, w: (x @ w).tanh(), (x, w))
    assert report and len(report.inputs) == 2
    assert all(check.relative_error < 1e-8 for check in report.inputs)
    assert "input 0 (4, 3)" in str(report) and "input 1 (3, 2)" in str(report)


def _square_with_wrong_gradient(x):
    def backward(g):  # the right derivative is 2x; this one forgets the 2
        return (g * x.data,)

    return Tensor._from_op(x.data**2, (x,), backward)


def test_a_wrong_gradient_is_caught_and_reported():
    (x,) = _inputs((5,))
    report = gradcheck(_square_with_wrong_gradient, x, raise_exception=False)
    assert not report and "MISMATCH" in str(report)
    assert report.inputs[0].relative_error > 0.1
    with pytest.raises(GradcheckError, match="input 0 \\(5,\\)"):
        gradcheck(_square_with_wrong_gradient, x)


def test_only_inputs_that_require_grad_are_checked_and_grads_are_left_alone():
    x, w = _inputs((3,), (3,))
    w.requires_grad = False
    x.grad = scratch.tensor([9.0, 9.0, 9.0])
    report = gradcheck(lambda x, w: x * w, (x, w))
    assert [c.index for c in report.inputs] == [0]
    assert x.grad.tolist() == [9.0, 9.0, 9.0]


def test_float32_inputs_are_refused_with_the_fix():
    x = scratch.tensor(np.ones(3, np.float32), requires_grad=True)
    with pytest.raises(TypeError, match="double"):
        gradcheck(lambda x: x * 2, x)
