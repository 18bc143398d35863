"""What graders use to judge a learner's answer: calls that cannot escape, comparisons that explain.

A grader case calls the learner's code through `call` (an exception, `sys.exit` or a missing
function becomes a failed case with the reason) and compares with `assert_close` against what
PyTorch computes. When values differ, `assert_close` looks for the shape of the mistake — a
known wrong variant the grader passes in (`mistakes=`), a constant factor (a sign flip is the
factor -1), values in the wrong places, all zeros — and says so. Messages come in English and
Chinese (`Text`); they show shapes and the largest difference, never reference code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Text = dict[str, str]  # {"en": ..., "zh": ...}


def text(en: str, zh: str) -> Text:
    """A message in both languages."""
    return {"en": en, "zh": zh}


def in_lang(value: str | Text, lang: str) -> str:
    """`value` in `lang` when it is a `Text`; a plain string (numbers and shapes only) as it is."""
    return value if isinstance(value, str) else value.get(lang, value["en"])


class Failed(Exception):
    """A case failed: `message` says what is wrong, `hint` how to look for the mistake."""

    def __init__(self, message: Text, hint: Text | None = None) -> None:
        super().__init__(message["en"])
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class Case:
    """One generated case: what the learner is shown about it, and the check to run."""

    shapes: str | Text  # e.g. "x (4, 7), hidden 5": enough to reproduce it by hand
    check: Callable[[Any], None]  # given the learner (a sandbox.Channel); raises Failed


NN_MODULE = "torch.nn.modules.module.Module"  # how the child names nn.Module's class


def one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]


def failure(record: dict, name: str) -> Failed:
    """The `Failed` for a failure record of the child (`child.failure_record`) about `name`."""
    kind = record.get("kind")
    if kind == "missing":
        return Failed(
            text(f"`{name}` is missing from your file", f"你的文件里没有 `{name}`"),
            text(
                "Keep the names of the skeleton (`dllab lab start` wrote them).",
                "保留骨架中的名字（`dllab lab start` 生成的）。",
            ),
        )
    if kind == "not_callable":
        return Failed(text(f"`{name}` is not callable", f"`{name}` 不是可调用对象"))
    if kind == "not_implemented":
        stub = str(record.get("stub", name))
        return Failed(
            text(
                f"`{stub}` is not implemented yet: it raises NotImplementedError",
                f"`{stub}` 还没有实现：它抛出 NotImplementedError",
            ),
            text(
                "Replace the `raise NotImplementedError(...)` line with your code.",
                "把 `raise NotImplementedError(...)` 这一行换成你的实现。",
            ),
        )
    if kind == "exit":
        code = record.get("code")
        return Failed(
            text(
                f"`{name}` called sys.exit({code}); return a value instead",
                f"`{name}` 调用了 sys.exit({code})；请返回结果，不要退出",
            )
        )
    error, where = record.get("error", "?"), record.get("where", "")
    return Failed(
        text(f"`{name}` raised {error}{where}", f"`{name}` 抛出异常 {error}{where}"),
        text(
            "Run your function on the shapes above in a notebook to see where it breaks.",
            "用上面的形状在 notebook 里运行你的函数，看看在哪里出错。",
        ),
    )


def _torch_used(learner: Any) -> None:
    raise Failed(
        text(
            "torch was imported: this exercise is NumPy by hand, so torch (F.conv2d, F.unfold, "
            "autograd…) may not do the work",
            "导入了 torch：这个练习要用 NumPy 手写，不能让 torch（F.conv2d、F.unfold、autograd…）"
            "代劳",
        ),
        text(
            "Remove `import torch` and write it with NumPy.", "删掉 `import torch`，用 NumPy 实现。"
        ),
    )


def call(learner: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    """Call the learner's `name(*args, **kwargs)` in the child; any way it can go wrong (a
    missing function, an exception, `sys.exit`) becomes `Failed` with the reason.

    `learner` is a `sandbox.Channel`. Arguments and the result travel as data; in-place changes
    to array arguments come back too.
    """
    reply = learner.call(name, args, kwargs)
    if learner.numpy_only and reply.get("torch"):
        _torch_used(learner)
    if "error" in reply:
        raise failure(reply["error"], name)
    return reply.get("value")


def drive(learner: Any, source: str, fn: str, *args: Any) -> Any:
    """Run driver `fn` (from a `drivers/NAME.py` source) on the learner's module in the child.

    Drivers handle what cannot travel as data (the learner's nn.Module, a DataLoader): they
    build, call and inspect it there and return plain facts and arrays, which the grader judges
    here. A failure of the learner's code inside the driver becomes `Failed`.
    """
    reply = learner.drive(source, fn, args)
    if learner.numpy_only and reply.get("torch"):
        _torch_used(learner)
    if "error" in reply:
        record = reply["error"]
        raise failure(record, str(record.get("label", fn)))
    return reply.get("value")


def driver_source(name: str) -> str:
    """The text of `drivers/NAME.py`, which runs in the child (it imports no dllab)."""
    from importlib import resources

    return resources.files("dllab.lab.drivers").joinpath(f"{name}.py").read_text("utf-8")


def as_array(name: str, value: Any) -> np.ndarray:
    """The learner's value as a float64 NumPy array (tensors and numbers are accepted)."""
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch.Tensor
        value = value.detach().cpu().numpy()
    if value is None:
        raise Failed(
            text(f"{name} is None: did you forget a `return`?", f"{name} 是 None：忘了 `return`？")
        )
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise Failed(
            text(
                f"{name} should be an array, got {type(value).__name__}",
                f"{name} 应该是数组，实际是 {type(value).__name__}",
            )
        ) from None
    return arr


def _shape(a: np.ndarray) -> str:
    return str(tuple(a.shape))


def _diff(name: str, got: np.ndarray, expected: np.ndarray, tol: float) -> Text:
    err = np.abs(got - expected)
    err = np.where(np.isnan(err), np.inf, err)
    idx = np.unravel_index(int(np.argmax(err)), err.shape) if err.size else ()
    where = f" at index {list(map(int, idx))}" if err.ndim else ""
    where_zh = f"（位置 {list(map(int, idx))}）" if err.ndim else ""
    d, g, e = float(err[idx]), float(got[idx]), float(expected[idx])
    return text(
        f"{name}: largest difference {d:.3g}{where} (got {g:.6g}, expected {e:.6g}; "
        f"tolerance {tol:.1g})",
        f"{name}：最大差异 {d:.3g}{where_zh}（实际 {g:.6g}，期望 {e:.6g}；容差 {tol:.1g}）",
    )


def assert_close(
    name: str,
    got: Any,
    expected: Any,
    *,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    hint: Text | None = None,
    mistakes: Sequence[tuple[Any, Text]] = (),
) -> None:
    """Fail unless `got` matches `expected` (shape, finiteness, values), saying how it differs.

    `mistakes` pairs the output of a known wrong variant (e.g. attention without the
    1/sqrt(d) scale) with the hint to give when the learner's output matches it.
    """
    got = as_array(name, got)
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        raise Failed(
            text(
                f"{name}: expected shape {_shape(expected)}, got {_shape(got)}",
                f"{name}：形状应为 {_shape(expected)}，实际为 {_shape(got)}",
            ),
            hint,
        )
    tol = atol + rtol * float(np.max(np.abs(expected), initial=0.0))
    if np.allclose(got, expected, rtol=rtol, atol=atol):
        return
    message = _diff(name, got, expected, tol)
    if not np.all(np.isfinite(got)) and np.all(np.isfinite(expected)):
        raise Failed(
            message,
            text(
                f"{name} contains nan or inf: an overflow? (exp of a large number, "
                "a division by zero, log of 0)",
                f"{name} 含有 nan 或 inf：是否溢出？（大数取 exp、除以零、log(0)）",
            ),
        )
    for variant, why in mistakes:
        v = np.asarray(variant, dtype=np.float64)
        if v.shape == got.shape and np.allclose(got, v, rtol=rtol, atol=atol):
            raise Failed(message, why)
    raise Failed(message, _guess(name, got, expected, rtol, atol) or hint)


def _guess(name: str, got: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> Text:
    """Recognise a sign flip, a constant factor, a permutation or all zeros."""
    ee = float(np.sum(expected * expected))
    if ee > 0 and np.all(np.isfinite(got)):
        c = float(np.sum(got * expected)) / ee
        if np.allclose(got, c * expected, rtol=rtol, atol=atol):
            if abs(c + 1) < 1e-3:
                return text(
                    f"{name} has the opposite sign: you compute -dL/dx where dL/dx is wanted "
                    "(the minus belongs only to the update step w -= lr * grad).",
                    f"{name} 的符号反了：你算的是 -dL/dx，应为 dL/dx"
                    "（负号只属于更新步 w -= lr * grad）。",
                )
            return text(
                f"{name} is {c:.4g} times the expected value: a missing or extra factor "
                "(a mean instead of a sum? the batch size? a scale?).",
                f"{name} 是期望值的 {c:.4g} 倍：少了或多了一个系数"
                "（均值还是求和？批大小？缩放？）。",
            )
    if ee > 0 and not np.any(got):
        return text(
            f"{name} is all zeros: is it computed at all?", f"{name} 全是零：真的计算了吗？"
        )
    if np.allclose(np.sort(got, axis=None), np.sort(expected, axis=None), rtol=rtol, atol=atol):
        return text(
            f"{name} holds the right values in the wrong places: check the order of axes "
            "(transpose, reshape, permute).",
            f"{name} 的数值对了但位置不对：检查轴的顺序（transpose、reshape、permute）。",
        )
    return {}


def assert_equal(name: str, got: Any, expected: Any, hint: Text | None = None) -> None:
    """Fail unless `got == expected` (for integers, strings, lists of them)."""
    if hasattr(got, "tolist"):  # NumPy arrays and scalars, torch tensors
        got = got.tolist()
    if isinstance(got, tuple | list):
        got = [g.item() if isinstance(g, np.generic) else g for g in got]
    if isinstance(expected, tuple):
        expected = list(expected)
    if got != expected or type(got) is bool and type(expected) is not bool:
        raise Failed(
            text(
                f"{name}: expected {expected!r}, got {got!r}",
                f"{name}：应为 {expected!r}，实际为 {got!r}",
            ),
            hint,
        )


def _describe(value: Any) -> str:
    if isinstance(value, tuple | list):
        return f"a {type(value).__name__} of {len(value)}"
    return type(value).__name__


def unpack(name: str, value: Any, n: int) -> tuple[Any, ...]:
    """`value` as a tuple of `n` items, or `Failed` saying what `name` returned instead."""
    if not isinstance(value, tuple | list) or len(value) != n:
        raise Failed(
            text(
                f"`{name}` should return a tuple of {n} values, got {_describe(value)}",
                f"`{name}` 应返回 {n} 个值组成的元组，实际为 {_describe(value)}",
            )
        )
    return tuple(value)


def as_int(name: str, value: Any, hint: Text | None = None) -> int:
    """`value` as a Python int; a float (even 4.0) or anything else fails."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise Failed(
            text(
                f"{name} should be an int, got {_describe(value)} {value!r}",
                f"{name} 应为 int，实际为 {_describe(value)} {value!r}",
            ),
            hint,
        )
    return int(value)


def require_tensor(name: str, value: Any) -> Any:
    """`value` itself, after checking that it is a torch.Tensor."""
    import torch

    if not isinstance(value, torch.Tensor):
        raise Failed(
            text(
                f"{name} should be a torch.Tensor, got {_describe(value)}",
                f"{name} 应为 torch.Tensor，实际为 {_describe(value)}",
            )
        )
    return value
