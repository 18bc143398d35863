"""Environments: gymnasium made with a seed, and one clear line when an id or extra is missing.

Episode `k` of a run seeded `s` is reset with seed `2**40 + s * 2**32 + k` (`episode_seed`):
which start states a run sees is a pure function of its seed and the episode count, like
`train/batches.epoch_order` for data, so a run resumed at an episode boundary sees the same
episodes as one that never stopped, without storing an environment's internal generator.
Training seeds start at 2**40, so they never meet the evaluation's and validation's reset
seeds (1,000,000 and 2,000,000 onwards; `loop._check_seeds` keeps a user's choice below 2**40):
an agent is never judged on a start it trained from.

PPO and A2C checkpoint with episodes under way. `copy_state` saves one such episode as plain
numbers and arrays where the environment allows it: gymnasium's classic control (CartPole,
Acrobot, MountainCar, Pendulum) keeps its dynamics in a numpy `state` and a few numbers; with
the environment's generator (it draws the starts of autoreset episodes) and the wrappers'
counters, that is all an episode under way is. Box2D and MuJoCo keep theirs in C objects a checkpoint
cannot hold (no pickle, ever): there `copy_state` says None and the episodes restart.
"""

from __future__ import annotations

import difflib
from typing import Any

import numpy as np

from dllab.errors import CheckpointError, ConfigError
from dllab.rl.agent import rng_state, set_rng_state

EXTRA = "pip install 'dllab[rl]'"


def gymnasium() -> Any:
    """The gymnasium module, or a ConfigError naming the extra to install."""
    try:
        import gymnasium as gym
    except ImportError as exc:
        raise ConfigError(f"reinforcement learning needs gymnasium: {EXTRA}") from exc
    return gym


def check_env_id(env_id: str) -> None:
    """Refuse an id gymnasium does not know, naming the closest registered ones."""
    gym = gymnasium()
    ids = list(gym.registry)
    if env_id in ids:
        return
    near = difflib.get_close_matches(env_id, ids, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(repr(i) for i in near)}?" if near else "see gymnasium.registry"
    raise ConfigError(f"unknown environment {env_id!r}; {hint} (environments come with {EXTRA})")


def make_env(env_id: str, seed: int | None = None, render_mode: str | None = None) -> Any:
    """A gymnasium environment with episode statistics, its action space seeded.

    >>> env = make_env("CartPole-v1", seed=0)  # doctest: +SKIP
    >>> obs, info = env.reset(seed=0)  # doctest: +SKIP
    """
    gym = gymnasium()
    check_env_id(env_id)
    try:
        env = gym.make(env_id, render_mode=render_mode)
    except gym.error.DependencyNotInstalled as exc:  # box2d, pygame, mujoco…
        raise ConfigError(f"environment {env_id!r} needs more packages: {EXTRA}") from exc
    env = gym.wrappers.RecordEpisodeStatistics(env)
    if seed is not None:
        env.action_space.seed(seed)
    return env


def make_vector_env(env_id: str, num_envs: int, seed: int) -> Any:
    """`num_envs` copies in one process (gymnasium's SyncVectorEnv), sub-env `i` seeded `seed+i`.

    Classic-control steps take microseconds: processes would spend more on pipes than on
    physics, so the copies step in turn in this process, as CleanRL's `ppo.py` does.
    """
    gym = gymnasium()
    check_env_id(env_id)
    # SAME_STEP: a finished episode's copy is reset inside the step that ended it, so every
    # transition in a rollout is real (the default NEXT_STEP spends one step on the reset).
    same_step = gym.vector.AutoresetMode.SAME_STEP
    envs = gym.vector.SyncVectorEnv(
        [lambda: make_env(env_id) for _ in range(num_envs)], autoreset_mode=same_step
    )
    envs.action_space.seed(seed)
    return envs


# Reset seeds from here up are training's; evaluation and validation seeds stay below.
TRAIN_SEED_BASE = 2**40
_EPISODES_PER_SEED = 2**32  # far more episodes than any run plays


