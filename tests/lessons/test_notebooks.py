"""Lessons run as real notebooks through a Jupyter kernel, and `make notebooks` writes them all.

Every lesson already runs as a script (`test_lessons.py`); here a short sample runs cell by
cell in an ipykernel through nbclient, as JupyterLab would, and its outputs are checked: the
printed numbers, the figures shown below their cells, and the run recorded in the lab progress.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import jupytext
import pytest

from dllab.lab import progress as record

ROOT = Path(__file__).resolve().parents[2]
LESSONS_DIR = ROOT / "lessons"
# A short lesson and lines its cells must print (deterministic: seeded data, exact limits)
SAMPLE = {
    "01-04-loss-functions": [
        "cross-entropy 4.2629; gradient == (softmax - one_hot) / N",
        "naive: nan, stable: 0.0",
        "BCE at logit -800: naive inf, with logits 800.0",
    ],
}
TIMEOUT_S = 180  # per cell; the whole lesson takes ~10 s alone


def _execute(notebook, cwd: Path, monkeypatch: pytest.MonkeyPatch, workspace: Path):
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("DLLAB_LAB", str(workspace))  # the kernel inherits it
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    client = nbclient.NotebookClient(
        notebook, timeout=TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": cwd}}
    )
    return client, client.execute


def _outputs(notebook, kind: str) -> list[dict]:
    return [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs
            if o.output_type == kind]  # fmt: skip


@pytest.mark.parametrize("name", SAMPLE)
def test_lesson_runs_as_a_notebook_with_its_numbers_and_figures(name, tmp_path, monkeypatch):
    notebook = jupytext.read(LESSONS_DIR / f"{name}.py")
    _, execute = _execute(notebook, tmp_path, monkeypatch, tmp_path / "ws")
    execute()
    printed = "".join(o.text for o in _outputs(notebook, "stream") if o.name == "stdout")
    for line in SAMPLE[name]:
        assert line in printed
    shown = [o for o in _outputs(notebook, "display_data") if "image/png" in o.data]
    saved = sorted((tmp_path / "lesson-output" / name).glob("*.png"))
    assert saved and len(shown) == len(saved)  # each saved figure is shown below its cell
    assert not _outputs(notebook, "error")
    entry = record.load_record(tmp_path / "ws").lessons[name]
    assert (entry.runs, entry.finished) == (1, 1)  # recorded at start, done at kernel exit


def test_a_notebook_that_fails_is_recorded_started_not_done(tmp_path, monkeypatch) -> None:
    notebook = jupytext.reads(
        "# %%\nfrom dllab.viz import setup_lesson\nlesson = setup_lesson('01-98-demo')\n\n"
        "# %%\nassert 1 + 1 == 3, 'a claim that does not hold'\n",
        fmt="py:percent",
    )
    nbclient = pytest.importorskip("nbclient")
    _, execute = _execute(notebook, tmp_path, monkeypatch, tmp_path / "ws")
    with pytest.raises(nbclient.exceptions.CellExecutionError, match="a claim that does not hold"):
        execute()
    entry = record.load_record(tmp_path / "ws").lessons["01-98-demo"]
    assert (entry.runs, entry.finished) == (1, 0)


def _script():
    spec = importlib.util.spec_from_file_location(
        "notebooks_script", ROOT / "scripts" / "notebooks.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_notebooks_writes_every_lesson_and_keeps_a_notebook_you_changed(tmp_path, capsys):
    script = _script()
    lessons = script.lesson_files()
    assert lessons and all(p.name[:2].isdigit() for p in lessons)
    assert script.main([str(tmp_path)]) == 0
    written = sorted(p.stem for p in tmp_path.glob("*.ipynb"))
    assert written == [p.stem for p in lessons]
    notebook = jupytext.read(tmp_path / f"{lessons[0].stem}.ipynb")
    assert notebook.cells[0].cell_type == "markdown" and notebook.metadata["kernelspec"]["name"]
    mine = tmp_path / f"{lessons[0].stem}.ipynb"
    mine.write_text('{"my": "work"}', encoding="utf-8")
    assert script.main([str(tmp_path)]) == 0
    assert mine.read_text(encoding="utf-8") == '{"my": "work"}'
    assert "kept" in capsys.readouterr().out
    assert script.main([str(tmp_path), "--force"]) == 0
    assert jupytext.read(mine).cells  # replaced by the lesson again
    assert not list(tmp_path.glob(".*.tmp"))
