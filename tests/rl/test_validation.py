"""Validation during RL training: the best validated policy is the one judged, on other seeds."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

from dllab.config import load_recipe
from dllab.errors import CheckpointError, ConfigError, Interrupted
from dllab.experiment import run_recipe
from dllab.rl import loop as rl_loop
from dllab.rl.envs import TRAIN_SEED_BASE, episode_seed
from dllab.rl.evaluate import evaluate
from dllab.rl.loop import build_agent, load_best
from dllab.rl.rerun import evaluate_rl_run
from dllab.train.checkpoint import load_checkpoint, save_checkpoint

VALIDATED = [
    "task.total_steps=1500",
    "optim.lr=0.003",  # with these, the best validated policy is not the last one
    "task.learning_starts=50",
    "task.train_frequency=4",
    "task.gradient_steps=2",
    "task.batch_size=16",
    "task.buffer_size=400",
    "task.target_update_interval=40",
    "task.eval_episodes=3",
    "task.val_every=150",
    "task.val_episodes=2",
    "task.gif_frames=0",
    "model.kwargs.hidden=[16,16]",
    "train.checkpoint_every=250",
    "train.threads=1",
]


def _recipe(*more: str):
    return load_recipe("rl-cartpole-dqn", [*VALIDATED, *more])


def _curve(run):
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(x).items() if k != "time"} for x in lines]


@pytest.fixture(scope="module")
def validated_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("rl-val") / "whole"
    run_recipe(_recipe(), run_dir=run, progress=False, echo=lambda _: None)
    return run


def test_the_judged_policy_is_the_best_validated_one(validated_run):
    run = validated_run
    summary = json.loads((run / "summary.json").read_text())
    vals = [(r["step"], r["val/mean_return"]) for r in _curve(run) if "val/mean_return" in r]
    assert len(vals) == 10  # every 150 steps (an episode may overrun one), the last included
    best_step, best_val = max(vals, key=lambda sv: sv[1])  # the first of equals
    assert summary["best"] == {"step": best_step, "val/mean_return": best_val}
    assert load_file(run / "checkpoints" / "best.safetensors")  # weights on disk

    agent, recipe = build_agent(_recipe())
    agent.setup()
    load_best(agent, run, best_step)
    judged = evaluate(agent, "CartPole-v1", 3, agent.options.eval_seed)
    assert summary["test"]["eval/mean_return"] == judged["eval/mean_return"]
    last = summary["last_policy"]["eval/mean_return"]
    assert last != judged["eval/mean_return"]  # so judging the last policy would show
    page = (run / "agent.md").read_text()
    assert f"step {best_step:,}, the best of the validations" in page
    # `dllab eval` judges the same policy on the same episodes
    assert evaluate_rl_run(run)["eval/mean_return"] == summary["test"]["eval/mean_return"]


def test_validation_uses_its_own_seeds_never_the_tests(validated_run):
    with pytest.raises(ConfigError, match="overlap the evaluation"):
        build_agent(_recipe("task.val_seed=1000001"))
    build_agent(_recipe("task.val_seed=1000003"))  # just past the 3 evaluation episodes


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000), episode=st.integers(0, 10**8), other=st.integers(0, 10_000))
def test_training_never_resets_on_a_judged_seed(seed, episode, other):
    """Training's reset seeds lie above every evaluation and validation seed a run may use,
    and runs with different seeds share none (seed 1 used to start on evaluation seeds)."""
    options = build_agent(_recipe())[0].options
    judged = max(options.eval_seed + options.eval_episodes, options.val_seed + options.val_episodes)
    s = episode_seed(seed, episode)
    assert s >= TRAIN_SEED_BASE > judged
    if other != seed:
        assert not episode_seed(other, 0) <= s < episode_seed(other, 10**8)


def test_seeds_that_would_meet_training_are_refused():
    with pytest.raises(ConfigError, match=r"^train.seed: .*>= 0"):
        build_agent(_recipe("train.seed=-1"))
    for key in ("eval_seed", "val_seed"):
        with pytest.raises(ConfigError, match=rf"^task.{key}: .*training resets from"):
            build_agent(_recipe(f"task.{key}={TRAIN_SEED_BASE - 1}"))
        with pytest.raises(ConfigError, match=rf"^task.{key}: "):
            build_agent(_recipe(f"task.{key}=-5"))


def test_a_resumed_validated_run_keeps_the_same_best(validated_run, tmp_path, monkeypatch):
    broken = tmp_path / "broken"
    real_save = rl_loop.save_checkpoint

    def die_after_the_first_checkpoint(path, *args, **kwargs):
        real_save(path, *args, **kwargs)
        if path.name == "last.safetensors":
            raise KeyboardInterrupt

    monkeypatch.setattr(rl_loop, "save_checkpoint", die_after_the_first_checkpoint)
    with pytest.raises(Interrupted):
        run_recipe(_recipe(), run_dir=broken, progress=False, echo=lambda _: None)
    monkeypatch.setattr(rl_loop, "save_checkpoint", real_save)
    # A best saved after the last checkpoint by the killed run (here: a later step's
    # weights) must not outlive it: the resumed run rewrites best.safetensors.
    stray = load_checkpoint(validated_run / "checkpoints" / "last.safetensors")["agent"]
    save_checkpoint(
        broken / "checkpoints" / "best.safetensors", {"networks": stray["networks"], "step": 1}
    )

    def stop_at_once(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(rl_loop, "train", stop_at_once)  # resume, rewrite, then stop
    with pytest.raises(Interrupted):
        run_recipe(_recipe(), resume=broken, progress=False, echo=lambda _: None)
    chosen = load_checkpoint(broken / "checkpoints" / "last.safetensors")["loop"]["best_step"]
    assert load_checkpoint(broken / "checkpoints" / "best.safetensors")["step"] == chosen > 1
    monkeypatch.undo()
    run_recipe(_recipe(), resume=broken, progress=False, echo=lambda _: None)

    assert _curve(broken) == _curve(validated_run)
    a = load_file(validated_run / "checkpoints" / "best.safetensors")
    b = load_file(broken / "checkpoints" / "best.safetensors")
    assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a)
    whole = json.loads((validated_run / "summary.json").read_text())
    again = json.loads((broken / "summary.json").read_text())
    assert whole["best"] == again["best"] and whole["test"] == again["test"]


def test_a_best_file_from_another_step_is_refused_in_one_line(validated_run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(validated_run, copy)
    nets = load_checkpoint(copy / "checkpoints" / "best.safetensors")["networks"]
    save_checkpoint(copy / "checkpoints" / "best.safetensors", {"networks": nets, "step": 7})
    with pytest.raises(CheckpointError, match="holds the policy of step 7, but the run chose"):
        evaluate_rl_run(copy)


def test_validation_is_refused_for_a_table(tmp_path):
    recipe = load_recipe("rl-frozenlake-qlearning", ["task.val_every=100"])
    with pytest.raises(ConfigError, match="learns a table"):
        build_agent(recipe)


def test_a_run_stopped_by_the_clock_validates_its_last_policy(tmp_path):
    run = tmp_path / "clock"
    recipe = _recipe("task.total_steps=100000", "task.val_every=90000", "train.max_time=1")
    run_recipe(recipe, run_dir=run, progress=False, echo=lambda _: None)
    summary = json.loads((run / "summary.json").read_text())
    vals = [r["step"] for r in _curve(run) if "val/mean_return" in r]
    assert summary["stop_reason"] == "max_time" and vals == [summary["steps"]]
    assert summary["best"]["step"] == summary["steps"]
