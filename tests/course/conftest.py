"""A small course to read: lessons, recipes, runs and a lab record, all in a temporary folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dllab.lab import progress as record

LESSON = """# %% [markdown]
# # {number} · {title}
#
# Prose.

# %%
print(1)

# %% [markdown]
# ## Exercises
#
# `dllab lab start {exercise}`
"""

LESSONS = {  # file name -> (heading title, exercise named at its end)
    "01-01-alpha.py": ("Alpha · 甲", "mlp_backprop"),
    "01-02-beta.py": ("Beta", "softmax_xent"),
    "04-01-gamma.py": ("Gamma", "lstm_cell"),
}
RECIPES = {  # name -> description
    "quickstart": "first run",
    "defects-demo": "visual inspection",
    "fashion-mnist": "image classification",
    "fashion-mnist-vit": "a ViT",
    "sentiment-zh": "sentiment",
    "zzz-odd": "belongs nowhere",
}


@pytest.fixture
def course_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Folders of a course: lessons (three), an empty workspace and an empty runs folder; the
    current folder is tmp_path and $DLLAB_LAB is unset."""
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    for name, (title, exercise) in LESSONS.items():
        source = LESSON.format(number=name[:5], title=title, exercise=exercise)
        (lessons / name).write_text(source, encoding="utf-8")
    (lessons / "README.md").write_text("# not a lesson\n", encoding="utf-8")
    (tmp_path / "ws").mkdir()
    (tmp_path / "runs").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DLLAB_LAB", raising=False)
    return {"lessons": lessons, "ws": tmp_path / "ws", "runs": tmp_path / "runs"}


def make_run(runs: Path, name: str, recipe: str, finished: bool, checkpoint: bool = False) -> Path:
    """A run folder as `dllab run` leaves it: config.yaml, and summary.json once finished."""
    folder = runs / name
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(f"name: {recipe}\n", encoding="utf-8")
    if finished:
        (folder / "summary.json").write_text(json.dumps({"recipe": recipe}), encoding="utf-8")
    if checkpoint:
        (folder / "checkpoints").mkdir()
        (folder / "checkpoints" / "last.safetensors").write_bytes(b"x")
    return folder


def pass_exercises(folder: Path, names: list[str]) -> None:
    """A signed record in which `names` passed (as `dllab lab check` writes it)."""
    entries = record.load(folder)
    for name in names:
        entries[name] = record.Entry(passed=True, last_result="passed", last_score="6/6", checks=1)
    record.save(folder, entries)
