"""What every algorithm offers the one loop (`rl/loop.py`), and the numbers they share.

An agent owns its environments, networks and optimisers; `iterate` does one unit of work (an
episode for DQN, Q-learning, SARSA and REINFORCE, a rollout and its update for PPO and A2C, a
sweep for value iteration) and returns what to log. The loop counts, logs, checkpoints,
evaluates and reports; an agent never touches the run folder.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from dllab.config import OptimConfig
from dllab.errors import ConfigError
from dllab.rl.options import RLOptions


class Agent:
    """Base of every algorithm; constructors store, `setup` builds (environments, networks)."""

    name = "agent"
    Options: type[RLOptions] = RLOptions

    def __init__(
        self,
        options: RLOptions,
        env_id: str,
        *,
        seed: int = 0,
        hidden: tuple[int, ...] = (64, 64),
        optim: OptimConfig | None = None,
        device: torch.device | None = None,
    ) -> None:
        self.options, self.env_id, self.seed, self.hidden = options, env_id, seed, tuple(hidden)
        self.optim = optim or OptimConfig(name="adam", lr=1e-3)
        self.device = device or torch.device("cpu")
        self.steps_ = 0  # environment steps taken (summed over copies)
        self.episodes_ = 0  # episodes started by the training environment
        self.done_ = False  # a planner that converged sets it; the loop then stops

    def setup(self) -> None:
        """Make the environments, networks and optimisers."""
        raise NotImplementedError

    def iterate(self) -> dict[str, float]:
        """One unit of training; returns what to log (episode returns under `episode_return`)."""
        raise NotImplementedError

    def act(self, obs: Any) -> Any:
        """The greedy (evaluation) action for one observation."""
        raise NotImplementedError

    def networks(self) -> dict[str, nn.Module]:
        """The learned modules by name (their weights are what `init_from` copies)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: weights, optimisers, buffers, generators."""
        state: dict[str, Any] = {"steps": self.steps_, "episodes": self.episodes_}
        state["done"] = self.done_
        state["networks"] = {k: m.state_dict() for k, m in self.networks().items()}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps_, self.episodes_, self.done_ = state["steps"], state["episodes"], state["done"]
        self.load_weights(state["networks"])

    def load_weights(self, weights: dict[str, Any]) -> None:
        for key, module in self.networks().items():
            module.load_state_dict(weights[key])

    def network_name(self) -> str:
        """How the report names the model (e.g. `mlp 64x64`)."""
        return "mlp " + "x".join(str(h) for h in self.hidden)


def flat_size(space: Any, algorithm: str, env_id: str) -> int:
    """The length of a Box observation, flattened; a table-sized (Discrete) one is refused."""
    if getattr(space, "shape", None) in (None, ()):
        raise ConfigError(
            f"{algorithm} needs vector observations; {env_id} observes {space}: use q-learning, "
            "sarsa or value-iteration"
        )
    return int(np.prod(space.shape))


def action_count(space: Any, algorithm: str, env_id: str) -> int:
    """How many actions a Discrete space offers; a continuous (Box) one is refused."""
    if not hasattr(space, "n"):
        raise ConfigError(
            f"{algorithm} chooses among discrete actions; {env_id} acts in {space}: use sac"
        )
    return int(space.n)


def mlp(sizes: list[int], activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Linear layers of `sizes` with `activation` between them (none after the last).

    >>> mlp([4, 64, 2])(torch.zeros(8, 4)).shape  # a Q-network for CartPole
    torch.Size([8, 2])
    """
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """A numpy Generator's state as plain JSON (its 128-bit integers as decimal text)."""
    state = rng.bit_generator.state
    return {
        "bit_generator": state["bit_generator"],
        "state": {k: str(v) for k, v in state["state"].items()},
        "has_uint32": state["has_uint32"],
        "uinteger": state["uinteger"],
    }


def set_rng_state(rng: np.random.Generator, saved: dict[str, Any]) -> None:
    rng.bit_generator.state = {**saved, "state": {k: int(v) for k, v in saved["state"].items()}}


def linear_schedule(start: float, end: float, duration: float, t: float) -> float:
    """`start` moving linearly to `end` over `duration` steps, then `end` (ε-greedy decay)."""
    return end + (start - end) * max(0.0, 1.0 - t / max(duration, 1.0))