def episode_seed(seed: int, episode: int) -> int:
    """The reset seed of episode `episode` (0-based) of a run seeded `seed` (>= 0).

    Runs with different seeds get disjoint blocks, and every block lies above
    `TRAIN_SEED_BASE`, where no evaluation or validation episode starts.
    """
    if seed < 0:  # `loop._check_seeds` asks here before a run starts
        raise ConfigError(f"train.seed: reinforcement learning needs a seed >= 0 (got {seed})")
    return TRAIN_SEED_BASE + seed * _EPISODES_PER_SEED + episode


# What the wrappers of `make_env` count within an episode: TimeLimit's steps, and the return
# and length that RecordEpisodeStatistics reports when the episode ends.
WRAPPER_COUNTERS = ("_elapsed_steps", "episode_returns", "episode_lengths", "episode_count")
# Attributes that describe an environment rather than hold its state.
_DESCRIPTIONS = (str, np.random.Generator)


def _is_number(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | np.generic | np.ndarray)


def can_save_state(env: Any) -> bool:
    """Whether `copy_state` can save `env`: a numpy `state` and nothing but plain numbers."""
    inner = env.unwrapped
    if not hasattr(inner, "state"):
        return False
    for name, value in vars(inner).items():
        if name in ("state", "spec", "action_space", "observation_space"):
            continue  # a tuple state (MountainCar) is numbers too; spaces describe the env
        if not (_is_number(value) or isinstance(value, _DESCRIPTIONS)):
            return False  # a Box2D world, a MuJoCo model, a list of bodies...
    return True


def _plain(value: Any) -> Any:
    """A number as the checkpoint can hold it: numpy scalars as 0-d arrays (dtype kept), a
    tuple state (MountainCar's) as an array, which its `step` unpacks to the same numbers."""
    return np.asarray(value) if isinstance(value, np.generic | tuple) else value


def _unplain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value[()] if value.ndim == 0 else value.copy()  # 0-d: back to a numpy scalar
    return value


def copy_state(env: Any) -> dict[str, Any] | None:
    """The episode under way in `env` (from `make_env`) as plain numbers, or None if it
    cannot be saved (`can_save_state`). `set_copy_state` puts it back, bit for bit.

    >>> env = make_env("CartPole-v1"); _ = env.reset(seed=0)  # doctest: +SKIP
    >>> copy_state(env)["env"]["state"]  # doctest: +SKIP
    array([ 0.01369617, -0.02302133, -0.04590265, -0.04834724])
    """
    if not can_save_state(env):
        return None
    inner = env.unwrapped
    numbers = {k: _plain(v) for k, v in vars(inner).items() if k == "state" or _is_number(v)}
    counters = {k: _plain(env.get_wrapper_attr(k)) for k in WRAPPER_COUNTERS}
    return {"env": numbers, "rng": rng_state(inner.np_random), "wrappers": counters}


def set_copy_state(env: Any, saved: dict[str, Any]) -> None:
    """Put back an episode saved by `copy_state`; `env` must have been reset once (gymnasium
    refuses to step an environment that never was)."""
    inner = env.unwrapped
    numbers = {k for k, v in vars(inner).items() if k == "state" or _is_number(v)}
    unknown = sorted(set(saved["env"]) - numbers) + sorted(
        set(saved["wrappers"]) - set(WRAPPER_COUNTERS)
    )
    if unknown:  # a checkpoint names only what copy_state wrote: refuse anything else
        raise CheckpointError(
            f"the saved episode of {env.spec.id} sets {unknown[0]!r}, which is not part of its "
            "state; the checkpoint was edited or comes from another environment"
        )
    for name, value in saved["env"].items():
        setattr(inner, name, _unplain(value))
    set_rng_state(inner.np_random, saved["rng"])
    for name, value in saved["wrappers"].items():
        env.set_wrapper_attr(name, _unplain(value))


def space_signature(env: Any) -> dict[str, str]:
    """What a checkpoint must match to drive `env`: its id and its spaces, as text."""
    return {
        "env": env.spec.id,
        "observation_space": str(env.observation_space),
        "action_space": str(env.action_space),
    }
