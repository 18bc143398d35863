"""Issue 13, item 5: the recipe and override mistakes. Each is refused while the recipe is
resolved: exit status 2, one stderr line naming what was wrong, and nothing in the working
folder changed or created (no run folder either). Also the settings that can only fail later,
which item 3 moves to resolution (val/test fractions, a too-short schedule, a monitor no task
reports, fp16 on a CPU).
"""

from __future__ import annotations

import pytest

from ._cases import cases, cli
from .conftest import hashes, one_line

BILLION_LAUGHS = "name: x\n" + "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9) if i else 'lol'}]\n" for i in range(7)
)
BILLION_LAUGHS += "imports: *l6\n"  # 9^6 list items by reference (the real bomb has 9^9)

# (id, recipe file text, words the error line must contain)
RECIPE_FILES = [
    ("bad-yaml", "name: [unclosed\ntask: x\n", ["bad.yaml", "not valid YAML", "line"]),
    ("tab-indented", "name: x\ndata:\n\tname: digits\n", ["bad.yaml", "not valid YAML"]),
    ("a-list", "- name: x\n- task: classification\n", ["bad.yaml", "mapping"]),
    ("empty-file", "", ["bad.yaml", "mapping"]),
    ("only-comments", "# a recipe, some day\n", ["bad.yaml", "mapping"]),
    ("a-scalar", "quickstart\n", ["bad.yaml", "mapping"]),
    ("unknown-key", "name: x\nnmae: y\n", ["nmae"]),
    ("unknown-nested-key", "name: x\ndata: {bacth_size: 4}\n", ["data.bacth_size"]),
    ("wrong-type", "name: x\ntrain: {max_epochs: two}\n", ["train.max_epochs", "two"]),
    ("section-not-a-mapping", "name: x\ndata: 5\n", ["data"]),
    ("no-name", "task: classification\n", ["name"]),
    ("negative-lr", "name: x\noptim: {lr: -0.1}\n", ["optim.lr", "-0.1"]),
    ("unknown-model", "name: x\nmodel: {name: resnet999}\n", ["resnet999"]),
    ("unknown-task", "name: x\ntask: clasification\n", ["clasification", "classification"]),
    ("unknown-dataset", "name: x\ndata: {name: mnits}\n", ["mnits", "mnist"]),
    ("unknown-import", "name: x\nimports: [no_such_module_here]\n", ["no_such_module_here"]),
    # A YAML tag that would run a command under an unsafe loader: it must stay text.
    ("python-tag", "!!python/object/apply:os.system ['touch PWNED']\n", ["bad.yaml", "YAML"]),
    ("billion-laughs", BILLION_LAUGHS, ["imports"]),  # the echoed value is cut short
]

# (id, overrides of the quickstart recipe, words the error line must contain)
OVERRIDES = [
    ("unknown-key", ["train.max_epocs=2"], ["train.max_epocs", "train.max_epochs"]),
    ("wrong-type", ["train.max_epochs=two"], ["train.max_epochs", "two"]),
    ("not-key-value", ["max_epochs"], ["max_epochs", "key=value"]),
    ("empty-key", ["=3"], ["=3", "key=value"]),
    ("below-a-value", ["optim.lr.x=1"], ["optim.lr.x"]),
    ("a-section-as-a-value", ["data=5"], ["data"]),
    ("negative-lr", ["optim.lr=-1"], ["optim.lr", "-1"]),
    ("nan-lr", ["optim.lr=.nan"], ["optim.lr"]),
    ("zero-batch-size", ["data.batch_size=0"], ["data.batch_size", "0"]),
    ("val-fraction-above-one", ["data.val_fraction=1.5"], ["data.val_fraction", "1.5"]),
    ("unknown-precision", ["train.precision=fp8"], ["train.precision", "fp8"]),
    ("unknown-monitor-mode", ["train.monitor_mode=median"], ["train.monitor_mode", "median"]),
    ("follow-time-without-a-budget", ["schedule.follow_time=true"], ["train.max_time"]),
    ("unknown-model", ["model.name=resnet999"], ["resnet999"]),
    ("unknown-task", ["task=clasification"], ["clasification"]),
    ("unknown-dataset", ["data.name=mnits"], ["mnits"]),
    ("unknown-task-option", ["task.bogus_option=1"], ["bogus_option"]),
    ("model-kwarg-of-a-wrong-type", ["model.kwargs.dropout=lots"], ["dropout", "lots"]),
    ("folder-without-a-path", ["data.name=folder"], ["path"]),
    ("folder-that-does-not-exist", ["data.name=folder", "data.path=nowhere"], ["nowhere"]),
]


