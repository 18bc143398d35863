"""Exact resume: a run SIGKILLed mid-epoch and resumed ends bit-identical to an unbroken one."""

import json
import os
import signal
import textwrap

from tests import _warm
from tests.faults._cases import cli

OVERRIDES = [
    "train.max_epochs=3",
    "train.deterministic=true",
    "train.threads=1",
    "train.checkpoint_every=7",
    "data.augment=crop",
    "train.log_every=5",
]

# A child that trains the same recipe and SIGKILLs itself right after optimizer step 60
# (epoch 2 of 3: 41 steps per epoch), i.e. mid-epoch and 4 steps after the last checkpoint.
KILLER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from dllab.config import load_recipe
    from dllab.experiment import run_recipe
    from dllab.train.callbacks import Callback

    class Kill(Callback):
        def on_train_batch_end(self, trainer, out):
            if trainer.state.step == 60:
                os.kill(os.getpid(), signal.SIGKILL)

    recipe = load_recipe("quickstart", sys.argv[2:])
    run_recipe(recipe, run_dir=Path(sys.argv[1]), extra_callbacks=[Kill()])
""")


def _val_records(run):
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines]


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(tmp_path, dllab):
    whole = dllab("run", "quickstart", *OVERRIDES, "--run-dir", "runs/whole", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr

    killed = _warm.run_code(
        KILLER, "runs/broken", *OVERRIDES, cwd=tmp_path, env=dict(os.environ), timeout=300
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    broken = tmp_path / "runs" / "broken"
    assert not (broken / "summary.json").exists()
    from dllab.train.checkpoint import load_checkpoint

    saved = load_checkpoint(broken / "checkpoints" / "last.safetensors")["trainer"]
    assert saved["step"] == 56 and saved["epoch"] == 1 and 0 < saved["batch"] < 41

    resumed = dllab("run", "quickstart", "--resume", "runs/broken", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    a = json.loads((tmp_path / "runs/whole/summary.json").read_text())
    b = json.loads((broken / "summary.json").read_text())
    assert a["best"] == b["best"] and a["test"] == b["test"] and a["steps"] == b["steps"]
    # A refusal before any work: checked in this process, not a third fresh interpreter.
    again = cli("run", "quickstart", "--resume", "runs/broken", cwd=tmp_path)
    assert again.returncode == 2 and "already finished" in again.stderr
    strip = [{k: v for k, v in r.items() if k != "time"} for r in _val_records(broken)]
    assert strip == [
        {k: v for k, v in r.items() if k != "time"} for r in _val_records(tmp_path / "runs/whole")
    ]


def test_resume_refuses_overrides_and_missing_folders(tmp_path, dllab):
    out = dllab("run", "quickstart", "train.max_epochs=2", "--resume", "nowhere", cwd=tmp_path)
    assert out.returncode == 2 and "drop the overrides" in out.stderr
    out = dllab("run", "quickstart", "--resume", "nowhere", cwd=tmp_path)
    assert out.returncode == 2 and "not found" in out.stderr
    assert os.listdir(tmp_path) == []
