"""Running a lesson records it in the lab progress; recording never fails the lesson."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dllab.lab import progress as record
from dllab.viz.lesson import setup_lesson

SCRIPT = """
import sys
from dllab.viz import setup_lesson
lesson = setup_lesson({name!r}, argv=["lesson.py", {out!r}])
print("taught")
{tail}
"""


def run_lesson(tmp_path: Path, workspace: Path | str, name: str = "01-99-demo", tail: str = ""):
    source = SCRIPT.format(name=name, out=str(tmp_path / "figures"), tail=tail)
    env = {**os.environ, "DLLAB_LAB": str(workspace), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", source], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_a_lesson_that_runs_to_its_end_is_recorded_done(tmp_path) -> None:
    ws = tmp_path / "ws"
    record.record_lesson(ws, "01-99-demo", finished=True)  # an earlier run
    result = run_lesson(tmp_path, ws)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    entry = record.load_record(ws).lessons["01-99-demo"]
    assert (entry.runs, entry.finished, entry.edited) == (1, 2, False)
    assert record.lesson_status(entry) == "done"


def test_a_lesson_that_fails_is_recorded_started_not_done(tmp_path) -> None:
    ws = tmp_path / "ws"
    result = run_lesson(tmp_path, ws, tail="raise AssertionError('a claim did not hold')")
    assert result.returncode == 1 and "a claim did not hold" in result.stderr
    entry = record.load_record(ws).lessons["01-99-demo"]
    assert (entry.runs, entry.finished) == (1, 0) and record.lesson_status(entry) == "started"


def test_recording_keeps_the_exercises_already_in_the_record(tmp_path) -> None:
    ws = tmp_path / "ws"
    record.record_check(ws, "conv2d", passed=True, score="6/6")
    record.record_lesson(ws, "01-99-demo", finished=True)
    loaded = record.load_record(ws)
    assert loaded.exercises["conv2d"].passed and not loaded.exercises["conv2d"].edited
    assert loaded.lessons["01-99-demo"].finished == 1
    record.record_hint(ws, "conv2d", 3)  # and a later lab command keeps the lesson
    assert record.load_record(ws).lessons["01-99-demo"].finished == 1


@pytest.mark.parametrize("problem", ["unwritable", "corrupt"])
def test_a_workspace_that_cannot_record_costs_one_line_not_the_lesson(
    tmp_path, monkeypatch, capsys, problem
) -> None:
    if problem == "unwritable":
        (tmp_path / "a-file").write_text("keep\n", encoding="utf-8")
        ws = tmp_path / "a-file" / "ws"  # a path through a file: no one can create it
    else:
        ws = tmp_path / "ws"
        ws.mkdir()
        (ws / ".progress.json").write_text("{half a record", encoding="utf-8")
    monkeypatch.setenv("DLLAB_LAB", str(ws))
    lesson = setup_lesson("01-99-demo", argv=["lesson.py", str(tmp_path / "figures")])
    assert lesson.out.is_dir()  # the lesson goes on
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "not recorded in your lab progress" in lines[0], lines
    if problem == "corrupt":
        assert (ws / ".progress.json").read_text(encoding="utf-8") == "{half a record"
    else:
        assert (tmp_path / "a-file").read_text(encoding="utf-8") == "keep\n"


def test_only_course_lessons_are_recorded(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DLLAB_LAB", str(tmp_path / "ws"))
    setup_lesson("demo", argv=["lesson.py", str(tmp_path / "figures")])
    assert not (tmp_path / "ws").exists()


def test_a_hand_edited_lesson_entry_is_reported_then_restarted(tmp_path) -> None:
    ws = tmp_path / "ws"
    record.record_lesson(ws, "01-01-x", finished=False)
    raw = json.loads((ws / ".progress.json").read_text("utf-8"))
    raw["lessons"]["01-01-x"]["finished"] = 1
    (ws / ".progress.json").write_text(json.dumps(raw), encoding="utf-8")
    entry = record.load_record(ws).lessons["01-01-x"]
    assert entry.edited and record.lesson_status(entry) == "edited"
    record.record_lesson(ws, "01-01-x", finished=False)  # a real run starts it afresh
    entry = record.load_record(ws).lessons["01-01-x"]
    assert not entry.edited and (entry.runs, entry.finished) == (1, 0)
