"""The CLI's one error boundary: every fault ends as one stderr line and a known exit status
(2 for a user's mistake, 1 for a bug, 130 for Ctrl-C), and no existing file changes."""

import json
import os
import shutil
import signal

import pytest
from safetensors import safe_open
from safetensors.torch import save_file

from tests import _warm

from .conftest import hashes, one_line

pytest.importorskip("onnxruntime")  # `export` needs the deploy extra


def test_export_refuses_to_overwrite_an_existing_file_without_force(finished_run, tmp_path, dllab):
    notes, meta = tmp_path / "notes.txt", tmp_path / "model.json"
    notes.write_text("my notes\n")
    meta.write_text('{"mine": true}\n')
    before = hashes(tmp_path, finished_run)
    line = one_line(dllab("export", str(finished_run), "--out", str(notes), cwd=tmp_path))
    assert "notes.txt" in line and "model.json" in line and "--force" in line
    assert hashes(tmp_path, finished_run) == before
    meta.unlink()  # model.json alone also blocks: a separate folder
    alone = tmp_path / "other"
    alone.mkdir()
    (alone / "model.json").write_text("{}")
    line = one_line(
        dllab("export", str(finished_run), "--out", str(alone / "m.onnx"), cwd=tmp_path)
    )
    assert "model.json" in line and not (alone / "m.onnx").exists()


def test_export_with_force_replaces_the_file(finished_run, tmp_path, dllab):
    notes = tmp_path / "notes.onnx"
    notes.write_text("old")
    out = dllab("export", str(finished_run), "--out", str(notes), "--force", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert notes.read_bytes() != b"old" and (tmp_path / "model.json").is_file()
    assert not list(tmp_path.glob("*.tmp"))  # the write was atomic: no leftovers


def test_data_download_dest_that_is_a_file(tmp_path, dllab):
    dest = tmp_path / "data.bin"
    dest.write_bytes(b"\x00keep")
    before = hashes(tmp_path)
    line = one_line(dllab("data", "download", "mnist", "--dest", str(dest), cwd=tmp_path))
    assert "data.bin" in line and "not a folder" in line
    assert hashes(tmp_path) == before


@pytest.mark.parametrize(
    "content",
    [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "name: caf\xe9\ntask: x\n".encode("latin-1")],
    ids=["binary", "latin-1"],
)
def test_recipe_that_is_not_utf8_names_the_file(tmp_path, dllab, content):
    recipe = tmp_path / "my-recipe.yaml"
    recipe.write_bytes(content)
    line = one_line(dllab("run", str(recipe), cwd=tmp_path))
    assert "my-recipe.yaml" in line and "UTF-8" in line
    assert not (tmp_path / "runs").exists()


def test_run_dir_under_a_regular_file(tmp_path, dllab):
    # Tests run as root, where chmod 0555 stops nothing: a path under a file always fails.
    blocker = tmp_path / "somefile"
    blocker.write_text("keep me")
    before = hashes(tmp_path)
    line = one_line(dllab("run", "quickstart", "--run-dir", "somefile/run", cwd=tmp_path))
    assert "somefile/run" in line and "Not a directory" in line
    assert hashes(tmp_path) == before


def test_resume_with_mismatched_tensor_shapes_names_the_tensor(finished_run, tmp_path, dllab):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    (run / "summary.json").unlink()  # an unfinished run, so it can be resumed
    last = run / "checkpoints" / "last.safetensors"
    with safe_open(str(last), framework="pt") as f:
        header = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118  safe_open has no iter
    name = next(k for k in sorted(tensors) if k.startswith("s.model.") and k.endswith(".weight"))
    tensors[name] = tensors[name][..., :1].contiguous()  # a different shape
    save_file(tensors, str(last), metadata=header)
    before = hashes(run / "checkpoints")
    line = one_line(dllab("run", "quickstart", "--resume", str(run), cwd=tmp_path))
    assert name.removeprefix("s.model.") in line and "checkpoint" in line
    assert hashes(run / "checkpoints") == before


BOOM = """
from dllab.tasks import TASKS
from dllab.tasks.classification import ClassificationTask


@TASKS.register("boom")
class BoomTask(ClassificationTask):
    def setup(self, *, rank=0, world=1):
        raise RuntimeError("a plugin bug")
"""


def test_unexpected_exception_asks_for_debug_and_a_report(tmp_path, dllab):
    (tmp_path / "boom_task.py").write_text(BOOM)
    recipe = tmp_path / "boom.yaml"
    recipe.write_text("name: boom\nimports: [boom_task]\ntask: boom\ndata: {name: digits}\n")
    line = one_line(dllab("run", str(recipe), cwd=tmp_path), status=1)
    assert "RuntimeError: a plugin bug" in line and "--debug" in line and "report" in line
    out = dllab("--debug", "run", str(recipe), cwd=tmp_path)
    assert out.returncode == 1 and "Traceback" in out.stderr


@pytest.mark.parametrize(
    ("args", "after", "hint"),
    [
        # The first validation writes the first checkpoint: from then on, resume is possible.
        ([], "validation after epoch 1", "continue with `dllab run quickstart --resume r`"),
        # Small batches: a long first epoch, so the first progress line comes well before it.
        (
            ["data.batch_size=4"],
            "step ",
            "start again with `dllab run quickstart data.batch_size=4 --run-dir r`",
        ),
    ],
    ids=["after-first-checkpoint", "before-first-checkpoint"],
)
def test_ctrl_c_during_training_says_where_to_continue(tmp_path, args, after, hint):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # each progress line as it is printed
    # forked warm (tests/_warm.py), with Python's own SIGINT handler whatever the runner's
    proc = _warm.start("module", "dllab", "run", "quickstart", *args, "--run-dir", "r",
                       cwd=tmp_path, env=env)  # fmt: skip
    try:
        assert proc.wait_for_line(lambda line: line.startswith(after), timeout=120)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        err = proc.stderr()
    finally:
        proc.close()
    assert proc.returncode == 130, err
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("dllab: interrupted at step ") and hint in lines[0], lines[0]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["run", "quickstart", "--bogus"], "--bogus"),
        (["run"], "recipe"),
        (["list", "things"], "things"),
    ],
    ids=["unknown-option", "missing-argument", "bad-choice"],
)
def test_usage_errors_are_one_line(tmp_path, dllab, args, words):
    line = one_line(dllab(*args, cwd=tmp_path))
    assert words in line and "--help" in line


@pytest.mark.parametrize("bad", ["[]", "{}", '"text"', "{not json"])
def test_runs_shows_a_bad_summary_as_unreadable(finished_run, tmp_path, dllab, bad):
    root = tmp_path / "runs"
    shutil.copytree(finished_run, root / "good")
    shutil.copytree(finished_run, root / "bad")
    (root / "bad" / "summary.json").write_text(bad)
    before = hashes(root)
    out = dllab("runs", "--root", str(root), cwd=tmp_path)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    rows = {line.split()[1]: line for line in out.stdout.splitlines() if "│ " in line}
    assert "unreadable" in rows["bad"] and "accuracy" in rows["good"]
    assert hashes(root) == before


def test_runs_with_a_missing_root_says_so(tmp_path, dllab):
    line = one_line(dllab("runs", "--root", "nowhere", cwd=tmp_path))
    assert "nowhere" in line and "does not exist" in line


def test_a_valid_summary_still_lists(finished_run, dllab, tmp_path):
    summary = json.loads((finished_run / "summary.json").read_text())
    out = dllab("runs", "--root", str(finished_run.parent), cwd=tmp_path)
    assert out.returncode == 0 and str(summary["steps"]) in out.stdout
