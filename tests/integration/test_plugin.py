"""A project outside the package: a task, a model and a recipe in tests/plugins/peaks, found
through a recipe's `imports:` or a `dllab.plugins` entry point, taken through run, an
interrupted run resumed, eval, predict and export with no change to src/dllab."""

from __future__ import annotations

import json
import os
import signal
import textwrap
from pathlib import Path

import pytest

from tests import _warm

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "peaks"
RECIPE = str(PLUGIN / "peaks.yaml")
ENV = {"PYTHONPATH": str(PLUGIN)}
OVERRIDES = ["train.max_epochs=3", "train.checkpoint_every=5", "train.deterministic=true"]

KILLER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from dllab.config import load_recipe
    from dllab.experiment import run_recipe
    from dllab.train.callbacks import Callback

    class Kill(Callback):
        def on_train_batch_end(self, trainer, out):
            if trainer.state.step == 23:  # epoch 2 of 3 (15 steps each), 3 after a checkpoint
                os.kill(os.getpid(), signal.SIGKILL)

    run_recipe(load_recipe(sys.argv[1], sys.argv[3:]), run_dir=Path(sys.argv[2]),
               extra_callbacks=[Kill()])
""")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, dllab):
    """One uninterrupted run and one killed at step 23, then resumed."""
    root = tmp_path_factory.mktemp("plugin")
    whole = dllab("run", RECIPE, *OVERRIDES, "--run-dir", "whole", cwd=root, env=ENV)
    assert whole.returncode == 0, whole.stderr
    env = {**os.environ, **ENV}
    killed = _warm.run_code(KILLER, RECIPE, "broken", *OVERRIDES, cwd=root, env=env, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (root / "broken" / "summary.json").exists()
    resumed = dllab("run", RECIPE, "--resume", "broken", cwd=root, env=ENV)
    assert resumed.returncode == 0, resumed.stderr
    return root, whole.stdout


def test_a_plugin_task_trains_and_resumes_exactly(runs):
    root, stdout = runs
    a = json.loads((root / "whole" / "summary.json").read_text())
    b = json.loads((root / "broken" / "summary.json").read_text())
    assert a["task"] == "peaks" and a["test"]["test/located_f1"] > 0.8
    assert a["test"] == b["test"] and a["best"] == b["best"] and a["steps"] == b["steps"] == 45
    assert (root / "whole" / "peaks.png").stat().st_size > 5_000
    last = stdout.strip().splitlines()[-3:]
    assert last[0].startswith("test: loss") and "located_f1" in last[0]
    assert last[1].startswith("target 0.8 test/located_f1: met (")
    assert last[2].startswith("run folder:")


def test_a_plugin_run_evaluates_predicts_and_exports(runs, dllab, tmp_path):
    root, _ = runs
    out = dllab("eval", str(root / "whole"), cwd=tmp_path, env=ENV)
    assert out.returncode == 0, out.stderr
    assert "test/located_f1" in out.stdout

    import torch

    t = torch.arange(64.0)
    signal_file = tmp_path / "signal.txt"
    values = torch.exp(-0.5 * ((t - 24) / 1.5) ** 2) + torch.exp(-0.5 * ((t - 48) / 1.5) ** 2)
    signal_file.write_text(" ".join(f"{v:.4f}" for v in values.tolist()))
    out = dllab("predict", str(root / "whole"), str(signal_file), cwd=tmp_path, env=ENV)
    assert out.returncode == 0, out.stderr
    assert "peaks at 24, 48" in out.stdout

    short = tmp_path / "short.txt"
    short.write_text("1 2 3")
    out = dllab("predict", str(root / "whole"), str(short), cwd=tmp_path, env=ENV)
    assert out.returncode == 2 and "has 3 values" in out.stderr and "Traceback" not in out.stderr

    out = dllab("export", str(root / "whole"), "--out", "peaks.onnx", cwd=tmp_path, env=ENV)
    assert out.returncode == 0, out.stderr
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["task"] == "peaks" and meta["imports"] == ["peaks_task", "peaks_model"]
    assert meta["onnx"]["inputs"][0]["shape"] == ["batch", 64]


def test_a_plugin_found_through_an_entry_point(tmp_path, dllab):
    """An installed package declares `dllab.plugins`; the recipe needs no `imports:`."""
    site = tmp_path / "site"
    dist = site / "peaks_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: peaks-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[dllab.plugins]\npeaks = peaks_task\npeaks-model = peaks_model\n"
    )
    recipe = tmp_path / "peaks.yaml"
    recipe.write_text(Path(RECIPE).read_text().replace("imports: [peaks_task, peaks_model]", ""))
    env = {"PYTHONPATH": f"{site}{os.pathsep}{PLUGIN}"}
    out = dllab("list", "tasks", cwd=tmp_path, env=env)
    assert out.returncode == 0 and "peaks" in out.stdout.split()
    out = dllab("run", str(recipe), "train.max_steps=3", "--run-dir", "r", cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr


def test_a_plugin_that_fails_to_import_is_one_line(tmp_path, dllab):
    (tmp_path / "broken_plugin.py").write_text("import not_a_module_anywhere\n")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\nimports: [broken_plugin]\ntask: peaks\n")
    out = dllab("run", str(recipe), cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)})
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "'broken_plugin'" in lines[0]
    assert "ModuleNotFoundError" in lines[0] and "not_a_module_anywhere" in lines[0]
    assert not (tmp_path / "runs").exists()


def test_plugin_task_options_are_strict(tmp_path, dllab):
    out = dllab("run", RECIPE, "task.lenght=32", cwd=tmp_path, env=ENV)
    assert out.returncode == 2
    assert "task.lenght" in out.stderr and "did you mean 'task.length'" in out.stderr
    out = dllab("run", RECIPE, "task.length=8", cwd=tmp_path, env=ENV)
    assert out.returncode == 2 and "task.length" in out.stderr and "greater than" in out.stderr
