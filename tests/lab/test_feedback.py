"""Feedback teaches without telling: the comparison is tight, messages name the concept, the
case and the largest difference, and the solution's expressions live only in counted hints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dllab.lab.catalog import EXERCISES, get_exercise, solution_source
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


CJK = r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]"  # Han and full-width punctuation


def _code_names(name: str) -> set[str]:
    """The names in an exercise's skeleton code (arguments, functions, attributes): what a
    plain, untranslated case description may mention besides numbers and shapes."""
    import ast
    from importlib import resources

    source = resources.files("dllab.lab.skeletons").joinpath(f"{name}.py").read_text("utf-8")
    names = {"True", "False", "None"}
    for node in ast.walk(ast.parse(source)):
        for field in ("id", "arg", "attr", "name"):
            value = getattr(node, field, None)
            if isinstance(value, str):
                names.add(value)
    return names


def _descriptions(name: str) -> list:
    import importlib

    grader = importlib.import_module(f"dllab.lab.exercises.{name}")
    n = get_exercise(name).n_cases
    return [grader.make_case(i, np.random.default_rng(i)).shapes for i in range(n)]


@pytest.mark.parametrize("name", [e.name for e in EXERCISES])
def test_case_descriptions_are_chinese_where_they_have_words(name: str) -> None:
    import re

    from dllab.lab.checks import in_lang

    names = _code_names(name)
    for shapes in _descriptions(name):
        if isinstance(shapes, str):  # numbers, shapes and the skeleton's own names only
            words = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", shapes)
            assert all(len(w) < 3 or w in names for w in words), (shapes, names)
            continue
        zh = in_lang(shapes, "zh")
        assert in_lang(shapes, "en") == shapes["en"] and re.search(r"[\u4e00-\u9fff]", zh), zh
        assert not re.search(rf"{CJK} +{CJK}", zh), zh  # no space between Chinese characters
        assert not re.search(r"[\u4e00-\u9fff] +[，。：；）]|[（，。：；] +\S", zh), zh


def test_what_the_child_and_the_grader_say_themselves_comes_in_chinese_too(tmp_path) -> None:
    from dllab.lab.grader import build_report, grade

    path = tmp_path / "conv2d.py"
    path.write_text("import dllab\n", encoding="utf-8")
    report = grade("conv2d", path, seed=0)  # the child's refusal: it cannot know the language
    assert report.problem is not None and "你的代码不能使用评分器的包" in report.problem["zh"]
    garbled = build_report("conv2d", 0, 6, [{"type": "ready"}], returncode=-9, garbled="bad tag")
    assert garbled.problem is not None
    assert "a reply the grader cannot read (bad tag)" in garbled.problem["en"]
    assert "评分器无法读取的回复（bad tag）" in garbled.problem["zh"]
