"""`dllab progress`: the 14 checklist items with the lessons, exercises and runs behind each,
where it looked, and its HTML page (atomic, never over a file without --force)."""

from __future__ import annotations

import html.parser

import pytest
import typer
from typer.testing import CliRunner

from dllab.course.commands import progress
from dllab.errors import DllabError
from dllab.lab import progress as record
from dllab.lab.catalog import EXERCISES
from dllab.lab.checklist import ITEMS

from .conftest import make_run, pass_exercises

runner = CliRunner()
EN = {"LC_ALL": "C.UTF-8"}


def _cli() -> typer.Typer:
    """`progress` as the CLI registers it: `app.command("progress")(progress)`."""
    cli = typer.Typer()
    cli.command("progress")(progress)
    cli.command("unused")(lambda: None)  # two commands: typer keeps the name on the line
    return cli


def invoke(*args: str, env: dict | None = None):
    return runner.invoke(_cli(), ["progress", *args], env={**EN, **(env or {})})


def test_progress_names_the_workspace_it_used_and_how_it_found_it(course_dirs, tmp_path) -> None:
    out = invoke("--dir", str(course_dirs["ws"])).output
    assert f"lab workspace: {course_dirs['ws']} (given with --dir)" in out
    out = invoke(env={"DLLAB_LAB": str(course_dirs["ws"])}).output
    assert f"lab workspace: {course_dirs['ws']} (from $DLLAB_LAB)" in out
    nearest = tmp_path / "dllab-lab"
    nearest.mkdir()
    (tmp_path / "deep" / "er").mkdir(parents=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path / "deep" / "er")
        out = invoke().output
    assert f"lab workspace: {nearest} (the nearest dllab-lab/ above the current folder)" in out


def test_progress_shows_lessons_exercises_and_runs_against_the_items(course_dirs) -> None:
    ws = course_dirs["ws"]
    record.record_lesson(ws, "01-03-backprop-by-hand", finished=True)
    backprop_exercises = [e.name for e in EXERCISES if e.item == "backprop"]
    pass_exercises(ws, backprop_exercises)
    make_run(course_dirs["runs"], "cifar", "cifar10-resnet20", finished=True)
    result = invoke("--dir", str(ws))
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.count("  [x] ") + out.count("  [ ] ") == len(ITEMS)
    assert "  [x] Derive backpropagation by hand" in out
    assert "What you can do now:\n  - You can work out every gradient" in out
    backprop = out.split("  [x] Derive backpropagation by hand")[1].split("  [")[0]
    lessons = next(line for line in backprop.splitlines() if "lessons: " in line)
    assert "01-03 done" in lessons and "01-01 not started" in lessons  # lessons that hand it out
    assert "runs: cifar10-resnet20 (runs/cifar)" in out  # CNN: reproduce ResNet
    assert "next: dllab lab start gradient_norms" in out
    assert f"1/14 items, {len(backprop_exercises)}/" in out and "1 project runs finished" in out


def test_a_hand_edited_record_is_reported_and_not_counted(course_dirs) -> None:
    ws = course_dirs["ws"]
    record.record_lesson(ws, "01-01-neuron-perceptron", finished=True)
    path = ws / ".progress.json"
    path.write_text(path.read_text("utf-8").replace('"finished": 1', '"finished": 5'), "utf-8")
    out = invoke("--dir", str(ws)).output
    assert "edited by hand for 01-01-neuron-perceptron" in out
    assert "01-01 not started" in out or "01-01 in progress" in out


def test_progress_in_chinese(course_dirs) -> None:
    out = invoke("--dir", str(course_dirs["ws"]), "--lang", "zh").output
    assert "阶段验收清单" in out and "理论基础" in out and "你现在能做到：" in out
    assert "（由 --dir 指定）" in out


class _Text(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)


def test_html_page_holds_the_checklist_and_the_map(course_dirs, tmp_path) -> None:
    pass_exercises(course_dirs["ws"], ["conv2d", "conv2d_backward", "maxpool", "conv_transpose"])
    page = tmp_path / "progress.html"
    result = invoke("--dir", str(course_dirs["ws"]), "--html", str(page))
    assert result.exit_code == 0, result.output
    assert f"wrote {page}" in result.output
    source = page.read_text(encoding="utf-8")
    assert source.startswith("<!DOCTYPE html>") and source.rstrip().endswith("</html>")
    parser = _Text()
    parser.feed(source)
    shown = " ".join(parser.chunks)
    for item in ITEMS:
        assert item.title["en"] in shown
    assert "You can compute what a convolution" in shown  # conv_pool is done
    assert "Neural-network basics" in shown and "Medical image analysis" in shown
    assert "<script" not in source  # a page to open offline, nothing runs
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".progress")) == []


def test_html_never_replaces_a_file_without_force(course_dirs, tmp_path) -> None:
    page = tmp_path / "mine.html"
    page.write_text("my notes\n", encoding="utf-8")
    result = invoke("--dir", str(course_dirs["ws"]), "--html", str(page))
    assert isinstance(result.exception, DllabError)
    assert "already exists and is kept; add --force" in str(result.exception)
    assert page.read_text(encoding="utf-8") == "my notes\n"
    result = invoke("--dir", str(course_dirs["ws"]), "--html", str(page), "--force")
    assert result.exit_code == 0 and "<!DOCTYPE html>" in page.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize("where", ["missing/progress.html", "a-folder", "a-file/progress.html"])
def test_html_to_a_path_that_cannot_be_written_is_one_line(course_dirs, tmp_path, where) -> None:
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "a-file").write_text("keep\n", encoding="utf-8")
    result = invoke("--dir", str(course_dirs["ws"]), "--html", str(tmp_path / where))
    assert isinstance(result.exception, DllabError), result.output
    assert "\n" not in str(result.exception)
    assert (tmp_path / "a-file").read_text(encoding="utf-8") == "keep\n"


def test_the_lab_commands_progress_is_the_same_view(course_dirs, capsys) -> None:
    from dllab.lab.commands import progress as lab_progress

    lab_progress("en", course_dirs["ws"])
    assert "Stage acceptance checklist: 0/14 items" in capsys.readouterr().out
