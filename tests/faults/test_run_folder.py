"""A run folder is owned (issue 13, item 1): one process at a time, a stale lock taken over, an
edited config refused on resume, and a run that fails before its first checkpoint leaves its
--run-dir reusable. Each case checks the exit status, the one stderr line, and that no file
that existed changed (sha256 before and after, the lock file's record of its owner included).
"""

from __future__ import annotations

import json
import os
import signal
import textwrap
from pathlib import Path

import yaml

from tests import _warm

from ._cases import cli
from .conftest import hashes, one_line

QUICK = ["train.max_steps=4", "schedule.name=none", "train.checkpoint_every=1"]

# Trains quickstart into argv[1] (overrides argv[2:]); after optimizer step 2 (step 1 is
# checkpointed: checkpoint_every=1, and extra callbacks run before Checkpoint's save of step 2)
# it says "ready" and then sleeps (HOLD) or
# SIGKILLs itself (KILL). With train.checkpoint_every=0 there is no checkpoint at that point.
CHILD = textwrap.dedent("""
    import os, signal, sys, time
    from pathlib import Path
    from dllab.config import load_recipe
    from dllab.experiment import run_recipe
    from dllab.train.callbacks import Callback

    class At2(Callback):
        def on_train_batch_end(self, trainer, out):
            if trainer.state.step == 2:
                print("ready", flush=True)
                if os.environ["MODE"] == "KILL":
                    os.kill(os.getpid(), signal.SIGKILL)
                time.sleep(600)

    recipe = load_recipe("quickstart", sys.argv[2:])
    run_recipe(recipe, run_dir=Path(sys.argv[1]), extra_callbacks=[At2()], progress=False)
""")


def start_child(cwd: Path, run: str, mode: str, *overrides: str) -> _warm.WarmProcess:
    """The CHILD script, returned once it has trained two steps (it printed "ready")."""
    env = {**os.environ, "MODE": mode, "PYTHONUNBUFFERED": "1"}
    child = _warm.start("code", CHILD, run, *overrides, cwd=cwd, env=env)
    if child.wait_for_line(lambda line: line.strip() == "ready", timeout=120):
        return child
    child.close()
    raise AssertionError(f"child ended before step 2: {child.stderr()}")


def killed_run(cwd: Path, run: str, *overrides: str) -> Path:
    child = start_child(cwd, run, "KILL", *overrides)
    try:
        assert child.wait(timeout=60) == -signal.SIGKILL
    finally:
        child.close()
    return cwd / run


def test_a_second_run_on_a_held_folder_exits_2_naming_the_owner(tmp_path, dllab):
    child = start_child(tmp_path, "runs/a", "HOLD", *QUICK)
    try:
        run = tmp_path / "runs" / "a"
        before = hashes(run)
        expected = {"config.yaml", "metrics.jsonl", "checkpoints/last.safetensors"}
        assert {run / name for name in expected} <= set(before)
        for how in (["--run-dir", "runs/a"], ["--resume", "runs/a"]):
            extra = QUICK if how[0] == "--run-dir" else []
            out = dllab("run", "quickstart", *extra, *how, cwd=tmp_path)
            assert out.returncode == 2, out.stderr
            line = one_line(out)
            assert f"PID {child.pid}" in line and "--resume runs/a" in line, line
            assert hashes(run) == before
        assert child.poll() is None  # the owner is untouched, still training
    finally:
        child.close()


def test_a_lock_file_left_by_a_killed_run_is_taken_over(tmp_path, dllab):
    run = killed_run(tmp_path, "runs/a", *QUICK)
    assert (run / ".lock").exists() and not (run / "summary.json").exists()
    first = json.loads((run / "env.json").read_text())
    out = dllab("run", "quickstart", "--resume", "runs/a", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (run / "summary.json").exists()
    # env.json keeps the first start and adds the resume, with the step it continued from
    env = json.loads((run / "env.json").read_text())
    assert {k: v for k, v in env.items() if k != "resumes"} == first
    assert [r["step"] for r in env["resumes"]] == [1]  # the last checkpoint's step
    assert env["resumes"][0]["started"] >= first["started"]


def test_resume_after_config_yaml_was_edited_refuses_naming_the_key(tmp_path, dllab):
    run = killed_run(tmp_path, "runs/a", *QUICK)
    original = (run / "config.yaml").read_text()
    config = yaml.safe_load(original)
    assert config["optim"]["lr"] == 0.003
    config["optim"]["lr"] = 0.01
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    before = hashes(run)

    out = dllab("run", "quickstart", "--resume", "runs/a", cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    line = one_line(out)
    assert "optim.lr: 0.003 -> 0.01" in line and "new --run-dir" in line, line
    assert "restore config.yaml" in line
    assert hashes(run) == before

    (run / "config.yaml").write_text(original)  # restored: resumes as it was
    out = dllab("run", "quickstart", "--resume", "runs/a", cwd=tmp_path)
    assert out.returncode == 0, out.stderr


def test_a_run_that_fails_before_its_first_checkpoint_leaves_its_run_dir_reusable(tmp_path, dllab):
    # The failing runs stop while the model is built: in this process (`cli`), no training.
    out = cli(
        "run", "quickstart", *QUICK, "model.kwargs.bogus=1", "--run-dir", "runs/a", cwd=tmp_path
    )
    assert out.returncode == 2
    assert "bogus" in one_line(out)
    assert not (tmp_path / "runs").exists()  # it created runs/a (and runs): both removed

    (tmp_path / "mine").mkdir()  # a folder the user made stays, empty
    out = cli(
        "run", "quickstart", *QUICK, "model.kwargs.bogus=1", "--run-dir", "mine", cwd=tmp_path
    )
    assert out.returncode == 2 and list((tmp_path / "mine").iterdir()) == []

    for run in ("runs/a", "mine"):
        out = dllab("run", "quickstart", *QUICK, "--run-dir", run, cwd=tmp_path)
        assert out.returncode == 0, out.stderr


def test_a_run_killed_before_its_first_checkpoint_is_started_again_not_resumed(tmp_path, dllab):
    run = killed_run(tmp_path, "runs/a", *QUICK[:2], "train.checkpoint_every=0")
    assert not (run / "checkpoints" / "last.safetensors").exists()
    before = hashes(run)
    out = dllab("run", "quickstart", "--resume", "runs/a", cwd=tmp_path)
    assert out.returncode == 2
    line = one_line(out)
    assert "no checkpoint yet" in line
    assert "`dllab run quickstart --run-dir runs/a`" in line, line
    assert hashes(run) == before

    out = dllab("run", "quickstart", *QUICK, "--run-dir", "runs/a", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (run / "summary.json").exists()


def test_a_folder_with_a_run_to_resume_is_never_reused(tmp_path, dllab):
    run = killed_run(tmp_path, "runs/a", *QUICK)
    before = hashes(run)
    out = dllab("run", "quickstart", *QUICK, "--run-dir", "runs/a", cwd=tmp_path)
    assert out.returncode == 2
    assert "--resume runs/a" in one_line(out)
    assert hashes(run) == before
