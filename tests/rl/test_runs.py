"""RL runs end to end: every rl-* recipe through `dllab run`, exact resume, refusals."""

import json

import pytest
from safetensors.torch import load_file
from typer.testing import CliRunner

from dllab.cli import app
from dllab.config import load_recipe, recipe_names
from dllab.errors import CheckpointError, ConfigError, Interrupted
from dllab.experiment import run_recipe
from dllab.rl import loop as rl_loop

runner = CliRunner()
RL_RECIPES = [n for n in recipe_names() if n.startswith("rl-")]
# A few hundred steps of each algorithm, one evaluation episode, a three-frame GIF.
TINY = {
    "dqn": [
        "task.total_steps=300",
        "task.learning_starts=50",
        "task.train_frequency=16",
        "task.gradient_steps=2",
        "task.batch_size=16",
        "model.kwargs.hidden=[16,16]",
    ],
    "ppo": [
        "task.total_steps=256",
        "task.num_steps=16",
        "task.num_envs=8",  # LunarLander's recipe steps 16 copies
        "task.num_minibatches=1",  # and splits a rollout into 256 minibatches
        "task.update_epochs=2",
        "model.kwargs.hidden=[16,16]",
    ],
    "q-learning": ["task.total_steps=300"],
    "sarsa": ["task.total_steps=300"],
    "reinforce": ["task.total_steps=200", "model.kwargs.hidden=[16,16]"],
    "a2c": ["task.total_steps=200", "model.kwargs.hidden=[16,16]"],
    "sac": [
        "task.total_steps=300",
        "task.learning_starts=285",
        "task.batch_size=16",
        "model.kwargs.hidden=[16,16]",
    ],
    "value-iteration": [],
    "policy-iteration": [],
}
COMMON = ["task.eval_episodes=1", "task.gif_frames=3", "train.threads=1"]


def test_there_is_a_recipe_for_every_algorithm():
    tasks = {load_recipe(n).task.name for n in RL_RECIPES}
    assert set(TINY) <= tasks


@pytest.mark.parametrize("name", RL_RECIPES)
def test_every_rl_recipe_runs_to_a_report_with_a_gif(name, tmp_path):
    tiny = TINY[load_recipe(name).task.name]
    run = tmp_path / "run"
    out = runner.invoke(app, ["run", name, *tiny, *COMMON, "--run-dir", str(run)])
    assert out.exit_code == 0, out.output
    assert "evaluation over 1 episodes" in out.output
    report = (run / "report.md").read_text()
    assert "agent.gif" in report and "rewards.png" in report
    assert (run / "agent.gif").stat().st_size > 0 and (run / "rewards.png").exists()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test"]["eval/episodes"] == 1
    assert (run / "checkpoints" / "last.safetensors").exists()
    assert "eval_seed:" in (run / "config.yaml").read_text()  # every option written out
    assert not list(run.rglob("*.pt")) and not list(run.rglob("*.pkl"))  # never pickle


def _dqn_recipe(**more):
    overrides = [
        *TINY["dqn"],
        "task.total_steps=600",
        "train.checkpoint_every=250",
        "task.buffer_size=400",
        "task.target_update_interval=40",
        "task.eval_episodes=1",
        "task.gif_frames=0",
        "train.threads=1",
    ]
    return load_recipe("rl-cartpole-dqn", overrides + [f"{k}={v}" for k, v in more.items()])


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory):
    """A short DQN run on CartPole that nothing interrupted."""
    run = tmp_path_factory.mktemp("rl") / "whole"
    run_recipe(_dqn_recipe(), run_dir=run, progress=False, echo=lambda _: None)
    return run


