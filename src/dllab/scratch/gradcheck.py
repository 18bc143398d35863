"""Check gradients from `backward()` against central differences, and say how far apart they are.

For a random weighting w of the outputs (fixed by `seed`), the scalar L = Σ w·func(inputs)
is differentiated twice: by autograd, and numerically, one input entry at a time,

    ∂L/∂xᵢ ≈ (L(x + εeᵢ) - L(x - εeᵢ)) / 2ε        (error O(ε²))

    >>> x = tensor(np.random.randn(3, 4), requires_grad=True)
    >>> print(gradcheck(lambda x: (x * x.sigmoid()).sum(1), x))
    input 0 (3, 4): max abs error 2.1e-11, relative error 1.3e-11  ok
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dllab.scratch.autograd import no_grad
from dllab.scratch.tensor import Tensor

__all__ = ["gradcheck", "GradcheckError", "GradcheckReport"]


class GradcheckError(RuntimeError):
    """Analytic and numerical gradients disagree; the message is the full report."""


@dataclass
class InputCheck:
    """How one input's analytic gradient compares with the numerical one."""

    index: int
    shape: tuple[int, ...]
    max_abs_error: float  # max |analytic - numerical|
    relative_error: float  # ‖analytic - numerical‖ / (‖analytic‖ + ‖numerical‖)
    passed: bool  # |analytic - numerical| <= atol + rtol·|numerical| everywhere

    def __str__(self) -> str:
        verdict = "ok" if self.passed else "MISMATCH"
        return (
            f"input {self.index} {self.shape}: max abs error {self.max_abs_error:.1e}, "
            f"relative error {self.relative_error:.1e}  {verdict}"
        )


@dataclass
class GradcheckReport:
    """One line per checked input; true when all of them pass."""

    inputs: list[InputCheck]

    @property
    def ok(self) -> bool:
        return all(check.passed for check in self.inputs)

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        return "\n".join(str(check) for check in self.inputs)


def gradcheck(
    func: Callable[..., Any],
    inputs: Tensor | Sequence[Any],
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    seed: int = 0,
) -> GradcheckReport:
    """Compare autograd's gradient of `func` with central differences, per input tensor.

    `func` takes the inputs and returns a Tensor or a tuple of Tensors. Inputs that require
    grad must be float64 (float32 has too few digits for finite differences). Returns the
    report (true when every input passes); raises `GradcheckError` on a mismatch if
    `raise_exception`. differs from torch: it checks one random projection wᵀJ of the
    Jacobian, not every row, and returns a report instead of True.
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(
                f"gradcheck needs float64 inputs, input {i} is {inputs[i].dtype}; "
                "make it with dtype=float64 or call .double()"
            )
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal(o.shape) for o in _outputs(func(*inputs))]

    def objective() -> Tensor:
        return sum((o * w).sum() for o, w in zip(_outputs(func(*inputs)), weights, strict=True))

    saved = [inputs[i].grad for i in checked]
    for i in checked:
        inputs[i].grad = None
    objective().backward()
    report = []
    for i, old_grad in zip(checked, saved, strict=True):
        x = inputs[i]
        analytic = x.grad.data.copy() if x.grad is not None else np.zeros(x.shape)
        x.grad = old_grad
        numerical = _numerical_gradient(objective, x, eps)
        report.append(_compare(i, analytic, numerical, atol, rtol))
    result = GradcheckReport(report)
    if raise_exception and not result.ok:
        raise GradcheckError(f"gradients differ from finite differences:\n{result}")
    return result


def _outputs(out: Any) -> list[Tensor]:
    out = list(out) if isinstance(out, tuple | list) else [out]
    return [o for o in out if isinstance(o, Tensor) and o.dtype.kind == "f"]


@no_grad()
def _numerical_gradient(objective: Callable[[], Tensor], x: Tensor, eps: float) -> np.ndarray:
    x.data = np.ascontiguousarray(x.data)
    flat, grad = x.data.reshape(-1), np.zeros(x.data.size)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        plus = objective().item()
        flat[i] = original - eps
        minus = objective().item()
        flat[i] = original
        grad[i] = (plus - minus) / (2 * eps)
    return grad.reshape(x.shape)


def _compare(index, analytic, numerical, atol, rtol) -> InputCheck:
    diff = np.abs(analytic - numerical)
    scale = np.linalg.norm(analytic) + np.linalg.norm(numerical)
    return InputCheck(
        index=index,
        shape=tuple(analytic.shape),
        max_abs_error=float(diff.max(initial=0.0)),
        relative_error=float(np.linalg.norm(analytic - numerical) / scale) if scale else 0.0,
        passed=bool(np.all(diff <= atol + rtol * np.abs(numerical))),
    )
