"""The reverse-mode engine: walk the graph backwards and add up each op's gradients.

An op's `backward(g)` returns one gradient per input. A gradient may have the shape of the
op's output rather than the input's (broadcasting); `_unbroadcast` sums it back. Indexing
returns a `Scatter` instead of a full array of zeros, so that a loop that reads a tensor one
time step at a time costs O(T), not O(T²).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from dllab.scratch.tensor import Tensor

_GRAD_ENABLED = [True]


def is_grad_enabled() -> bool:
    return _GRAD_ENABLED[0]


class set_grad_enabled:  # lower case, as torch names it
    """Turn graph recording on or off, as a context manager or a decorator."""

    def __init__(self, mode: bool) -> None:
        self.mode = mode

    def __enter__(self) -> None:
        self.previous = _GRAD_ENABLED[0]
        _GRAD_ENABLED[0] = self.mode

    def __exit__(self, *exc: object) -> None:
        _GRAD_ENABLED[0] = self.previous

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(self.mode):
                return fn(*args, **kwargs)

        return wrapper


class no_grad(set_grad_enabled):
    """Record no graph inside: for evaluation and for updating parameters in place.

    Works as `with no_grad():`, `@no_grad()` and `@no_grad`.
    """

    def __new__(cls, fn=None):
        return set_grad_enabled(False)(fn) if fn is not None else super().__new__(cls)

    def __init__(self, fn=None) -> None:
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Record the graph inside, even within `no_grad()`."""

    def __new__(cls, fn=None):
        return set_grad_enabled(True)(fn) if fn is not None else super().__new__(cls)

    def __init__(self, fn=None) -> None:
        super().__init__(True)


class Scatter(NamedTuple):
    """The gradient of `x[index]`: add `values` into a zero gradient at `index`."""

    index: Any
    values: np.ndarray

    def add_into(self, grad: np.ndarray) -> None:
        parts = self.index if isinstance(self.index, tuple) else (self.index,)
        if any(isinstance(p, np.ndarray | list) for p in parts):
            np.add.at(grad, self.index, self.values)  # fancy indices may repeat
        else:
            grad[self.index] += self.values


def backward(root: Tensor, gradient: Any = None) -> None:
    """Fill `.grad` of the leaves under `root` with d root / d leaf (weighted by `gradient`)."""
    if not root.requires_grad:
        raise RuntimeError(
            "this tensor does not require grad and has no graph; create the inputs with "
            "requires_grad=True and compute it outside `no_grad()`"
        )
    if gradient is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"grad can be implicitly created only for a scalar, got shape {root.shape}; "
                "call .sum() first or pass gradient= of the same shape"
            )
        gradient = np.ones_like(root.data)
    grads = {id(root): np.broadcast_to(np.asarray(gradient, root.dtype), root.shape)}
    owned: set[int] = set()  # grads we allocated, so adding into them in place is safe
    for node in reversed(_topological_order(root)):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        if node._backward is None or node._retains_grad:
            _store_grad(node, g)
        if node._backward is None:
            continue
        for parent, parent_grad in zip(node._prev, node._backward(g), strict=True):
            if parent_grad is not None and parent.requires_grad:
                _accumulate(grads, owned, parent, parent_grad)


def _topological_order(root: Tensor) -> list[Tensor]:
    """Every tensor that needs a gradient, each after all of its inputs (no recursion)."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((p, False) for p in node._prev if p.requires_grad)
    return order


def _accumulate(grads: dict, owned: set, parent: Tensor, grad: Any) -> None:
    key = id(parent)
    if isinstance(grad, Scatter):
        if key not in owned:
            base = grads.get(key)
            grads[key] = np.zeros(parent.shape, parent.dtype) if base is None else np.array(base)
            owned.add(key)
        grad.add_into(grads[key])
        return
    grad = _unbroadcast(np.asarray(grad), parent.shape)
    if key not in grads:
        grads[key] = grad
    elif key in owned:
        grads[key] += grad
    else:
        grads[key] = grads[key] + grad
        owned.add(key)


def _unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `grad` over the axes that broadcasting added or stretched, to get `shape`."""
    if grad.shape == shape:
        return grad
    if grad.ndim < len(shape):
        grad = grad.reshape((1,) * (len(shape) - grad.ndim) + grad.shape)
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return np.broadcast_to(grad, shape)


def _store_grad(node: Tensor, grad: np.ndarray) -> None:
    from dllab.scratch.tensor import Tensor

    if node.grad is None:
        node.grad = Tensor(np.array(grad, dtype=node.dtype))  # a copy: grads may be shared views
    else:
        node.grad.data += grad
