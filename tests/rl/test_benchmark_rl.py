"""benchmarks/rl.py: ours and stable-baselines3's twin, trained and scored alike."""

import csv

import pytest

from dllab.config import load_recipe
from dllab.errors import ConfigError
from dllab.rl.loop import build_agent

# A few hundred steps each, tiny networks, two evaluation episodes.
TINY = [
    "--steps",
    "256",
    "--eval-episodes",
    "2",
    "--eval-every",
    "128",
    "--probe-episodes",
    "1",
    "model.kwargs.hidden=[16,16]",
    "dqn:task.learning_starts=64",
    "dqn:task.train_frequency=32",
    "dqn:task.gradient_steps=2",
    "dqn:task.batch_size=16",
    "ppo:task.num_steps=16",
    "ppo:task.update_epochs=2",
]


def test_both_libraries_train_on_both_pairs_into_csv_and_md(benchmark_script, tmp_path):
    rl = benchmark_script("rl")
    assert rl.main(["--out", str(tmp_path), *TINY]) == 0
    rows = list(csv.DictReader((tmp_path / "rl.csv").open()))
    assert [(r["pair"], r["library"]) for r in rows] == [
        ("dqn-cartpole", "dllab"),
        ("dqn-cartpole", "sb3"),
        ("ppo-cartpole", "dllab"),
        ("ppo-cartpole", "sb3"),
    ]
    for r in rows:
        assert r["env"] == "CartPole-v1" and r["eval_episodes"] == "2"
        assert 256 <= int(r["steps"]) < 256 + 500  # the budget, give or take one iteration
        assert int(r["budget_steps"]) == 256 and r["stop_reason"] == "total_steps"
        assert 8 <= float(r["mean_return"]) <= 500 and float(r["us_per_step"]) > 0
        assert r["solved"] == "False" and r["steps_to_solve"] == ""  # 256 steps solve nothing
    md = (tmp_path / "rl.md").read_text()
    assert "| dqn-cartpole | dllab | 0 |" in md and "| ppo-cartpole | sb3 | 0 |" in md
    assert "| dqn-cartpole | " in md.split("## Summary")[1]  # the per-pair comparison
    assert "double DQN" in md  # what does not map is said


def test_the_sb3_twin_gets_the_recipe_hyperparameters(benchmark_script):
    rl = benchmark_script("rl")
    recipe = load_recipe("rl-cartpole-dqn")
    options = build_agent(recipe)[0].options
    kwargs = rl.twin_kwargs("dqn", options, recipe.optim.lr, [256, 256])
    assert kwargs["batch_size"] == 64 and kwargs["train_freq"] == 256
    assert kwargs["gradient_steps"] == 128 and kwargs["target_update_interval"] == 10
    assert kwargs["exploration_final_eps"] == 0.04 and kwargs["learning_rate"] == 0.0023
    ppo = load_recipe("rl-cartpole-ppo")
    kwargs = rl.twin_kwargs("ppo", build_agent(ppo)[0].options, ppo.optim.lr, [64, 64])
    assert kwargs["batch_size"] == 256 and kwargs["n_epochs"] == 20  # 8 envs x 32, 1 minibatch
    assert kwargs["learning_rate"](0.5) == pytest.approx(0.0005)  # annealed like ours


def test_an_unknown_pair_is_one_clear_error(benchmark_script, tmp_path):
    with pytest.raises(ConfigError, match="unknown pair 'dqn-pong'; valid: dqn-cartpole"):
        benchmark_script("rl").main(["--pairs", "dqn-pong", "--out", str(tmp_path)])


def test_validation_keeps_and_restores_the_best_weights_alike_for_both(
    benchmark_script, monkeypatch
):
    """Clock.keep_best: a policy whose validation return is its 'weight' value; the best
    one seen at the validation steps is the one restored, whatever came after it."""
    rl = benchmark_script("rl")
    monkeypatch.setattr(rl, "evaluate", lambda actor, *a: {"eval/mean_return": actor.weight})
    actor = type("Actor", (), {"weight": 0.0})()
    options = load_recipe("rl-mountaincar-dqn", ["task.val_every=100"])
    options = build_agent(options)[0].options
    clock = rl.Clock("MountainCar-v0", 0, 1, 60.0)
    clock.keep_best(options, lambda: actor.weight, lambda w: setattr(actor, "weight", w))
    for steps, weight in [(50, -120.0), (100, -150.0), (200, -105.0), (250, -90.0), (300, -180.0)]:
        actor.weight = weight
        clock.maybe_validate(actor, steps)  # validates at 100, 200 and 300 only
    assert clock.finish(actor, 330) == "best val, step 200"  # the last (330) is validated too
    assert actor.weight == -105.0  # -90 at step 250 was never a validation


def test_a_recipe_without_validation_judges_the_last_policy(benchmark_script, tmp_path):
    rl = benchmark_script("rl")
    off = "dqn:task.val_every=null"  # the CartPole recipe validates; this run does not
    assert rl.main(["--out", str(tmp_path), "--pairs", "dqn-cartpole", *TINY, off]) == 0
    rows = list(csv.DictReader((tmp_path / "rl.csv").open()))
    assert {r["judged"] for r in rows} == {"last"}
    assert (
        rl.main(
            [
                "--out",
                str(tmp_path / "v"),
                "--pairs",
                "dqn-cartpole",
                *TINY,
                "dqn:task.val_every=128",
            ]
        )
        == 0
    )
    rows = list(csv.DictReader((tmp_path / "v" / "rl.csv").open()))
    assert [r["library"] for r in rows] == ["dllab", "sb3"]
    assert all(r["judged"].startswith("best val, step ") for r in rows)