@pytest.fixture
def workdir(tmp_path):
    """A working folder that already holds a user's file and an earlier run."""
    (tmp_path / "keep.txt").write_text("my notes\n")
    (tmp_path / "runs" / "old").mkdir(parents=True)
    (tmp_path / "runs" / "old" / "config.yaml").write_text("name: quickstart\n")
    return tmp_path


def refused(workdir, *args: str) -> str:
    """Run `dllab ARGS` in `workdir`; check it exits 2 with one line and changes nothing."""
    before = hashes(workdir)
    line = one_line(cli(*args, cwd=workdir))
    assert line.startswith("dllab: error: ") and len(line) < 2000, line[:2000]
    assert hashes(workdir) == before  # nothing changed, and no file (or run folder) created
    return line


@pytest.mark.parametrize(("text", "words"), cases(*RECIPE_FILES))
def test_a_bad_recipe_file_is_one_line(workdir, text, words):
    (workdir / "bad.yaml").write_text(text, encoding="utf-8")
    line = refused(workdir, "run", "bad.yaml")
    assert all(w in line for w in words), line
    assert not (workdir / "PWNED").exists()


@pytest.mark.parametrize(("overrides", "words"), cases(*OVERRIDES))
def test_a_bad_override_is_one_line(workdir, overrides, words):
    line = refused(workdir, "run", "quickstart", *overrides)
    assert all(w in line for w in words), line


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["run", "quikstart"], ["quikstart", "quickstart"]),
        (["run", "missing.yaml"], ["missing.yaml", "does not exist"]),
        (["run", "runs"], ["runs"]),  # a folder, not a recipe
        (["run", "quickstart", "--resume", "runs/old", "optim.lr=1"], ["--resume", "overrides"]),
    ],
    ids=["unknown-recipe", "missing-recipe-file", "a-folder-as-recipe", "resume-with-overrides"],
)
def test_a_bad_command_line_is_one_line(workdir, args, words):
    line = refused(workdir, *args)
    assert all(w in line for w in words), line


# Settings that used to fail only after data was loaded or training started (issue 13, item
# 3): refused at resolution now, before a run folder exists.
LATE = [
    ("val-fraction-zero", ["data.val_fraction=0"], ["data.val_fraction"]),
    ("test-fraction-zero", ["data.test_fraction=0"], ["data.test_fraction"]),
    ("test-fraction-one", ["data.test_fraction=1"], ["data.test_fraction"]),
    ("monitor-no-task-reports", ["train.monitor=val/bogus"], ["val/bogus", "val/accuracy"]),
    ("fp16-on-a-cpu", ["train.precision=fp16", "train.device=cpu"], ["fp16"]),
]


@pytest.mark.parametrize(("overrides", "words"), cases(*LATE))
def test_a_setting_that_could_only_fail_later_is_refused_first(workdir, dllab, overrides, words):
    # A subprocess: if the setting got through, training would start, and not in this process.
    before = hashes(workdir)
    out = dllab(
        "run", "quickstart", *overrides, "train.max_steps=2", "schedule.name=none", cwd=workdir
    )
    line = one_line(out)
    assert all(w in line for w in words), line
    assert out.stdout == "", out.stdout  # refused before anything started
    assert hashes(workdir) == before


def test_a_schedule_too_short_for_its_warmup_trains_or_is_refused_in_one_line(workdir, dllab):
    # quickstart's onecycle over 5 steps (pct_start 0.2): one warmup step, no traceback.
    out = dllab("run", "quickstart", "train.max_steps=5", "--run-dir", "runs/five", cwd=workdir)
    if out.returncode == 0:
        assert (workdir / "runs" / "five" / "summary.json").is_file()
        return
    line = one_line(out)
    assert "train.max_steps" in line or "schedule" in line, line
    assert not (workdir / "runs" / "five").exists()
