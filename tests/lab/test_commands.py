"""`dllab lab` commands and `dllab progress`, driven through typer's CliRunner."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from dllab.errors import DllabError
from dllab.lab.catalog import EXERCISES, skeleton_source, solution_source
from dllab.lab.checklist import ITEMS
from dllab.lab.commands import app, progress

runner = CliRunner()
EN = {"LC_ALL": "C.UTF-8"}  # tests do not depend on the machine's locale


def lab(folder, *args: str, env=EN):
    return runner.invoke(app, [*args, "--dir", str(folder)], env=env)


def _record(folder) -> dict:
    return json.loads((folder / ".progress.json").read_text(encoding="utf-8"))["exercises"]


@pytest.mark.parametrize("command", ["list", "start", "check", "hint", "solution"])
def test_every_command_has_help_with_lang_and_dir(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "--lang" in result.output and "--dir" in result.output


def test_list_shows_every_exercise_with_its_checklist_item(tmp_path) -> None:
    result = lab(tmp_path, "list")
    assert result.exit_code == 0
    for e in EXERCISES:
        assert e.name in result.output
    assert "-> Derive backpropagation by hand" in result.output
    assert "not started" in result.output


def test_start_writes_the_skeleton_and_never_overwrites_the_learners_file(tmp_path) -> None:
    result = lab(tmp_path, "start", "attention")
    assert result.exit_code == 0, result.output
    path = tmp_path / "attention.py"
    assert path.read_text(encoding="utf-8") == skeleton_source("attention")
    path.write_text("# my work\n", encoding="utf-8")
    again = lab(tmp_path, "start", "attention")
    assert isinstance(again.exception, DllabError)  # the CLI prints it and exits 2
    assert "already exists" in str(again.exception) and "\n" not in str(again.exception)
    assert path.read_text(encoding="utf-8") == "# my work\n"


def test_unknown_names_and_missing_files_are_user_errors(tmp_path) -> None:
    result = lab(tmp_path, "start", "convolution")
    assert isinstance(result.exception, DllabError) and "no exercise called" in str(
        result.exception
    )
    result = lab(tmp_path, "check", "conv2d")
    assert isinstance(result.exception, DllabError)
    assert "dllab lab start conv2d" in str(result.exception)
    result = lab(tmp_path, "list", "--lang", "fr")
    assert isinstance(result.exception, DllabError) and "en, zh" in str(result.exception)


def test_check_passes_the_reference_records_it_and_then_opens_the_solution(tmp_path) -> None:
    lab(tmp_path, "start", "maxpool")
    locked = lab(tmp_path, "solution", "maxpool")
    assert isinstance(locked.exception, DllabError)
    assert "opens after" in str(locked.exception) and "not checked yet" in str(locked.exception)

    (tmp_path / "maxpool.py").write_text(solution_source("maxpool"), encoding="utf-8")
    result = lab(tmp_path, "check", "maxpool", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert "PASS case 1: x (" in result.output
    assert "maxpool: passed, 6/6 cases" in result.output
    entry = _record(tmp_path)["maxpool"]
    assert entry["passed"] and entry["last_score"] == "6/6" and entry["checks"] == 1

    shown = lab(tmp_path, "solution", "maxpool")
    assert shown.exit_code == 0 and shown.output == solution_source("maxpool")


def test_a_failing_check_shows_each_case_with_seed_and_hint_in_chinese(tmp_path) -> None:
    lab(tmp_path, "start", "dropout")
    result = lab(tmp_path, "check", "dropout", "--seed", "2", "--lang", "zh")
    assert result.exit_code == 1
    assert "失败 用例 1（种子 " in result.output
    assert "`dropout_forward` 还没有实现" in result.output
    assert "提示：" in result.output
    assert "dllab lab check dropout --seed 2" in result.output
    entry = _record(tmp_path)["dropout"]
    assert not entry["passed"] and entry["last_result"] == "failed" and entry["last_score"] == "0/6"
    locked = lab(tmp_path, "solution", "dropout", "--lang", "zh")
    assert isinstance(locked.exception, DllabError) and "上次检查：0/6" in str(locked.exception)


def test_hints_are_revealed_one_at_a_time_and_counted(tmp_path) -> None:
    outputs = [lab(tmp_path, "hint", "attention").output for _ in range(4)]
    assert outputs[0].startswith("Hint 1/3 for attention: ")
    assert outputs[1].startswith("Hint 2/3")
    assert outputs[2].startswith("Hint 3/3") and "last hint" in outputs[2]
    assert outputs[3].startswith("Hint 3/3")  # no further hints; the count stays
    assert _record(tmp_path)["attention"]["hints_used"] == 3
    assert "(3 hints)" in lab(tmp_path, "list").output
    zh = lab(tmp_path, "hint", "conv2d", "--lang", "zh").output
    assert zh.startswith("conv2d 的提示 1/3：") and "输出尺寸" in zh


def test_the_language_follows_the_locale(tmp_path) -> None:
    zh = {"LC_ALL": None, "LC_MESSAGES": None, "LANG": "zh_CN.UTF-8"}
    assert "个练习" in lab(tmp_path, "list", env=zh).output
    en = {"LC_ALL": None, "LC_MESSAGES": None, "LANG": "en_GB.UTF-8"}
    assert "exercises in" in lab(tmp_path, "list", env=en).output


def test_progress_prints_all_fourteen_items_with_their_exercises(tmp_path, capsys) -> None:
    progress("en", tmp_path)
    out = capsys.readouterr().out
    assert out.count("[ ] ") == 14 and "0/14 items" in out
    for item in ITEMS:
        assert item.title["en"] in out
    for e in EXERCISES:
        assert f"{e.name}: not started" in out
    progress("zh", tmp_path)
    out = capsys.readouterr().out
    assert "阶段验收清单" in out and "能够保存和加载模型检查点" in out and "理论基础" in out


def test_an_item_is_checked_when_all_its_exercises_passed(tmp_path, capsys) -> None:
    record = {"version": 1, "exercises": {
        "conv2d": {"passed": True, "last_result": "passed", "last_score": "6/6", "checks": 1},
        "conv2d_backward": {"passed": True, "last_result": "passed", "last_score": "6/6",
                            "checks": 1},
        "maxpool": {"passed": True, "last_result": "passed", "last_score": "6/6", "checks": 2,
                    "hints_used": 2},
        "conv_transpose": {"passed": True, "last_result": "passed", "last_score": "6/6",
                           "checks": 1},
        "attention": {"passed": False, "last_result": "failed", "last_score": "2/6"},
    }}  # fmt: skip
    (tmp_path / ".progress.json").write_text(json.dumps(record), encoding="utf-8")
    progress("en", tmp_path)
    out = capsys.readouterr().out
    assert "[x] Know the arithmetic of convolution and pooling" in out
    assert "[ ] Understand the mathematics of attention" in out
    assert "maxpool: passed (2 hints)" in out and "attention: failed" in out
    assert f"1/14 items, 4/{len(EXERCISES)} exercises passed" in out


def test_an_unreadable_record_is_reported_and_kept(tmp_path) -> None:
    path = tmp_path / ".progress.json"
    path.write_text("{not json", encoding="utf-8")
    result = lab(tmp_path, "hint", "conv2d")
    assert isinstance(result.exception, DllabError)
    assert "cannot read the lab record" in str(result.exception)
    assert path.read_text(encoding="utf-8") == "{not json"


def test_the_record_is_replaced_atomically(tmp_path) -> None:
    for _ in range(3):
        lab(tmp_path, "hint", "checkpoint")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".progress.json", ".progress.key"]
    assert _record(tmp_path)["checkpoint"]["hints_used"] == 3


def test_an_error_in_chinese_gets_a_chinese_prefix(tmp_path) -> None:
    from dllab.error_lines import error_line

    result = lab(tmp_path, "check", "perceptron", "--lang", "zh")
    line, status = error_line(result.exception)
    assert status == 2 and line.startswith("错误：") and "不存在" in line
    result = lab(tmp_path, "check", "perceptron", "--lang", "en")
    assert error_line(result.exception)[0].startswith("error: ")
