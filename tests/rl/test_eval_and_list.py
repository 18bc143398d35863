"""`dllab eval` on an RL run replays the run's own evaluation; `dllab list tasks` names agents."""

import json
import sys

import pytest
from typer.testing import CliRunner

from dllab.cli import app, main
from dllab.config import load_recipe
from dllab.experiment import evaluate_run, run_recipe
from dllab.rl import ALGORITHMS

pytest.importorskip("gymnasium", reason="needs the [rl] extra")
runner = CliRunner()


@pytest.fixture(scope="module")
def dqn_run(tmp_path_factory):
    """A few hundred DQN steps on CartPole, judged on 3 greedy episodes."""
    overrides = [
        "task.total_steps=400",
        "task.learning_starts=50",
        "task.train_frequency=16",
        "task.batch_size=16",
        "model.kwargs.hidden=[16,16]",
        "task.eval_episodes=3",
        "task.gif_frames=0",
        "train.threads=1",
    ]
    run = tmp_path_factory.mktemp("rl-eval") / "run"
    run_recipe(load_recipe("rl-cartpole-dqn", overrides), run_dir=run, progress=False, echo=str)
    return run


def test_eval_of_an_rl_run_repeats_the_returns_in_its_summary(dqn_run):
    summary = json.loads((dqn_run / "summary.json").read_text())
    again = evaluate_run(dqn_run)
    assert again == pytest.approx(summary["test"], abs=1e-9)
    assert again["eval/episodes"] == 3


def test_eval_on_the_command_line_prints_the_mean_return(dqn_run):
    out = runner.invoke(app, ["eval", str(dqn_run)])
    assert out.exit_code == 0, out.output
    mean = json.loads((dqn_run / "summary.json").read_text())["test"]["eval/mean_return"]
    assert f"eval/mean_return {mean:.4f}" in out.output


def test_eval_of_an_rl_run_without_a_checkpoint_is_one_line(dqn_run, tmp_path, monkeypatch, capsys):
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.yaml").write_text((dqn_run / "config.yaml").read_text())
    monkeypatch.setattr(sys, "argv", ["dllab", "eval", str(bare)])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "has no checkpoint yet" in lines[0], lines


def test_list_tasks_names_every_rl_algorithm():
    out = runner.invoke(app, ["list", "tasks"])
    assert out.exit_code == 0
    for name in ALGORITHMS:
        assert f"{name} (reinforcement learning" in out.output
    assert "classification" in out.output
