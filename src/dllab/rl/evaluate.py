"""Judging a trained agent: greedy episodes on a fixed list of seeds, and a GIF of one.

Every algorithm is evaluated the same way, so their numbers compare: `episodes` greedy
episodes, episode `i` reset with `seed + i`, the mean return set against the environment's
solved threshold (gymnasium's `reward_threshold`; the issue's −200 for Pendulum).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from dllab.rl.envs import make_env

# Thresholds gymnasium does not register (Pendulum has no official one).
EXTRA_THRESHOLDS = {"Pendulum-v1": -200.0}


def solved_threshold(env_id: str) -> float | None:
    """The mean return over 100 episodes that counts as solving `env_id` (None: no such)."""
    from gymnasium import spec

    threshold = spec(env_id).reward_threshold
    return float(threshold) if threshold is not None else EXTRA_THRESHOLDS.get(env_id)


def evaluate(
    agent: Any, env_id: str, episodes: int = 100, seed: int = 1_000_000
) -> dict[str, float]:
    """Mean, sd, min and max return of `episodes` greedy episodes (episode i: seed + i).

    >>> evaluate(agent, "CartPole-v1", episodes=100)["eval/mean_return"]  # doctest: +SKIP
    500.0
    """
    env = make_env(env_id)
    returns, lengths = [], []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        done, total, n = False, 0.0, 0
        while not done:
            obs, reward, terminated, truncated, _ = env.step(agent.act(obs))
            total, n, done = total + float(reward), n + 1, terminated or truncated
        returns.append(total)
        lengths.append(n)
    env.close()
    r = np.asarray(returns)
    metrics = {
        "eval/mean_return": float(r.mean()),
        "eval/std_return": float(r.std()),
        "eval/min_return": float(r.min()),
        "eval/max_return": float(r.max()),
        "eval/mean_length": float(np.mean(lengths)),
        "eval/episodes": float(episodes),
    }
    threshold = solved_threshold(env_id)
    if threshold is not None:
        metrics["eval/solved"] = float(r.mean() >= threshold)
    return metrics


def record_gif(
    agent: Any, env_id: str, path: Path, seed: int, max_frames: int = 200
) -> Path | None:
    """One greedy episode (seed `seed`) as an animated GIF of its rgb_array frames, 300 px
    wide: at most `max_frames`, every k-th step of the longest episode the environment allows
    (only those are rendered: drawing is the slow part). None if it cannot render."""
    from PIL import Image

    # Frames drawn off screen need no window: SDL's dummy driver skips looking for a display
    # (and its "XDG_RUNTIME_DIR is invalid" warning on a server). A user's choice stands.
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    env = make_env(env_id, render_mode="rgb_array")
    limit = env.spec.max_episode_steps or 1000
    stride = max(1, -(-limit // max_frames))  # ceil
    obs, _ = env.reset(seed=seed)
    frames, done, t = [env.render()], False, 0
    while not done:
        obs, _, terminated, truncated, _ = env.step(agent.act(obs))
        done, t = terminated or truncated, t + 1
        if t % stride == 0 or done:
            frames.append(env.render())
    fps = env.metadata.get("render_fps") or 30
    env.close()
    if frames[0] is None:
        return None
    images = []
    for frame in frames[:max_frames]:
        image = Image.fromarray(np.asarray(frame, dtype=np.uint8))
        height = round(image.height * 300 / image.width)
        images.append(image.resize((300, height)))
    duration = max(20, round(1000 * stride / fps))  # browsers slow GIF frames under 20 ms
    images[0].save(path, save_all=True, append_images=images[1:], duration=duration, loop=0)
    return path
