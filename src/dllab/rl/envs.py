"""Environments: gymnasium made with a seed, and one clear line when an id or extra is missing.

Episode `k` of a run is reset with seed `seed + k` (`episode_seed`): which start states a run
sees is a pure function of its seed and the episode count, like `train/batches.epoch_order`
for data, so a run resumed at an episode boundary sees the same episodes as one that never
stopped, without storing an environment's internal generator.
"""

from __future__ import annotations

import difflib
from typing import Any

from dllab.errors import ConfigError

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


def episode_seed(seed: int, episode: int) -> int:
    """The reset seed of episode `episode` (0-based) of a run seeded `seed`."""
    return seed * 1_000_003 + episode


def space_signature(env: Any) -> dict[str, str]:
    """What a checkpoint must match to drive `env`: its id and its spaces, as text."""
    return {
        "env": env.spec.id,
        "observation_space": str(env.observation_space),
        "action_space": str(env.action_space),
    }
