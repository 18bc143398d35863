"""A NumPy tensor with reverse-mode automatic differentiation, shaped like `torch.Tensor`.

Every op computes its result, then defines `backward` right below it: given `g`, the gradient
of the loss with respect to the result, it returns the gradients with respect to each input
(the local derivative is in the comment). `Tensor.backward()` visits the graph in reverse
topological order and adds the pieces up (`autograd.py`), summing over broadcast axes.

This file holds the tensor itself and its arithmetic; `Tensor` inherits the elementwise
functions and reductions from `math_ops.py` and reshaping and indexing from `shape_ops.py`.

    >>> x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4., 6.])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dllab.scratch import autograd
from dllab.scratch.autograd import is_grad_enabled, no_grad
from dllab.scratch.math_ops import MathOps
from dllab.scratch.shape_ops import ShapeOps, _index

__all__ = ["Tensor", "cat", "concat", "stack", "where", "no_grad", "is_grad_enabled"]

# differs from torch: the default floating dtype is float64, so that `gradcheck` and the parity
# tests are exact to 1e-6; call `set_default_dtype(float32)` (or `.float()`) to train faster.
_DEFAULT_DTYPE = [np.dtype(np.float64)]


def set_default_dtype(dtype: Any) -> None:
    """Dtype given to floating tensors made from Python numbers and to new parameters."""
    _DEFAULT_DTYPE[0] = np.dtype(dtype)


def get_default_dtype() -> np.dtype:
    return _DEFAULT_DTYPE[0]


class Tensor(MathOps, ShapeOps):
    """An n-dimensional array (`.data`, an ndarray) that remembers how it was computed.

    Only floating tensors can require gradients. After `loss.backward()`, every leaf tensor
    with `requires_grad=True` holds `.grad`, a Tensor of its own shape.
    """

    __array_ufunc__ = None  # ndarray + Tensor defers to Tensor.__radd__, and so on
    __hash__ = object.__hash__  # `==` is elementwise, as in torch; hash by identity

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        if isinstance(data, Tensor):
            data = data.data
        array = np.asarray(data, dtype=dtype)
        if (
            dtype is None
            and not isinstance(data, np.ndarray | np.generic)
            and array.dtype.kind == "f"
        ):
            array = array.astype(get_default_dtype())
        if requires_grad and array.dtype.kind != "f":
            raise RuntimeError(
                f"only floating tensors can require gradients, got dtype {array.dtype}; "
                "pass float data or dtype=float64"
            )
        self.data: np.ndarray = array
        self.requires_grad = requires_grad
        self.grad: Tensor | None = None
        self._prev: tuple[Tensor, ...] = ()  # the inputs of the op that made this tensor
        self._backward: Callable[[np.ndarray], tuple] | None = None
        self._retains_grad = False

    # ---- plumbing -----------------------------------------------------------------------
    @staticmethod
    def _from_op(data: np.ndarray, parents: tuple[Tensor, ...], backward: Callable) -> Tensor:
        """The result of an op; it keeps its parents and `backward` only if a gradient flows."""
        out = Tensor(data)
        if is_grad_enabled() and any(p.requires_grad for p in parents):
            out.requires_grad, out._prev, out._backward = True, parents, backward
        return out

    def _lift(self, other: Any) -> Tensor:
        """Numbers and arrays join an op as constants of this tensor's dtype."""
        if isinstance(other, Tensor):
            return other
        return Tensor(np.asarray(other, dtype=self.dtype if self.dtype.kind == "f" else None))

    def backward(self, gradient: Any = None) -> None:
        """Fill `.grad` of every leaf that this tensor depends on (d self / d leaf)."""
        autograd.backward(self, gradient)

    def retain_grad(self) -> None:
        """Keep `.grad` on this non-leaf tensor too."""
        self._retains_grad = True

    @property
    def is_leaf(self) -> bool:
        return self._backward is None

    def detach(self) -> Tensor:
        return Tensor(self.data)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    # ---- what it is ---------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def size(self, dim: int | None = None) -> Any:
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return self.data.size

    def item(self) -> Any:
        return self.data.item()

    def tolist(self) -> Any:
        return self.data.tolist()

    def numpy(self) -> np.ndarray:
        if self.requires_grad:
            raise RuntimeError(
                "can't call numpy() on a tensor that requires grad; use tensor.detach().numpy()"
            )
        return self.data

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.data if dtype is None else self.data.astype(dtype)

    def __len__(self) -> int:
        return len(self.data)

    def __bool__(self) -> bool:
        return bool(self.data)  # ambiguous (an error) for more than one value, as in torch

    def __float__(self) -> float:
        return float(self.data)

    def __int__(self) -> int:
        return int(self.data)

    def __format__(self, spec: str) -> str:
        return format(self.item(), spec) if self.ndim == 0 else repr(self)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extra = ", requires_grad=True" if self.requires_grad else ""
        return f"tensor({body}{extra})"

    # ---- in place, outside the graph (initialisers and optimisers use these) ----------------
    def _check_in_place(self) -> None:
        if self.requires_grad and is_grad_enabled():
            raise RuntimeError(
                "a tensor that requires grad is used in an in-place operation; "
                "wrap the update in `with no_grad():`"
            )

    def __setitem__(self, index: Any, value: Any) -> None:
        self._check_in_place()
        self.data[_index(index)] = value.data if isinstance(value, Tensor) else value

    def __iadd__(self, other: Any) -> Tensor:
        self._check_in_place()
        self.data += self._lift(other).data
        return self

    def __isub__(self, other: Any) -> Tensor:
        self._check_in_place()
        self.data -= self._lift(other).data
        return self

    def __imul__(self, other: Any) -> Tensor:
        self._check_in_place()
        self.data *= self._lift(other).data
        return self

    def zero_(self) -> Tensor:
        self.data[...] = 0
        return self

    def fill_(self, value: float) -> Tensor:
        self.data[...] = value
        return self

    def copy_(self, src: Any) -> Tensor:
        self.data[...] = np.asarray(src)
        return self

    # ---- dtype --------------------------------------------------------------------------
    def to(self, dtype: Any) -> Tensor:
        if isinstance(dtype, str) and dtype == "cpu":  # the only device NumPy has
            return self
        source = self.dtype

        def backward(g):  # a cast is the identity; the gradient goes back to the old dtype
            return (g.astype(source),)

        return Tensor._from_op(self.data.astype(dtype), (self,), backward)

    def float(self) -> Tensor:
        return self.to(np.float32)

    def double(self) -> Tensor:
        return self.to(np.float64)

    def long(self) -> Tensor:
        return Tensor(self.data.astype(np.int64))

    def bool(self) -> Tensor:
        return Tensor(self.data.astype(bool))

    # ---- arithmetic (broadcasting; autograd.py sums gradients back to each input's shape) --
    def __add__(self, other: Any) -> Tensor:
        other = self._lift(other)

        def backward(g):  # d(a+b)/da = 1, d(a+b)/db = 1
            return g, g

        return Tensor._from_op(self.data + other.data, (self, other), backward)

    def __sub__(self, other: Any) -> Tensor:
        other = self._lift(other)

        def backward(g):  # d(a-b)/da = 1, d(a-b)/db = -1
            return g, -g

        return Tensor._from_op(self.data - other.data, (self, other), backward)

    def __mul__(self, other: Any) -> Tensor:
        other = self._lift(other)

        def backward(g):  # d(ab)/da = b, d(ab)/db = a
            return g * other.data, g * self.data

        return Tensor._from_op(self.data * other.data, (self, other), backward)

    def __truediv__(self, other: Any) -> Tensor:
        other = self._lift(other)

        def backward(g):  # d(a/b)/da = 1/b, d(a/b)/db = -a/b²
            return g / other.data, -g * self.data / other.data**2

        return Tensor._from_op(self.data / other.data, (self, other), backward)

    def __pow__(self, other: Any) -> Tensor:
        other = self._lift(other)
        out = self.data**other.data

        def backward(g):  # d(a^b)/da = b a^(b-1), d(a^b)/db = a^b ln a
            grad_b = g * out * np.log(self.data) if other.requires_grad else None
            return g * other.data * self.data ** (other.data - 1), grad_b

        return Tensor._from_op(out, (self, other), backward)

    def __matmul__(self, other: Any) -> Tensor:
        other = self._lift(other)
        a, b = self.data, other.data

        def backward(g):  # d(AB)/dA = g Bᵀ, d(AB)/dB = Aᵀ g (1-D operands act as a row / column)
            a2 = a[None, :] if a.ndim == 1 else a
            b2 = b[:, None] if b.ndim == 1 else b
            g2 = np.expand_dims(g, -2) if a.ndim == 1 else g
            g2 = np.expand_dims(g2, -1) if b.ndim == 1 else g2
            grad_a = g2 @ np.swapaxes(b2, -1, -2)
            grad_b = np.swapaxes(a2, -1, -2) @ g2
            return (grad_a[..., 0, :] if a.ndim == 1 else grad_a), (
                grad_b[..., 0] if b.ndim == 1 else grad_b
            )

        return Tensor._from_op(a @ b, (self, other), backward)

    def __neg__(self) -> Tensor:
        def backward(g):  # d(-a)/da = -1
            return (-g,)

        return Tensor._from_op(-self.data, (self,), backward)

    def __radd__(self, other: Any) -> Tensor:
        return self._lift(other) + self

    def __rsub__(self, other: Any) -> Tensor:
        return self._lift(other) - self

    def __rmul__(self, other: Any) -> Tensor:
        return self._lift(other) * self

    def __rtruediv__(self, other: Any) -> Tensor:
        return self._lift(other) / self

    def __rpow__(self, other: Any) -> Tensor:
        return self._lift(other) ** self

    def __rmatmul__(self, other: Any) -> Tensor:
        return self._lift(other) @ self

    add, sub, mul, div, pow, matmul, neg = (
        __add__, __sub__, __mul__, __truediv__, __pow__, __matmul__, __neg__
    )  # fmt: skip

    def masked_fill(self, mask: Any, value: float) -> Tensor:
        return where(mask, self._lift(value), self)

    # ---- comparisons give bool tensors, outside the graph -----------------------------------
    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return Tensor(self.data == self._lift(other).data)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return Tensor(self.data != self._lift(other).data)

    def __lt__(self, other: Any) -> Tensor:
        return Tensor(self.data < self._lift(other).data)

    def __le__(self, other: Any) -> Tensor:
        return Tensor(self.data <= self._lift(other).data)

    def __gt__(self, other: Any) -> Tensor:
        return Tensor(self.data > self._lift(other).data)

    def __ge__(self, other: Any) -> Tensor:
        return Tensor(self.data >= self._lift(other).data)

    def __invert__(self) -> Tensor:
        return Tensor(~self.data)

    def __and__(self, other: Any) -> Tensor:
        return Tensor(self.data & self._lift(other).data)

    def __or__(self, other: Any) -> Tensor:
        return Tensor(self.data | self._lift(other).data)

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return Tensor(np.argmax(self.data, axis=dim, keepdims=keepdim))


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dimension."""
    tensors = tuple(tensors)
    ends = np.cumsum([t.shape[dim] for t in tensors])[:-1]

    def backward(g):  # each input gets back its own slice of g
        return tuple(np.split(g, ends, axis=dim))

    return Tensor._from_op(np.concatenate([t.data for t in tensors], axis=dim), tensors, backward)


concat = cat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along a new dimension."""
    return cat([t.unsqueeze(dim) for t in tensors], dim)


def where(condition: Any, input: Any, other: Any) -> Tensor:
    """`input` where `condition` holds, else `other` (both broadcast)."""
    condition = np.asarray(condition.data if isinstance(condition, Tensor) else condition, bool)
    a = input if isinstance(input, Tensor) else other._lift(input)
    b = a._lift(other)

    def backward(g):  # d/da = 1 where the condition holds, d/db = 1 elsewhere
        return g * condition, g * ~condition

    return Tensor._from_op(np.where(condition, a.data, b.data), (a, b), backward)
