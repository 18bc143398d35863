"""Feedback teaches without telling: the comparison is tight, messages name the concept, the
case and the largest difference, and the solution's expressions live only in counted hints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dllab.lab.catalog import get_exercise, solution_source
from dllab.lab.checks import Failed, assert_close
from dllab.lab.grader import grade_in_process


@pytest.mark.parametrize("scale", [1.0, 1e-3, 1e4])
def test_assert_close_fails_an_answer_off_by_1e_3_relative(scale: float) -> None:
    expected = np.linspace(-1, 1, 7) * scale + scale
    with pytest.raises(Failed) as failed:
        assert_close("out", expected * (1 + 1e-3), expected)
    assert "out: largest difference" in failed.value.message["en"]
    assert "最大差异" in failed.value.message["zh"]


def test_assert_close_passes_rounding_error_of_float32() -> None:
    expected = np.linspace(-1, 1, 7) + 2.0
    assert_close("out", expected.astype(np.float32), expected)
    assert_close("out", expected * (1 + 1e-7), expected)


def _failure_text(tmp_path: Path, name: str, old: str, new: str) -> str:
    source = solution_source(name)
    assert old in source
    path = tmp_path / f"{name}.py"
    path.write_text(source.replace(old, new, 1), encoding="utf-8")
    report = grade_in_process(name, path, seed=3)
    assert not report.passed
    case = next(c for c in report.cases if not c.passed)
    parts = [case.message, case.hint or {}]
    return " ".join(p.get(lang, "") for p in parts for lang in ("en", "zh"))


@pytest.mark.parametrize(
    ("name", "old", "new", "secret"),
    [
        ("mlp_backprop", "d_z1 = d_h * (z1 > 0)", "d_z1 = d_h", "(z1 > 0)"),
        ("batchnorm", "return dx, dgamma, dbeta", "return dout * gamma / np.sqrt("
         "x.var(axis=0) + eps), dgamma, dbeta", "g.mean(0)"),
        ("conv2d", "// stride + 1", "// stride", "floor((size"),
    ],
)  # fmt: skip
def test_a_failure_never_prints_the_solutions_expression(tmp_path, name, old, new, secret) -> None:
    shown = _failure_text(tmp_path, name, old, new)
    assert "largest difference" in shown or "expected" in shown
    assert secret not in shown
    assert any(secret in h["en"] for h in get_exercise(name).hints)  # it is a counted hint


def test_chinese_strings_have_no_space_between_han_and_fullwidth_punctuation() -> None:
    import re

    from dllab.lab import catalog, messages

    texts = [h["zh"] for e in catalog.EXERCISES for h in (e.title, *e.hints)]
    texts += [v["zh"] for v in messages.UI.values()]
    bad = [t for t in texts if re.search(r"[\u4e00-\u9fff] +[，。：；）]|[（，。：；] +\S", t)]
    assert not bad, bad[:3]
