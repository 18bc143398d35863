"""Tensor methods that move values around: reshape, permute, index, split.

None of them computes anything, so each backward puts the gradient back where the value came
from. `Tensor` inherits them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from dllab.scratch.autograd import Scatter

if TYPE_CHECKING:
    from dllab.scratch.tensor import Tensor


class ShapeOps:
    # ---- shape --------------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], tuple | list) else shape

        def backward(g):  # a reshape moves no values: reshape the gradient back
            return (g.reshape(self.shape),)

        return self._from_op(self.data.reshape(shape), (self,), backward)

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

        return self._from_op(np.transpose(self.data, dims), (self,), backward)

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
        shape = tuple(
            s if n == -1 else n for n, s in zip(sizes, (1,) * lead + self.shape, strict=True)
        )
        return self + np.zeros(shape, self.dtype)  # broadcasting does the work, both ways

    def contiguous(self) -> Tensor:
        return self

    def __getitem__(self, index: Any) -> Tensor:
        index = _index(index)

        def backward(g):  # the picked entries get g, the rest 0 (repeated picks add up)
            return (Scatter(index, g),)

        return self._from_op(self.data[index], (self,), backward)

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


def _index(index: Any) -> Any:
    """Tensors inside an index become their arrays (every Tensor is a ShapeOps)."""
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, ShapeOps) else i for i in index)
    return index.data if isinstance(index, ShapeOps) else index
