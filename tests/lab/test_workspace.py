"""The lab workspace is found wherever the learner stands: --dir, $DLLAB_LAB, the nearest
`dllab-lab/` above, then a per-user folder; the lab commands use it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from dllab.errors import DllabError
from dllab.lab.commands import app
from dllab.lab.workspace import existing_workspace, find_workspace, user_default

runner = CliRunner()
EN = {"LC_ALL": "C.UTF-8"}


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp_path/project/dllab-lab and tmp_path/project/src/deep; the learner stands in deep."""
    (tmp_path / "project" / "dllab-lab").mkdir(parents=True)
    (tmp_path / "project" / "src" / "deep").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "project" / "src" / "deep")
    monkeypatch.delenv("DLLAB_LAB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return tmp_path


def test_the_order_is_dir_then_env_then_nearest_then_per_user(tree, monkeypatch) -> None:
    nearest = tree / "project" / "dllab-lab"
    assert find_workspace() == type(find_workspace())(nearest, "nearest")
    monkeypatch.setenv("DLLAB_LAB", str(tree / "env-lab"))
    assert find_workspace().path == tree / "env-lab" and find_workspace().found_by == "env"
    assert find_workspace(tree / "given").found_by == "option"
    monkeypatch.delenv("DLLAB_LAB")
    monkeypatch.chdir(tree)
    found = find_workspace()
    assert found.path == tree / "xdg" / "dllab" / "lab" and found.found_by == "user"
    assert not found.path.exists()  # finding creates nothing


def test_standing_inside_the_workspace_finds_it(tree, monkeypatch) -> None:
    monkeypatch.chdir(tree / "project" / "dllab-lab")
    assert find_workspace().path == tree / "project" / "dllab-lab"


def test_the_per_user_folder_follows_each_platform(monkeypatch) -> None:
    monkeypatch.setattr(Path, "home", lambda: Path("/home/ada"))
    assert user_default({}, "linux") == Path("/home/ada/.local/share/dllab/lab")
    assert user_default({"XDG_DATA_HOME": "/data"}, "linux") == Path("/data/dllab/lab")
    assert user_default({}, "darwin") == Path("/home/ada/Library/Application Support/dllab/lab")
    assert user_default({"LOCALAPPDATA": "C:/Users/ada/AppData/Local"}, "win32") == Path(
        "C:/Users/ada/AppData/Local/dllab/lab"
    )


def test_lab_commands_use_the_nearest_workspace_from_a_subfolder(tree) -> None:
    result = runner.invoke(app, ["start", "conv2d"], env=EN)
    assert result.exit_code == 0, result.output
    assert (tree / "project" / "dllab-lab" / "conv2d.py").is_file()
    assert not Path("conv2d.py").exists() and not Path("dllab-lab").exists()
    runner.invoke(app, ["hint", "conv2d"], env=EN)
    assert (tree / "project" / "dllab-lab" / ".progress.json").is_file()
    listed = runner.invoke(app, ["list"], env=EN).output
    assert str(tree / "project" / "dllab-lab") in listed and "conv2d" in listed


def test_a_workspace_that_is_a_file_is_one_line_and_the_file_is_kept(tree) -> None:
    path = tree / "notes.txt"
    path.write_text("mine\n", encoding="utf-8")
    for args in (["start", "conv2d"], ["hint", "conv2d"], ["list"], ["solution", "conv2d"]):
        result = runner.invoke(app, [*args, "--dir", str(path)], env=EN)
        assert isinstance(result.exception, DllabError), args
        assert "is a file, not a folder" in str(result.exception)
    assert path.read_text(encoding="utf-8") == "mine\n"


def test_a_folder_that_cannot_be_created_is_one_line(tree) -> None:
    (tree / "a-file").write_text("keep\n", encoding="utf-8")
    where = tree / "a-file" / "lab"
    for args in (["start", "conv2d"], ["hint", "conv2d"]):
        result = runner.invoke(app, [*args], env={**EN, "DLLAB_LAB": str(where)})
        assert isinstance(result.exception, DllabError), (args, result.exception)
        assert "\n" not in str(result.exception) and "choose a writable folder" in str(
            result.exception
        )
    assert (tree / "a-file").read_text(encoding="utf-8") == "keep\n"


def test_reading_a_named_workspace_that_does_not_exist_is_an_error(tree) -> None:
    with pytest.raises(DllabError, match="does not exist"):
        existing_workspace(tree / "typo")
    assert existing_workspace().found_by == "nearest"  # a found one may be empty
    result = runner.invoke(app, ["list", "--dir", str(tree / "typo")], env=EN)
    assert isinstance(result.exception, DllabError) and not (tree / "typo").exists()
