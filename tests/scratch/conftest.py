"""The one parity helper: the same code runs on torch and on dllab.scratch, and must agree.

A case is a pair, given three random sizes (a, b, c) drawn from the seed:

    build(lib, a, b, c) -> a callable: one of lib.nn's modules, or a function of lib's tensors
    inputs              -> a spec string (below) or make(rng, a, b, c) -> NumPy arrays

A spec lists the inputs' shapes, one word each, in the sizes a, b, c and digits: "ab 3b" is a
normal (a, b) array and a normal (3, b) one. A prefix changes the values: "+ab" positive,
"?ab" a boolean mask, "#c:a" integers in [0, c) of shape (a,), "!ab" positive constants (no
gradient: class weights, running statistics).

`lib` is `torch` or `dllab.scratch`, so one lambda serves both engines. A module's weights are
copied from torch into scratch through `state_dict` (which also proves the names match).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import dllab.scratch as scratch

TOL = 1e-8  # float64 on both sides: agreement to ~1e-12 is typical, 1e-8 is the bar
SEEDS = (0, 1, 2)


class Constant(np.ndarray):
    """A float array that becomes a tensor without gradient."""


def _to_lib(value: Any, lib: Any) -> Any:
    """Float arrays become tensors that require grad; other arrays become constant tensors."""
    if not isinstance(value, np.ndarray):
        return value
    floating = value.dtype.kind == "f" and not isinstance(value, Constant)
    value = np.asarray(value)
    if lib is torch:
        return torch.tensor(value, requires_grad=floating)
    return scratch.tensor(value, requires_grad=floating)


def _flat(out: Any) -> list[Any]:
    if isinstance(out, tuple | list):
        return [leaf for item in out for leaf in _flat(item)]
    return [out]


def _numpy(t: Any) -> np.ndarray | None:
    if t is None:
        return None
    return t.detach().numpy() if isinstance(t, torch.Tensor) else t.detach().data


def _close(actual: Any, expected: Any, what: str) -> None:
    if expected is None:
        assert actual is None or not np.any(_numpy(actual)), f"{what}: torch has none"
        return
    assert actual is not None, f"{what}: scratch has none, torch has one"
    expected, actual = _numpy(expected), _numpy(actual)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=TOL, atol=TOL, err_msg=what)


def make_arrays(inputs: str | Callable, rng: np.random.Generator, *dims: int) -> list[Any]:
    """The input arrays of a case, from its spec string or its make function."""
    if callable(inputs):
        return inputs(rng, *dims)
    sizes = dict(zip("abc", dims, strict=True))
    arrays = []
    for word in inputs.split():
        kind, high = word[0], None
        if kind == "#":
            high, word = word[1:].split(":")
        shape = tuple(sizes.get(ch) or int(ch) for ch in word.lstrip("+?!"))
        if kind == "!":
            arrays.append(rng.uniform(0.5, 2.0, shape).view(Constant))
        elif kind == "+":
            arrays.append(rng.uniform(0.5, 2.0, shape))
        elif kind == "?":
            arrays.append(rng.random(shape) > 0.5)
        elif kind == "#":
            arrays.append(rng.integers(0, sizes.get(high) or int(high), shape))
        else:
            arrays.append(rng.standard_normal(shape))
    return arrays


def check_parity(
    build: Callable[..., Any],
    inputs: str | Callable[..., list[Any]],
    seed: int,
    train: bool = True,
    forward: Callable[..., Any] | None = None,
) -> tuple[Any, Any]:
    """Compare outputs, gradients of every float input and parameter, and buffers afterwards.

    `forward(fn, *inputs)` replaces `fn(*inputs)` when a call needs keyword arguments.
    """
    rng = np.random.default_rng(seed)
    dims = [int(d) for d in rng.integers(2, 6, size=3)]
    arrays = make_arrays(inputs, rng, *dims)
    torch.manual_seed(seed)
    fns = {lib: build(lib, *dims) for lib in (torch, scratch)}
    t_fn, s_fn = fns[torch], fns[scratch]
    if isinstance(t_fn, torch.nn.Module):
        t_fn.double().train(train)
        s_fn.train(train)
        names = [n for n, _ in t_fn.named_parameters()]
        assert [n for n, _ in s_fn.named_parameters()] == names, "parameter names differ"
        s_fn.load_state_dict({k: v.detach().numpy() for k, v in t_fn.state_dict().items()})
    inputs = {lib: [_to_lib(a, lib) for a in arrays] for lib in (torch, scratch)}
    call = forward or (lambda fn, *xs: fn(*xs))
    t_out, s_out = _flat(call(t_fn, *inputs[torch])), _flat(call(s_fn, *inputs[scratch]))
    assert len(s_out) == len(t_out), f"{len(s_out)} outputs, torch gives {len(t_out)}"
    for i, (s, t) in enumerate(zip(s_out, t_out, strict=True)):
        _close(s, t, f"output {i}")

    weights = [rng.standard_normal(tuple(t.shape)) if _differentiable(t) else None for t in t_out]
    t_loss = sum(
        (t * torch.tensor(w)).sum() for t, w in zip(t_out, weights, strict=True) if w is not None
    )
    s_loss = sum((s * w).sum() for s, w in zip(s_out, weights, strict=True) if w is not None)
    if isinstance(t_loss, torch.Tensor):
        t_loss.backward()
        s_loss.backward()
    for i, (s, t) in enumerate(zip(inputs[scratch], inputs[torch], strict=True)):
        if isinstance(t, torch.Tensor) and t.requires_grad:
            _close(s.grad, t.grad, f"gradient of input {i}")
    if isinstance(t_fn, torch.nn.Module):
        s_params = dict(s_fn.named_parameters())
        for name, p in t_fn.named_parameters():
            _close(s_params[name].grad, p.grad, f"gradient of {name}")
        s_state = s_fn.state_dict()
        for name, value in t_fn.state_dict().items():
            _close(s_state[name], value, f"{name} after the call")
    return s_out, t_out


def _differentiable(t: Any) -> bool:
    return isinstance(t, torch.Tensor) and t.requires_grad


@pytest.fixture
def parity() -> Callable[..., tuple[Any, Any]]:
    """`check_parity(build, inputs, seed, train=True, forward=None)`."""
    return check_parity


@pytest.fixture
def gradcheck_case() -> Callable[..., Any]:
    """`gradcheck_case(build, inputs, train=True, forward=None)`: scratch's gradients of a case
    (inputs and, for a module, every parameter) against central differences, at sizes 2, 3, 2."""

    def check(build, inputs, train=True, forward=None):
        fn = build(scratch, 2, 3, 2)
        params = list(fn.train(train).parameters()) if isinstance(fn, scratch.nn.Module) else []
        tensors = [
            _to_lib(a, scratch) for a in make_arrays(inputs, np.random.default_rng(7), 2, 3, 2)
        ]
        call = forward or (lambda f, *xs: f(*xs))
        report = scratch.gradcheck(lambda *xs: call(fn, *xs[: len(tensors)]), [*tensors, *params])
        assert report, str(report)

    return check


@pytest.fixture
def scratch_inputs() -> Callable[..., list[Any]]:
    """`scratch_inputs(inputs, seed, *dims)`: a case's inputs as scratch tensors, for gradcheck."""

    def make(inputs: str | Callable, seed: int, *dims: int) -> list[Any]:
        arrays = make_arrays(inputs, np.random.default_rng(seed), *dims)
        return [_to_lib(a, scratch) for a in arrays]

    return make
