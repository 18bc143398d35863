"""A GAN's two optimisers follow one learning-rate schedule, and it may follow the clock."""

import json

import pytest

from dllab.config import load_recipe
from dllab.errors import ConfigError
from dllab.experiment import run_recipe
from dllab.train.checkpoint import load_checkpoint


def _overrides(root, *more):
    return [
        f"data.data_dir={root}",
        "data.batch_size=16",
        "data.val_fraction=0.2",
        "data.eval_batch_size=100",
        "train.max_steps=4",
        "train.val_every=0",
        "train.log_every=1",
        "train.threads=1",
        "task.quality_samples=50",
        *more,
    ]


def test_a_gan_decays_both_learning_rates_on_a_linear_decay_schedule(tiny_catalog, tmp_path):
    recipe = load_recipe(
        "gan-dcgan",
        _overrides(
            tiny_catalog,
            "schedule.name=linear-decay",
            "train.max_time=600",
            "schedule.follow_time=true",
            "schedule.decay_fraction=1.0",
        ),
    )
    run = run_recipe(recipe, run_dir=tmp_path / "run", echo=lambda s: None, progress=False)
    lrs = [json.loads(line)["lr"] for line in (run / "metrics.jsonl").open() if '"lr"' in line]
    peak = recipe.optim.lr
    # logged after each step's schedule step; the last step stays at the last position
    assert lrs == pytest.approx([peak * f for f in (0.75, 0.5, 0.25, 0.25)])
    state = load_checkpoint(run / "checkpoints" / "last.safetensors")
    schedule = state["callbacks"]["LRSchedule"]  # what a resumed run continues from
    assert set(schedule) == {"generator", "critic"}
    assert schedule["critic"]["last_epoch"] == schedule["generator"]["last_epoch"] == 3
    assert schedule["critic"]["_last_lr"] == pytest.approx([peak / 4] * 2)


def test_a_gan_refuses_a_schedule_that_follows_a_validation_metric(tiny_catalog, tmp_path):
    recipe = load_recipe("gan-dcgan", _overrides(tiny_catalog, "schedule.name=plateau"))
    with pytest.raises(ConfigError, match="plateau follows one validation metric"):
        run_recipe(recipe, run_dir=tmp_path / "run", echo=lambda s: None, progress=False)
    assert not (tmp_path / "run").exists()
