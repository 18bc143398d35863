"""A NumPy tensor with reverse-mode automatic differentiation, shaped like `torch.Tensor`.

Every op computes its result, then defines `backward` right below it: given `g`, the gradient
of the loss with respect to the result, it returns the gradients with respect to each input
(the local derivative is in the comment). `Tensor.backward()` visits the graph in reverse
topological order and adds the pieces up (`autograd.py`), summing over broadcast axes.

    >>> x = tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4., 6.])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dllab.scratch import autograd
from dllab.scratch.autograd import Scatter, is_grad_enabled, no_grad

__all__ = ["Tensor", "cat", "concat", "stack", "where", "no_grad", "is_grad_enabled"]

# differs from torch: the default floating dtype is float64, so that `gradcheck` and the parity
# tests are exact to 1e-6; call `set_default_dtype(float32)` (or `.float()`) to train faster.
_DEFAULT_DTYPE = [np.dtype(np.float64)]


def set_default_dtype(dtype: Any) -> None:
    """Dtype given to floating tensors made from Python numbers and to new parameters."""
    _DEFAULT_DTYPE[0] = np.dtype(dtype)


def get_default_dtype() -> np.dtype:
    return _DEFAULT_DTYPE[0]


class Tensor:
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

    # ---- elementwise functions ----------------------------------------------------------
    def exp(self) -> Tensor:
        out = np.exp(self.data)

        def backward(g):  # d eˣ/dx = eˣ
            return (g * out,)

        return Tensor._from_op(out, (self,), backward)

    def log(self) -> Tensor:
        def backward(g):  # d ln x/dx = 1/x
            return (g / self.data,)

        return Tensor._from_op(np.log(self.data), (self,), backward)

    def sqrt(self) -> Tensor:
        out = np.sqrt(self.data)

        def backward(g):  # d √x/dx = 1/(2√x)
            return (g / (2 * out),)

        return Tensor._from_op(out, (self,), backward)

    def abs(self) -> Tensor:
        def backward(g):  # d|x|/dx = sign(x)
            return (g * np.sign(self.data),)

        return Tensor._from_op(np.abs(self.data), (self,), backward)

    def sin(self) -> Tensor:
        def backward(g):  # d sin x/dx = cos x
            return (g * np.cos(self.data),)

        return Tensor._from_op(np.sin(self.data), (self,), backward)

    def cos(self) -> Tensor:
        def backward(g):  # d cos x/dx = -sin x
            return (-g * np.sin(self.data),)

        return Tensor._from_op(np.cos(self.data), (self,), backward)

    def tanh(self) -> Tensor:
        out = np.tanh(self.data)

        def backward(g):  # d tanh x/dx = 1 - tanh²x
            return (g * (1 - out**2),)

        return Tensor._from_op(out, (self,), backward)

    def sigmoid(self) -> Tensor:
        out = np.exp(-np.logaddexp(0, -self.data))  # 1/(1+e⁻ˣ) without overflow

        def backward(g):  # dσ/dx = σ(1-σ)
            return (g * out * (1 - out),)

        return Tensor._from_op(out, (self,), backward)

    def relu(self) -> Tensor:
        def backward(g):  # d max(x,0)/dx = 1 if x > 0 else 0
            return (g * (self.data > 0),)

        return Tensor._from_op(np.maximum(self.data, 0), (self,), backward)

    def clamp(self, min: float | None = None, max: float | None = None) -> Tensor:
        def backward(g):  # 1 inside [min, max], 0 where clipped
            inside = np.ones(self.shape, bool)
            inside &= self.data >= min if min is not None else True
            inside &= self.data <= max if max is not None else True
            return (g * inside,)

        return Tensor._from_op(np.clip(self.data, min, max), (self,), backward)

    def softmax(self, dim: int) -> Tensor:
        from dllab.scratch.functional import softmax

        return softmax(self, dim)

    def log_softmax(self, dim: int) -> Tensor:
        from dllab.scratch.functional import log_softmax

        return log_softmax(self, dim)

    def masked_fill(self, mask: Any, value: float) -> Tensor:
        return where(mask, self._lift(value), self)

    # ---- reductions ---------------------------------------------------------------------
    def sum(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        axes = _axes(dim, self.ndim)

        def backward(g):  # d Σx/dx = 1, spread back over the summed axes
            return (np.broadcast_to(np.expand_dims(g, axes) if not keepdim else g, self.shape),)

        return Tensor._from_op(self.data.sum(axis=axes, keepdims=keepdim), (self,), backward)

    def mean(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        axes = _axes(dim, self.ndim)
        count = int(np.prod([self.shape[a] for a in axes]))
        return self.sum(dim, keepdim) / count  # d mean/dx = 1/n

    def var(
        self, dim: int | Sequence[int] | None = None, *, correction: int = 1, keepdim: bool = False
    ) -> Tensor:
        axes = _axes(dim, self.ndim)
        count = int(np.prod([self.shape[a] for a in axes]))
        centred = self - self.mean(dim, keepdim=True)
        return (centred * centred).sum(dim, keepdim) / (count - correction)

    def max(self, dim: int | None = None, keepdim: bool = False) -> Any:
        """The largest value, or with `dim` the pair (values, indices), as in torch."""
        return self._extreme(np.max, np.argmax, dim, keepdim)

    def min(self, dim: int | None = None, keepdim: bool = False) -> Any:
        return self._extreme(np.min, np.argmin, dim, keepdim)

    def _extreme(self, pick, arg_pick, dim, keepdim):
        axes = _axes(dim, self.ndim)
        out = pick(self.data, axis=axes, keepdims=True)

        def backward(g):  # d max/dx = 1 at the maximum, 0 elsewhere
            # differs from torch: tied maxima share the gradient equally
            hit = self.data == out
            g = g if keepdim else np.expand_dims(g, axes)
            return (g * hit / hit.sum(axis=axes, keepdims=True),)

        values = Tensor._from_op(out if keepdim else out.squeeze(axes), (self,), backward)
        if dim is None:
            return values
        return values, Tensor(arg_pick(self.data, axis=dim, keepdims=keepdim))

    def logsumexp(self, dim: int, keepdim: bool = False) -> Tensor:
        top = self.data.max(axis=dim, keepdims=True)
        out = np.log(np.exp(self.data - top).sum(axis=dim, keepdims=True)) + top

        def backward(g):  # d logΣeˣ/dx = softmax(x)
            g = g if keepdim else np.expand_dims(g, dim)
            return (g * np.exp(self.data - out),)

        return Tensor._from_op(out if keepdim else out.squeeze(dim), (self,), backward)

    # ---- shape --------------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], tuple | list) else shape

        def backward(g):  # a reshape moves no values: reshape the gradient back
            return (g.reshape(self.shape),)

        return Tensor._from_op(self.data.reshape(shape), (self,), backward)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        start, end = start_dim % max(self.ndim, 1), end_dim % max(self.ndim, 1)
        return self.reshape(self.shape[:start] + (-1,) + self.shape[end + 1 :])

    def unsqueeze(self, dim: int) -> Tensor:
        return self.reshape(np.expand_dims(self.data, dim).shape)

    def squeeze(self, dim: int | None = None) -> Tensor:
        if dim is not None and self.shape[dim] != 1:
            return self
        return self.reshape(np.squeeze(self.data, axis=dim).shape)

    def permute(self, *dims: Any) -> Tensor:
        dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], tuple | list) else dims

        def backward(g):  # undo the permutation
            return (np.transpose(g, np.argsort(dims)),)

        return Tensor._from_op(np.transpose(self.data, dims), (self,), backward)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        dims = list(range(self.ndim))
        dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
        return self.permute(dims)

    @property
    def T(self) -> Tensor:
        return self.permute(tuple(reversed(range(self.ndim))))

    def expand(self, *sizes: Any) -> Tensor:
        sizes = sizes[0] if len(sizes) == 1 and isinstance(sizes[0], tuple | list) else sizes
        lead = len(sizes) - self.ndim
        shape = tuple(s if n == -1 else n for n, s in zip(sizes, (1,) * lead + self.shape))
        return self + np.zeros(shape, self.dtype)  # broadcasting does the work, both ways

    def contiguous(self) -> Tensor:
        return self

    def __getitem__(self, index: Any) -> Tensor:
        index = _index(index)

        def backward(g):  # the picked entries get g, the rest 0 (repeated picks add up)
            return (Scatter(index, g),)

        return Tensor._from_op(self.data[index], (self,), backward)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def split(self, split_size: int, dim: int = 0) -> tuple[Tensor, ...]:
        starts = range(0, self.shape[dim], split_size)
        lead = (slice(None),) * (dim % self.ndim)
        return tuple(self[lead + (slice(s, s + split_size),)] for s in starts)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        return self.split(-(-self.shape[dim] // chunks), dim)

    def unbind(self, dim: int = 0) -> tuple[Tensor, ...]:
        lead = (slice(None),) * (dim % self.ndim)
        return tuple(self[lead + (i,)] for i in range(self.shape[dim]))


def _axes(dim: Any, ndim: int) -> tuple[int, ...]:
    if dim is None:
        return tuple(range(ndim))
    return tuple(d % ndim for d in (dim if isinstance(dim, tuple | list) else (dim,)))


def _index(index: Any) -> Any:
    """Tensors inside an index become their arrays."""
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index.data if isinstance(index, Tensor) else index


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
