"""Every Tensor op equals torch's (values and gradients) and passes gradcheck."""

import functools
import inspect

import numpy as np
import pytest
import torch

import dllab.scratch as scratch
from dllab.scratch import gradcheck

SEEDS = (0, 1, 2)

# name: (a function of tensors, taking `lib` first when it needs torch or scratch; input spec)
OPS = {
    "add broadcasts": (lambda x, y: x + y, "ab b"),
    "sub broadcasts": (lambda x, y: x - y, "a1 1b"),
    "mul broadcasts": (lambda x, y: x * y, "cab a1"),
    "div": (lambda x, y: x / y, "ab +b"),
    "pow by a number": (lambda x: x**3, "ab"),
    "pow by a tensor": (lambda x, y: x**y, "+ab ab"),
    "number to a power": (lambda x: 2.0**x, "a"),
    "arithmetic with numbers": (lambda x: 1 - 2 * x / 3 + 1 / (x + 4), "+ab"),
    "neg": (lambda x: -x, "ab"),
    "matmul 2-D": (lambda x, y: x @ y, "ab bc"),
    "matmul batched broadcast": (lambda x, y: x @ y, "2ab bc"),
    "matmul by a vector": (lambda x, y: x @ y, "cab b"),
    "vector matmul": (lambda x, y: x @ y, "a ab"),
    "exp": (lambda x: x.exp(), "ab"),
    "log": (lambda x: x.log(), "+ab"),
    "sqrt": (lambda x: x.sqrt(), "+ab"),
    "abs": (lambda x: x.abs(), "ab"),
    "sin cos": (lambda x: x.sin() * x.cos(), "ab"),
    "tanh": (lambda x: x.tanh(), "ab"),
    "sigmoid": (lambda x: (x * 10).sigmoid(), "ab"),
    "relu": (lambda x: x.relu(), "ab"),
    "clamp": (lambda x: x.clamp(-0.5, 0.7), "ab"),
    "sum all": (lambda x: x.sum(), "abc"),
    "sum dim": (lambda x: x.sum(1), "abc"),
    "sum dims keepdim": (lambda x: x.sum((0, 2), keepdim=True), "abc"),
    "mean dim": (lambda x: x.mean(-1), "abc"),
    "var": (lambda x: x.var(1, keepdim=True), "abc"),
    "max all": (lambda x: x.max(), "ab"),
    "max dim gives values and indices": (lambda x: x.max(1), "abc"),
    "min dim keepdim": (lambda x: x.min(0, keepdim=True), "ab"),
    "logsumexp": (lambda x: (x * 30).logsumexp(1), "ab"),
    "reshape": (lambda x: x.reshape(x.shape[1], -1) * 2, "ab"),
    "view flatten": (lambda x: x.flatten(1).view(-1) ** 2, "abc"),
    "transpose": (lambda x: x.transpose(0, 2), "abc"),
    "permute": (lambda x: x.permute(2, 0, 1).exp(), "abc"),
    "T": (lambda x: x.T.exp(), "ab"),
    "unsqueeze squeeze": (lambda x: x.unsqueeze(1).squeeze(1).unsqueeze(-1) * x.unsqueeze(1), "ab"),
    "expand": (lambda x: x.expand(3, *x.shape[:-1], 4).exp(), "a1"),
    "index by int and slice": (lambda x: x[1, 1:] * x[0, :-1], "ab"),
    "index repeated rows": (lambda x: x[np.array([0, 1, 0, 0])] ** 2, "ab"),
    "index by bool mask": (lambda x: x[x.detach() > 0].exp(), "ab"),
    "index by pairs": (lambda x: x[np.arange(len(x)), np.zeros(len(x), int)], "ab"),
    "chunk": (lambda x: x.chunk(2, 1)[0].exp() * x.chunk(2, 1)[1], "a4"),
    "split": (lambda x: x.split(2, 0), "5b"),
    "unbind": (lambda x: x.unbind(1), "ab"),
    "cat": (lambda lib, x, y: lib.cat([x, y, x], dim=1), "ab ac"),
    "stack": (lambda lib, x, y: lib.stack([x, y], dim=-1), "ab ab"),
    "where": (lambda lib, x, y, m: lib.where(m, x, y), "ab b ?ab"),
    "masked_fill": (lambda x, m: x.masked_fill(m, 0.5) * x, "ab ?ab"),
    "softmax method": (lambda x: x.softmax(-1), "ab"),
}


