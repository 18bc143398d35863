"""`dllab course`: the stage in teaching order, found lessons, placed recipes, status and next."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from dllab.course.commands import app
from dllab.course.errors import CourseError
from dllab.course.lessons import discover, read_title
from dllab.course.state import DONE, IN_PROGRESS, TODO, read_course
from dllab.course.syllabus import STAGES, get_stage, place_recipe
from dllab.errors import DllabError
from dllab.lab import progress as record
from dllab.lab.catalog import EXERCISES

from .conftest import RECIPES, make_run, pass_exercises

runner = CliRunner()
EN = {"LC_ALL": "C.UTF-8"}


def _read(dirs, **kw):
    recipes = {n: {"en": d, "zh": d} for n, d in RECIPES.items()}
    return read_course(dirs["ws"], lessons_dir=dirs["lessons"], runs_root=dirs["runs"],
                       recipes=kw.pop("recipes", recipes), **kw)  # fmt: skip


def test_the_stage_follows_page_000_with_the_projects_where_page_001_puts_them() -> None:
    keys = [s.key for s in STAGES]
    assert keys == ["01", "02", "03", "P01", "P02", "04", "05", "P06", "P07", "06",
                    "P03", "P04", "P05", "07", "08"]  # fmt: skip
    assert [s.key for s in STAGES if s.elective] == ["P03", "P04", "P05"]
    assert get_stage("02").title == {"en": "PyTorch basics", "zh": "PyTorch基础"}
    assert get_stage("p1").key == "P01" and get_stage("3").key == "03"


def test_lessons_are_found_by_their_prefix_and_titled_by_their_heading(course_dirs) -> None:
    lessons = discover(course_dirs["lessons"])
    assert [lesson.name for lesson in lessons] == ["01-01-alpha", "01-02-beta", "04-01-gamma"]
    assert lessons[0].title == {"en": "Alpha", "zh": "甲"}
    assert lessons[1].title == {"en": "Beta", "zh": "Beta"}  # no Chinese part: English in both
    assert lessons[2].module == "04" and lessons[2].exercises == ("lstm_cell",)
    assert read_title("print(1)\n", "05-09-x") == {"en": "05-09-x", "zh": "05-09-x"}


def test_a_new_lesson_file_appears_without_any_list_to_edit(course_dirs) -> None:
    assert not _read(course_dirs).stage("02").built
    (course_dirs["lessons"] / "02-01-tensors.py").write_text("# # 02-01 · Tensors\n", "utf-8")
    course = _read(course_dirs)
    assert course.stage("02").built
    assert [s.name for s in course.stage("02").lessons] == ["02-01-tensors"]


def test_recipes_go_to_the_stage_of_their_longest_prefix() -> None:
    assert place_recipe("fashion-mnist-vit")[0].key == "05"
    assert place_recipe("fashion-mnist-fast")[0].key == "06"
    assert place_recipe("fashion-mnist-probe")[0].key == "03"
    assert place_recipe("defects-patchcore")[0].key == "P01"
    assert place_recipe("detection-scenes")[0].key == "P02"
    assert place_recipe("translate-en-zh")[0].key == "P06"
    assert place_recipe("zzz-odd") is None


def test_a_project_is_built_once_a_recipe_with_its_prefix_exists(course_dirs) -> None:
    course = _read(course_dirs)
    assert course.stage("P01").built and not course.stage("P02").built
    assert [s.name for g in course.stage("P01").groups for s in g.recipes] == ["defects-demo"]
    assert course.unplaced == ["zzz-odd"]


def test_every_exercise_sits_in_one_module(course_dirs) -> None:
    course = _read(course_dirs)
    placed = [s.name for state in course.stages for s in state.exercises]
    assert sorted(placed) == sorted(e.name for e in EXERCISES)
    modules = {s.name: state.stage.key for state in course.stages for s in state.exercises}
    assert modules["mlp_backprop"] == "01" and modules["tensor_ops"] == "02"
    assert modules["conv2d"] == "03" and modules["lstm_cell"] == "04"
    assert modules["attention"] == "05" and modules["checkpoint"] == "02"


def test_status_comes_from_the_record_the_exercise_files_and_the_runs(course_dirs) -> None:
    ws, runs = course_dirs["ws"], course_dirs["runs"]
    record.record_lesson(ws, "01-01-alpha", finished=False)
    record.record_lesson(ws, "01-01-alpha", finished=True)
    record.record_lesson(ws, "01-02-beta", finished=False)
    pass_exercises(ws, ["mlp_backprop"])
    (ws / "softmax_xent.py").write_text("# started\n", encoding="utf-8")
    make_run(runs, "quickstart-20250101-120000", "quickstart", finished=True)
    make_run(runs, "fashion-mnist-20250101-120000", "fashion-mnist", finished=False)
    course = _read(course_dirs)
    status = {s.name: s.status for st in course.stages for s in [*st.lessons, *st.exercises]}
    assert status["01-01-alpha"] == DONE and status["01-02-beta"] == IN_PROGRESS
    assert status["mlp_backprop"] == DONE and status["softmax_xent"] == IN_PROGRESS
    assert status["gradient_norms"] == TODO
    assert course.stage("02").groups[0].status == DONE
    assert [g.status for g in course.stage("06").groups] == [IN_PROGRESS, TODO]
    assert course.stage("01").status == IN_PROGRESS and course.stage("05").status == TODO


def test_next_walks_lessons_then_exercises_then_one_run_per_group(course_dirs) -> None:
    ws, runs = course_dirs["ws"], course_dirs["runs"]
    state, step = _read(course_dirs).next_step()
    assert (state.stage.key, step.name) == ("01", "01-01-alpha")
    assert step.command.startswith("python ") and step.command.endswith("01-01-alpha.py")
    for name in ("01-01-alpha", "01-02-beta"):
        record.record_lesson(ws, name, finished=True)
    assert _read(course_dirs).next_step()[1].command == "dllab lab start perceptron"
    (ws / "perceptron.py").write_text("# mine\n", encoding="utf-8")
    assert _read(course_dirs).next_step()[1].command == "dllab lab check perceptron"
    pass_exercises(ws, [e.name for e in EXERCISES])
    # 01 is done (it has no recipe); 02 has no lessons here: its run is next
    assert _read(course_dirs).next_step()[1].command == "dllab run quickstart"
    folder = make_run(runs, "mine", "quickstart", finished=False, checkpoint=True)
    assert (
        _read(course_dirs).next_step()[1].command
        == f"dllab run quickstart --resume {folder.relative_to(course_dirs['ws'].parent)}"
    )


def test_electives_come_last_and_a_finished_course_says_so(course_dirs) -> None:
    ws, runs = course_dirs["ws"], course_dirs["runs"]
    for lesson in discover(course_dirs["lessons"]):
        record.record_lesson(ws, lesson.name, finished=True)
    pass_exercises(ws, [e.name for e in EXERCISES])
    for name in (
        "quickstart",
        "defects-demo",
        "fashion-mnist",
        "fashion-mnist-vit",
        "sentiment-zh",
    ):
        make_run(runs, name, name, finished=True)
    assert _read(course_dirs).next_step() is None  # P02-P07 have no recipe here: not built
    recipes = {n: {"en": n, "zh": n} for n in [*RECIPES, "ocr-receipts", "ner-demo"]}
    state, step = _read(course_dirs, recipes=recipes).next_step()
    assert step.command == "dllab run ner-demo"  # P07 comes before the elective P03
    make_run(runs, "ner", "ner-demo", finished=True)
    state, step = _read(course_dirs, recipes=recipes).next_step()
    assert state.stage.key == "P03" and step.command == "dllab run ocr-receipts"


def test_course_prints_every_stage_in_order_with_built_state_and_next(course_dirs) -> None:
    result = runner.invoke(app, ["--dir", str(course_dirs["ws"])], env=EN)
    assert result.exit_code == 0, result.output
    out = result.output
    starts = [out.index(f"\n{key} ") for key in ("01", "02", "03", "P01", "P02", "04", "05",
                                                  "P06", "P07", "06", "P03", "P04", "P05",
                                                  "07", "08")]  # fmt: skip
    assert starts == sorted(starts)
    assert "lab workspace: " + str(course_dirs["ws"]) + " (given with --dir)" in out
    assert "P05 Medical image analysis" in out and "not built yet" in out
    assert "\nNext: " in out
    zh = runner.invoke(app, ["--dir", str(course_dirs["ws"]), "--lang", "zh"], env=EN).output
    assert "神经网络基础" in zh and "下一步：" in zh and "工业视觉检测" in zh
    by_locale = runner.invoke(app, ["--dir", str(course_dirs["ws"])], env={"LC_ALL": "zh_CN.UTF-8"})
    assert "深度学习阶段" in by_locale.output


def test_course_next_prints_one_command_then_a_comment(course_dirs) -> None:
    result = runner.invoke(app, ["next", "--dir", str(course_dirs["ws"])], env=EN)
    assert result.exit_code == 0, result.output
    command, why = result.output.splitlines()
    assert command.startswith(("python ", "dllab ")) and why.startswith("# ")


def test_course_show_one_stage_and_unknown_keys_are_one_line_errors(course_dirs) -> None:
    shown = runner.invoke(app, ["show", "p1", "--dir", str(course_dirs["ws"])], env=EN).output
    assert "P01 Industrial visual inspection" in shown and "\n01 " not in shown
    result = runner.invoke(app, ["show", "P9", "--dir", str(course_dirs["ws"])], env=EN)
    assert isinstance(result.exception, CourseError)
    assert "no module or project called 'P9'" in str(result.exception)
    assert "\n" not in str(result.exception)
    bad_lang = runner.invoke(app, ["--lang", "fr", "--dir", str(course_dirs["ws"])], env=EN)
    assert isinstance(bad_lang.exception, DllabError)


def test_a_corrupt_record_is_an_error_and_is_kept(course_dirs) -> None:
    path = course_dirs["ws"] / ".progress.json"
    path.write_text('{"version": 2, "exercises": [', encoding="utf-8")
    result = runner.invoke(app, ["--dir", str(course_dirs["ws"])], env=EN)
    assert isinstance(result.exception, DllabError)
    assert "cannot read the lab record" in str(result.exception)
    assert path.read_text(encoding="utf-8") == '{"version": 2, "exercises": ['


@pytest.mark.parametrize("how", ["--dir", "DLLAB_LAB"])
def test_a_named_workspace_that_is_missing_or_a_file_is_an_error(course_dirs, how) -> None:
    for target, words in [(course_dirs["ws"] / "nope", "does not exist"),
                          (course_dirs["lessons"] / "01-01-alpha.py", "is a file")]:  # fmt: skip
        args, env = (
            (["--dir", str(target)], EN) if how == "--dir" else ([], {**EN, how: str(target)})
        )
        result = runner.invoke(app, ["next", *args], env=env)
        assert isinstance(result.exception, DllabError), result.output
        assert words in str(result.exception)
    assert not (course_dirs["ws"] / "nope").exists()  # reading creates nothing


def test_the_course_writes_nothing(course_dirs) -> None:
    ws = course_dirs["ws"]
    pass_exercises(ws, ["conv2d"])
    before = {p.name: p.read_bytes() for p in ws.iterdir()}
    runner.invoke(app, ["--dir", str(ws)], env=EN)
    runner.invoke(app, ["next", "--dir", str(ws)], env=EN)
    assert {p.name: p.read_bytes() for p in ws.iterdir()} == before
    assert json.loads((ws / ".progress.json").read_text("utf-8"))["exercises"]["conv2d"]["passed"]
