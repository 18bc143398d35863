"""`setup_lesson` gives every lesson its output folder, backend and `save`; no lesson rolls its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import types
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pytest
from PIL import Image

from dllab.viz import Lesson, setup_lesson

LESSONS = sorted((Path(__file__).resolve().parents[2] / "lessons").glob("[0-9]*.py"))


def test_a_script_writes_into_the_folder_it_is_given(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lesson = setup_lesson("demo", argv=["demo.py", str(tmp_path / "figures")])
    assert lesson == Lesson(name="demo", out=tmp_path / "figures", in_notebook=False)
    assert lesson.out.is_dir()
    assert not (tmp_path / "lesson-output").exists()


def test_without_a_folder_a_script_writes_into_lesson_output(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lesson = setup_lesson("demo", argv=["demo.py"])
    assert lesson.out == Path("lesson-output", "demo")
    assert (tmp_path / "lesson-output" / "demo").is_dir()


def test_a_script_is_no_notebook_and_draws_off_screen(tmp_path: Path):
    code = (
        "import matplotlib; from dllab.viz import setup_lesson; lesson = setup_lesson('demo'); "
        "print(lesson.in_notebook, matplotlib.get_backend().lower(), lesson.out)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "figures")],  # sys.argv[1] is the folder
        cwd=tmp_path,
        env={**os.environ, "MPLBACKEND": "svg"},  # whatever backend the shell picked
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "agg", str(tmp_path / "figures")]


def test_save_writes_a_png_into_the_folder_and_closes_the_figure(tmp_path: Path):
    lesson = setup_lesson("demo", argv=["demo.py", str(tmp_path)])
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1, 2], [0, 1, 4])
    path = lesson.save(fig, "curve.png")
    assert path == tmp_path / "curve.png"
    with Image.open(path) as image:
        image.verify()  # raises on a truncated or corrupt file
    with Image.open(path) as image:
        assert image.format == "PNG"
    assert [p.name for p in tmp_path.iterdir()] == ["curve.png"], "temp file left"
    assert plt.get_fignums() == [], "figure left open"


def test_save_never_leaves_a_half_written_file(tmp_path: Path, monkeypatch):
    lesson = setup_lesson("demo", argv=["demo.py", str(tmp_path)])

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)  # the rename that puts the finished file in place
    with pytest.raises(OSError, match="disk full"):
        lesson.save(plt.figure(), "curve.png")
    assert list(tmp_path.iterdir()) == []
    assert plt.get_fignums() == []


def test_in_a_notebook_figures_go_to_lesson_output_and_show(tmp_path: Path, monkeypatch):
    shown = []
    display = types.ModuleType("IPython.display")
    display.Image = lambda filename: ("image", filename)
    display.display = shown.append
    ipython = types.ModuleType("IPython")
    ipython.display = display
    ipython.get_ipython = lambda: types.SimpleNamespace(kernel=object())  # a running kernel
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display)
    monkeypatch.setattr(matplotlib, "use", pytest.fail)  # the kernel keeps its inline backend
    monkeypatch.chdir(tmp_path)

    lesson = setup_lesson("demo", argv=["ipykernel_launcher.py", "-f", "kernel.json"])
    assert lesson.in_notebook
    assert lesson.out == Path("lesson-output", "demo")
    path = lesson.save(plt.figure(), "empty.png")
    assert path.is_file()
    assert shown == [("image", str(path))]


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_no_lesson_carries_its_own_preamble(lesson: Path):
    source = lesson.read_text()
    for own in ("def save(", "matplotlib.use(", "ipykernel", "sys.argv", ".savefig("):
        assert own not in source, f"{lesson.name} still has `{own}`: use setup_lesson"
    assert not re.search(r"\bOUT\b", source), f"{lesson.name} still has its own OUT folder"
    calls = re.findall(r"""^lesson = setup_lesson\("([^"]+)"\)$""", source, flags=re.M)
    assert calls == [lesson.stem], "setup_lesson once, with the lesson's own name"


def test_importing_ipykernel_does_not_make_a_script_a_notebook(tmp_path: Path, monkeypatch):
    pytest.importorskip("ipykernel")
    import ipykernel  # noqa: F401  (what a test looking for the kernel, or a library, does)

    monkeypatch.chdir(tmp_path)
    assert setup_lesson("demo", argv=["demo.py", str(tmp_path)]).in_notebook is False
