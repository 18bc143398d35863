"""Tensor methods that compute: elementwise functions and reductions.

`Tensor` inherits them; each op's backward sits right below its forward, as in tensor.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from dllab.scratch.tensor import Tensor


class MathOps:
    # ---- elementwise functions ----------------------------------------------------------
    def exp(self) -> Tensor:
        out = np.exp(self.data)

        def backward(g):  # d eˣ/dx = eˣ
            return (g * out,)

        return self._from_op(out, (self,), backward)

    def log(self) -> Tensor:
        def backward(g):  # d ln x/dx = 1/x
            return (g / self.data,)

        return self._from_op(np.log(self.data), (self,), backward)

    def sqrt(self) -> Tensor:
        out = np.sqrt(self.data)

        def backward(g):  # d √x/dx = 1/(2√x)
            return (g / (2 * out),)

        return self._from_op(out, (self,), backward)

    def abs(self) -> Tensor:
        def backward(g):  # d|x|/dx = sign(x)
            return (g * np.sign(self.data),)

        return self._from_op(np.abs(self.data), (self,), backward)

    def sin(self) -> Tensor:
        def backward(g):  # d sin x/dx = cos x
            return (g * np.cos(self.data),)

        return self._from_op(np.sin(self.data), (self,), backward)

    def cos(self) -> Tensor:
        def backward(g):  # d cos x/dx = -sin x
            return (-g * np.sin(self.data),)

        return self._from_op(np.cos(self.data), (self,), backward)

    def tanh(self) -> Tensor:
        out = np.tanh(self.data)

        def backward(g):  # d tanh x/dx = 1 - tanh²x
            return (g * (1 - out**2),)

        return self._from_op(out, (self,), backward)

    def sigmoid(self) -> Tensor:
        out = np.exp(-np.logaddexp(0, -self.data))  # 1/(1+e⁻ˣ) without overflow

        def backward(g):  # dσ/dx = σ(1-σ)
            return (g * out * (1 - out),)

        return self._from_op(out, (self,), backward)

    def relu(self) -> Tensor:
        def backward(g):  # d max(x,0)/dx = 1 if x > 0 else 0
            return (g * (self.data > 0),)

        return self._from_op(np.maximum(self.data, 0), (self,), backward)

    def clamp(self, min: float | None = None, max: float | None = None) -> Tensor:
        def backward(g):  # 1 inside [min, max], 0 where clipped
            inside = np.ones(self.shape, bool)
            inside &= self.data >= min if min is not None else True
            inside &= self.data <= max if max is not None else True
            return (g * inside,)

        return self._from_op(np.clip(self.data, min, max), (self,), backward)

    def softmax(self, dim: int) -> Tensor:
        from dllab.scratch.functional import softmax

        return softmax(self, dim)

    def log_softmax(self, dim: int) -> Tensor:
        from dllab.scratch.functional import log_softmax

        return log_softmax(self, dim)

    # ---- reductions ---------------------------------------------------------------------
    def sum(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        axes = _axes(dim, self.ndim)

        def backward(g):  # d Σx/dx = 1, spread back over the summed axes
            return (np.broadcast_to(np.expand_dims(g, axes) if not keepdim else g, self.shape),)

        return self._from_op(self.data.sum(axis=axes, keepdims=keepdim), (self,), backward)

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

        values = self._from_op(out if keepdim else out.squeeze(axes), (self,), backward)
        if dim is None:
            return values
        return values, type(self)(arg_pick(self.data, axis=dim, keepdims=keepdim))

    def logsumexp(self, dim: int, keepdim: bool = False) -> Tensor:
        top = self.data.max(axis=dim, keepdims=True)
        out = np.log(np.exp(self.data - top).sum(axis=dim, keepdims=True)) + top

        def backward(g):  # d logΣeˣ/dx = softmax(x)
            g = g if keepdim else np.expand_dims(g, dim)
            return (g * np.exp(self.data - out),)

        return self._from_op(out if keepdim else out.squeeze(dim), (self,), backward)


def _axes(dim: Any, ndim: int) -> tuple[int, ...]:
    if dim is None:
        return tuple(range(ndim))
    return tuple(d % ndim for d in (dim if isinstance(dim, tuple | list) else (dim,)))
