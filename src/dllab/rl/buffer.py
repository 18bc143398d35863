"""The experience replay buffer of DQN and SAC: a ring of the last `capacity` transitions.

Plain numpy arrays, so a checkpoint stores them as tensors in safetensors (never pickle) and
a resumed run samples exactly what an uninterrupted one would.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


class ReplayBuffer:
    """Transitions (obs, action, reward, next_obs, terminated); `sample` draws uniformly.

    >>> buf = ReplayBuffer(1000, obs_shape=(4,), action_shape=(), action_dtype=np.int64)
    >>> buf.add(np.zeros(4), 1, 1.0, np.ones(4), False)
    >>> len(buf)
    1
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        action_shape: tuple[int, ...] = (),
        action_dtype: Any = np.int64,
    ) -> None:
        self.capacity = capacity
        self.obs = np.zeros((capacity, *obs_shape), dtype=np.float32)
        self.next_obs = np.zeros((capacity, *obs_shape), dtype=np.float32)
        self.actions = np.zeros((capacity, *action_shape), dtype=action_dtype)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminated = np.zeros(capacity, dtype=np.float32)
        self.pos, self.full = 0, False

    def __len__(self) -> int:
        return self.capacity if self.full else self.pos

    def add(self, obs: Any, action: Any, reward: float, next_obs: Any, terminated: bool) -> None:
        i = self.pos
        self.obs[i], self.actions[i], self.rewards[i] = obs, action, reward
        self.next_obs[i], self.terminated[i] = next_obs, float(terminated)
        self.pos = (self.pos + 1) % self.capacity
        self.full = self.full or self.pos == 0

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """`batch_size` transitions drawn with replacement by `rng` (the agent's generator)."""
        idx = rng.integers(0, len(self), size=batch_size)
        return {
            "obs": torch.from_numpy(self.obs[idx]),  # (B, *obs_shape)
            "actions": torch.from_numpy(self.actions[idx]),  # (B, *action_shape)
            "rewards": torch.from_numpy(self.rewards[idx]),  # (B,)
            "next_obs": torch.from_numpy(self.next_obs[idx]),
            "terminated": torch.from_numpy(self.terminated[idx]),  # (B,) 1.0 where no future
        }

    _FIELDS = ("obs", "next_obs", "actions", "rewards", "terminated")

    def state_dict(self) -> dict[str, Any]:
        n = len(self)  # only the filled rows: a young buffer's checkpoint stays small
        return {
            "pos": self.pos,
            "full": self.full,
            **{f: getattr(self, f)[:n] for f in self._FIELDS},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pos, self.full = state["pos"], state["full"]
        for f in self._FIELDS:
            saved = np.asarray(state[f])
            getattr(self, f)[: len(saved)] = saved