def test_dqn_resumed_after_an_interruption_matches_an_unbroken_run(
    cartpole_run, tmp_path, monkeypatch
):
    whole, broken = cartpole_run, tmp_path / "broken"

    real_save = rl_loop.save_checkpoint

    def save_then_die(*args, **kwargs):
        real_save(*args, **kwargs)
        raise KeyboardInterrupt  # killed right after the first checkpoint

    monkeypatch.setattr(rl_loop, "save_checkpoint", save_then_die)
    with pytest.raises(Interrupted):
        run_recipe(_dqn_recipe(), run_dir=broken, progress=False, echo=lambda _: None)
    monkeypatch.setattr(rl_loop, "save_checkpoint", real_save)
    halfway = load_file(broken / "checkpoints" / "last.safetensors")
    run_recipe(_dqn_recipe(), resume=broken, progress=False, echo=lambda _: None)

    a = load_file(whole / "checkpoints" / "last.safetensors")
    b = load_file(broken / "checkpoints" / "last.safetensors")
    assert a.keys() == b.keys() and any("buffer" in k for k in a)
    for key in a:
        assert a[key].equal(b[key]), key
    assert any(not halfway[k].equal(a[k]) for k in halfway if "q_network" in k)  # it did train on

    def curve(run):
        lines = (run / "metrics.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(x).items() if k != "time"} for x in lines]

    assert curve(whole) == curve(broken)


def test_weights_from_another_environment_are_refused_in_one_line(cartpole_run, tmp_path):
    acrobot = _dqn_recipe(**{"data.name": "Acrobot-v1", "task.init_from": str(cartpole_run)})
    with pytest.raises(CheckpointError) as err:
        run_recipe(acrobot, run_dir=tmp_path / "acrobot", progress=False)
    message = str(err.value)
    assert "CartPole-v1" in message and "Acrobot-v1" in message and "\n" not in message
    assert not (tmp_path / "acrobot").exists()  # refused before the folder was made


def test_unknown_environment_names_the_closest_and_the_extra(tmp_path):
    args = ["run", "rl-cartpole-dqn", "data.name=CartPol-v1", "--run-dir", str(tmp_path / "r")]
    out = runner.invoke(app, args)  # the CLI prints a ConfigError as its one line, exit 2
    assert isinstance(out.exception, ConfigError)
    message = str(out.exception)
    assert "'CartPole-v1'" in message and "dllab[rl]" in message and "\n" not in message
    assert not (tmp_path / "r").exists()


def test_unknown_task_option_names_the_closest(tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'task.double_dqn'"):
        run_recipe(
            load_recipe("rl-cartpole-dqn", ["task.double_dq=true"]),
            run_dir=tmp_path / "r",
            progress=False,
        )


def test_a_time_limit_truncation_is_not_stored_as_terminal():
    from dllab.rl.dqn import DQN, DQNOptions

    # Random MountainCar never reaches the flag: both episodes end by the 200-step limit,
    # which still has a future to bootstrap from.
    agent = DQN(DQNOptions(total_steps=400, learning_starts=400), "MountainCar-v0", hidden=(8,))
    agent.setup()
    while agent.steps_ < 400:
        agent.iterate()
    assert agent.episodes_ == 2 and len(agent.buffer) == 400
    assert agent.buffer.terminated.sum() == 0


def test_weights_of_another_width_are_refused_in_one_line(cartpole_run, tmp_path):
    wider = _dqn_recipe(**{"model.kwargs.hidden": "[32,32]", "task.init_from": str(cartpole_run)})
    with pytest.raises(CheckpointError, match="does not fit this dqn agent") as err:
        run_recipe(wider, run_dir=tmp_path / "wider", progress=False, echo=lambda _: None)
    assert "\n" not in str(err.value) and not (tmp_path / "wider").exists()


@pytest.mark.parametrize(
    ("env", "said"), [("Pendulum-v1", "use sac"), ("FrozenLake-v1", "use q-learning")]
)
def test_an_environment_the_algorithm_cannot_drive_is_refused(env, said, tmp_path):
    recipe = load_recipe("rl-cartpole-dqn", [f"data.name={env}"])
    with pytest.raises(ConfigError, match=said):
        run_recipe(recipe, run_dir=tmp_path / "r", progress=False, echo=lambda _: None)
    assert not (tmp_path / "r").exists()
