"""Making tensors: from data, filled with a value, or random from one seeded generator."""

from __future__ import annotations

from typing import Any

import numpy as np

from dllab.scratch.tensor import Tensor, get_default_dtype

float16, float32, float64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
int32, int64, bool_ = np.dtype(np.int32), np.dtype(np.int64), np.dtype(bool)

_GENERATOR = [np.random.default_rng()]


def manual_seed(seed: int) -> None:
    """Seed the generator behind `randn`, `rand`, dropout and the initialisers."""
    _GENERATOR[0] = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    """The generator every random op draws from (reset by `manual_seed`)."""
    return _GENERATOR[0]


def _shape(size: tuple) -> tuple[int, ...]:
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], tuple | list) else size


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A new leaf tensor holding a copy of `data`, as `torch.tensor`."""
    data = data.data if isinstance(data, Tensor) else data
    return Tensor(np.array(data, dtype=dtype), requires_grad, dtype)


def zeros(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros(_shape(size), dtype or get_default_dtype()), requires_grad)


def ones(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones(_shape(size), dtype or get_default_dtype()), requires_grad)


def full(size: Any, fill_value: float, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.full(size, fill_value, dtype or get_default_dtype()), requires_grad)


def zeros_like(input: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros(input.shape, dtype or input.dtype), requires_grad)


def ones_like(input: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones(input.shape, dtype or input.dtype), requires_grad)


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None) -> Tensor:
    return Tensor(np.arange(start, end, step, dtype=dtype) if end is not None else np.arange(start))


def randn(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples."""
    data = generator().standard_normal(_shape(size)).astype(dtype or get_default_dtype())
    return Tensor(data, requires_grad)


def rand(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples on [0, 1)."""
    data = generator().random(_shape(size)).astype(dtype or get_default_dtype())
    return Tensor(data, requires_grad)


def randint(low: int, high: int, size: tuple[int, ...]) -> Tensor:
    """Integers in [low, high)."""
    return Tensor(generator().integers(low, high, size))


def randperm(n: int) -> Tensor:
    return Tensor(generator().permutation(n))