def _build(fn):
    """The case's build(lib, a, b, c): the function, with `lib` bound if it asks for one."""
    wants_lib = next(iter(inspect.signature(fn).parameters)) == "lib"
    return lambda lib, *dims: functools.partial(fn, lib) if wants_lib else fn


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", OPS)
def test_tensor_op_matches_torch(name, seed, parity):
    fn, spec = OPS[name]
    parity(_build(fn), spec, seed)


@pytest.mark.parametrize("name", OPS)
def test_tensor_op_passes_gradcheck(name, scratch_inputs):
    fn, spec = OPS[name]
    assert gradcheck(_build(fn)(scratch, 2, 3, 2), scratch_inputs(spec, 7, 2, 3, 2))


def test_float32_round_trip_matches_torch(parity):
    parity(
        _build(lambda x: (x.float() * 2).double()),
        lambda r, a, b, c: [r.normal(size=a).round(2)],
        0,
    )


def test_broadcast_gradients_sum_back_to_each_input_shape():
    x = scratch.tensor(np.ones((3, 1, 4)), requires_grad=True)
    y = scratch.tensor(np.ones((2, 1)), requires_grad=True)
    (x * y).sum().backward()
    assert x.grad.shape == (3, 1, 4) and np.all(x.grad.data == 2)
    assert y.grad.shape == (2, 1) and np.all(y.grad.data == 12)


def test_gradients_accumulate_until_zeroed():
    x = scratch.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    assert x.grad.tolist() == [6.0, 6.0]


def test_a_tensor_used_twice_gets_both_gradients_and_shared_grads_are_not_aliased():
    x = scratch.tensor([1.0, 2.0], requires_grad=True)
    y = scratch.tensor([3.0, 4.0], requires_grad=True)
    (x + y + x).sum().backward()
    x.grad.data += 100  # must not leak into y.grad, which came from the same g
    assert y.grad.tolist() == [1.0, 1.0]


def test_no_grad_records_no_graph_and_works_as_a_decorator():
    x = scratch.tensor([1.0], requires_grad=True)
    with scratch.no_grad():
        assert not (x * 2).requires_grad
    assert not scratch.no_grad(lambda: x * 2)().requires_grad
    assert (x * 2).requires_grad


def test_long_chains_do_not_hit_the_recursion_limit():
    x = scratch.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad.tolist() == [1.0]


def test_comparisons_and_argmax_match_torch():
    data = np.random.default_rng(0).standard_normal((4, 5))
    s, t = scratch.tensor(data), torch.tensor(data)
    for op in (lambda x: x > 0, lambda x: x <= 0.1, lambda x: x == x, lambda x: x.argmax(1)):
        np.testing.assert_array_equal(op(s).data, op(t).numpy())


def test_float32_stays_float32_through_ops_and_gradients():
    x = scratch.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    y = ((x * 2.0 + 1).exp() / 3).sum()
    y.backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32


def test_errors_say_what_to_do():
    with pytest.raises(RuntimeError, match="only floating tensors"):
        scratch.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="scalar"):
        (scratch.tensor([1.0, 2.0], requires_grad=True) * 2).backward()
    with pytest.raises(RuntimeError, match="no_grad"):
        w = scratch.tensor([1.0], requires_grad=True)
        w -= 1.0


def test_retain_grad_and_an_explicit_output_gradient_match_torch():
    data = np.array([[1.0, -2.0], [3.0, 0.5]])
    grads = []
    for lib in (scratch, torch):
        x = lib.tensor(data, requires_grad=True)
        hidden = x * x
        hidden.retain_grad()
        hidden.tanh().backward(lib.tensor(np.array([[1.0, 2.0], [3.0, 4.0]])))
        grads.append((x.grad.detach().numpy(), hidden.grad.detach().numpy()))
    for ours, theirs in zip(*grads, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_a_scalar_tensor_formats_and_converts_like_a_number():
    loss = scratch.tensor(0.123456, requires_grad=True) * 1
    assert f"{loss:.3f}" == "0.123" and float(loss) == 0.123456 and int(loss * 10) == 1
    assert scratch.tensor(True) and not scratch.tensor(0.0)
