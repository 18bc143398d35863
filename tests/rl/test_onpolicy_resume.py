"""PPO and A2C resume mid-episode: bit for bit where the environment can be saved, and say
so where it cannot (LunarLander's Box2D)."""

import json
import shutil

import pytest
from safetensors.torch import load_file

from dllab.config import load_recipe
from dllab.errors import Interrupted
from dllab.experiment import run_recipe
from dllab.rl import loop as rl_loop
from dllab.rl.loop import build_agent
from dllab.train.checkpoint import load_checkpoint

QUIET = ["task.eval_episodes=1", "task.gif_frames=0", "train.threads=1", "train.log_every=1"]
# A few rollouts each, the first checkpoint after one or two of them, with every copy
# mid-episode (a random CartPole policy lasts ~20 steps, a rollout is 16 or 5 per copy).
TINY = {
    "rl-cartpole-ppo": [
        "task.total_steps=512",
        "task.num_steps=16",
        "task.num_envs=8",
        "task.update_epochs=2",
        "train.checkpoint_every=128",
        "model.kwargs.hidden=[16,16]",
    ],
    "rl-cartpole-a2c": [
        "task.total_steps=200",
        "train.checkpoint_every=80",
        "model.kwargs.hidden=[16,16]",
    ],
    "rl-lunarlander-ppo": [
        "task.total_steps=256",
        "task.num_steps=16",
        "task.num_envs=8",
        "task.num_minibatches=1",
        "task.update_epochs=2",
        "train.checkpoint_every=128",
        "model.kwargs.hidden=[16,16]",
    ],
}


def _recipe(name):
    return load_recipe(name, [*TINY[name], *QUIET])


def _interrupted_then_resumed(name, run, monkeypatch):
    """Kill a run right after its first checkpoint, then resume it; returns that checkpoint's
    path (a copy) and the lines the resume said."""
    real_save = rl_loop.save_checkpoint

    def save_then_die(*args, **kwargs):
        real_save(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(rl_loop, "save_checkpoint", save_then_die)
    with pytest.raises(Interrupted):
        run_recipe(_recipe(name), run_dir=run, progress=False, echo=lambda _: None)
    monkeypatch.setattr(rl_loop, "save_checkpoint", real_save)
    halfway = run.parent / f"{run.name}-halfway.safetensors"
    shutil.copy(run / "checkpoints" / "last.safetensors", halfway)
    said: list[str] = []
    run_recipe(_recipe(name), resume=run, progress=False, echo=said.append)
    return halfway, said


def _curve(run):
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(x).items() if k != "time"} for x in lines]


@pytest.mark.parametrize("name", ["rl-cartpole-ppo", "rl-cartpole-a2c"])
def test_resumed_mid_episode_matches_an_unbroken_run(name, tmp_path, monkeypatch):
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    run_recipe(_recipe(name), run_dir=whole, progress=False, echo=lambda _: None)
    halfway, _ = _interrupted_then_resumed(name, broken, monkeypatch)

    saved = load_file(halfway)
    assert any("agent.episodes_under_way.copies" in k for k in saved)  # mid-episode state
    last = [run / "checkpoints" / "last.safetensors" for run in (whole, broken)]
    a, b = (load_file(path) for path in last)
    assert a.keys() == b.keys() and any("optimizer" in k for k in a)
    for key in a:
        assert a[key].equal(b[key]), key  # weights, optimiser state, observations, env states
    assert any(not saved[k].equal(a[k]) for k in saved if "networks" in k)  # it trained on
    a, b = (load_checkpoint(path)["agent"]["episodes_under_way"]["copies"] for path in last)
    for key in ("rng", "wrappers"):  # the generators and counters, stored as JSON
        assert [copy[key] for copy in a] == [copy[key] for copy in b]
    curve = _curve(whole)
    assert curve == _curve(broken)
    assert sum("train/episode_return" in r for r in curve[len(curve) // 2 :]) >= 1


@pytest.fixture(scope="module")
def lunar_resumed(tmp_path_factory):
    """A tiny LunarLander PPO run, killed after its first checkpoint and resumed."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        run = tmp_path_factory.mktemp("lunar") / "run"
        halfway, said = _interrupted_then_resumed("rl-lunarlander-ppo", run, monkeypatch)
    return run, halfway, said


def test_a_box2d_resume_finishes_with_fresh_episodes_and_says_why(lunar_resumed):
    run, halfway, _ = lunar_resumed
    assert (run / "summary.json").exists()
    assert not any("episodes_under_way" in k for k in load_file(halfway))
    agent, _ = build_agent(_recipe("rl-lunarlander-ppo"))
    agent.setup()
    agent.load_state_dict(load_checkpoint(halfway)["agent"])
    note = agent.resume_note_
    assert "8 episodes under way restart" in note and "LunarLander-v3" in note
    assert "not bit for bit" in note and "\n" not in note


def test_a_box2d_resume_tells_the_user_the_episodes_restart(lunar_resumed):
    _, _, said = lunar_resumed
    assert sum("episodes under way restart" in line for line in said) == 1


def test_a_saved_episode_naming_other_attributes_is_refused():
    from dllab.errors import CheckpointError
    from dllab.rl.envs import copy_state, make_env, set_copy_state

    env = make_env("CartPole-v1")
    env.reset(seed=0)
    saved = copy_state(env)
    set_copy_state(env, saved)  # what copy_state wrote goes back
    for part, name in (("env", "step"), ("wrappers", "env")):
        edited = {**saved, part: {**saved[part], name: 1}}
        with pytest.raises(CheckpointError, match=f"sets '{name}', which is not part"):
            set_copy_state(env, edited)
    env.close()
