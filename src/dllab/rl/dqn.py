"""DQN: Q-learning with a neural network, a replay buffer and a target network.

Mnih et al., "Human-level control through deep reinforcement learning", Nature 2015; the
double-DQN target of van Hasselt, Guez & Silver, AAAI 2016. Laid out like CleanRL's `dqn.py`:
options, network, the step (act ε-greedily, store, learn from a sampled batch, sync target).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from dllab.rl.agent import (
    Agent,
    action_count,
    flat_size,
    linear_schedule,
    mlp,
    rng_state,
    set_rng_state,
)
from dllab.rl.buffer import ReplayBuffer
from dllab.rl.envs import episode_seed, make_env
from dllab.rl.options import RLOptions
from dllab.train.optim import build_optimizer

__all__ = ["DQN", "DQNOptions", "dqn_target"]


class DQNOptions(RLOptions):
    buffer_size: int = Field(100_000, ge=1)  # transitions kept for replay
    batch_size: int = Field(64, ge=1)  # transitions per gradient step
    learning_starts: int = Field(1_000, ge=0)  # random steps before the first update
    train_frequency: int = Field(256, ge=1)  # env steps between training phases
    gradient_steps: int = Field(128, ge=1)  # gradient steps per training phase
    target_update_interval: int = Field(10, ge=1)  # env steps between target syncs
    tau: float = Field(1.0, gt=0, le=1)  # 1: copy the online net; <1: Polyak averaging
    double_dqn: bool = True  # online net picks a', target net values it (less overestimation)
    start_epsilon: float = Field(1.0, ge=0, le=1)
    end_epsilon: float = Field(0.04, ge=0, le=1)
    exploration_fraction: float = Field(0.16, gt=0, le=1)  # share of total_steps ε decays over
    max_grad_norm: float = Field(10.0, gt=0)


def dqn_target(
    rewards: torch.Tensor,
    terminated: torch.Tensor,
    next_q_target: torch.Tensor,
    next_q_online: torch.Tensor | None,
    gamma: float,
) -> torch.Tensor:
    """y = r + γ (1 − terminated) Q_target(s', a'), a' = argmax Q_online(s') if double DQN,
    else argmax Q_target(s') (pass `next_q_online=None`). Shapes: (B,), (B,), (B, A), (B, A)."""
    if next_q_online is None:
        next_value = next_q_target.max(dim=1).values
    else:
        best = next_q_online.argmax(dim=1, keepdim=True)  # (B, 1)
        next_value = next_q_target.gather(1, best).squeeze(1)
    return rewards + gamma * (1.0 - terminated) * next_value  # (B,)


class DQN(Agent):
    name = "dqn"
    Options = DQNOptions

    def setup(self) -> None:
        o: DQNOptions = self.options  # type: ignore[assignment]
        self.env = make_env(self.env_id, seed=self.seed)
        n_obs = flat_size(self.env.observation_space, self.name, self.env_id)
        n_actions = action_count(self.env.action_space, self.name, self.env_id)
        self.q_network = mlp([n_obs, *self.hidden, n_actions]).to(self.device)
        self.target_network = mlp([n_obs, *self.hidden, n_actions]).to(self.device)
        self.target_network.load_state_dict(self.q_network.state_dict())
        self.optimizer = build_optimizer(self.optim, self.q_network)
        self.buffer = ReplayBuffer(o.buffer_size, self.env.observation_space.shape)
        self.rng = np.random.default_rng(self.seed)

    def networks(self) -> dict[str, torch.nn.Module]:
        return {"q_network": self.q_network, "target_network": self.target_network}

    def epsilon(self) -> float:
        o = self.options
        duration = o.exploration_fraction * o.total_steps
        return linear_schedule(o.start_epsilon, o.end_epsilon, duration, self.steps_)

    @torch.no_grad()
    def act(self, obs: Any) -> int:
        q = self.q_network(torch.as_tensor(obs, dtype=torch.float32, device=self.device))
        return int(q.argmax())

    def iterate(self) -> dict[str, float]:
        """One episode: every step acts, stores, and on schedule learns and syncs the target."""
        o: DQNOptions = self.options  # type: ignore[assignment]
        obs, _ = self.env.reset(seed=episode_seed(self.seed, self.episodes_))
        self.episodes_ += 1
        done, total, losses = False, 0.0, []
        while not done:
            explore = self.rng.random() < self.epsilon() or self.steps_ < o.learning_starts
            action = int(self.rng.integers(self.env.action_space.n)) if explore else self.act(obs)
            next_obs, reward, terminated, truncated, _ = self.env.step(action)
            # A time-limit truncation still has a future: only `terminated` stops bootstrapping.
            self.buffer.add(obs, action, float(reward), next_obs, terminated)
            obs, done, total = next_obs, terminated or truncated, total + float(reward)
            self.steps_ += 1
            if self.steps_ > o.learning_starts and self.steps_ % o.train_frequency == 0:
                losses += [self.learn() for _ in range(o.gradient_steps)]
            if self.steps_ % o.target_update_interval == 0:
                self.sync_target()
        logs = {"episode_return": total, "epsilon": self.epsilon()}
        if losses:
            logs["loss"] = float(np.mean(losses))
        return logs

    def learn(self) -> float:
        o: DQNOptions = self.options  # type: ignore[assignment]
        batch = {
            k: v.to(self.device) for k, v in self.buffer.sample(o.batch_size, self.rng).items()
        }
        with torch.no_grad():
            next_q_target = self.target_network(batch["next_obs"])  # (B, A)
            next_q_online = self.q_network(batch["next_obs"]) if o.double_dqn else None
            y = dqn_target(
                batch["rewards"], batch["terminated"], next_q_target, next_q_online, o.gamma
            )
        q = self.q_network(batch["obs"]).gather(1, batch["actions"].long().unsqueeze(1)).squeeze(1)
        loss = F.smooth_l1_loss(q, y)  # Huber: a rare huge TD error does not blow up the step
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.q_network.parameters(), o.max_grad_norm)
        self.optimizer.step()
        return loss.item()

    @torch.no_grad()
    def sync_target(self) -> None:
        """θ_target ← τ θ + (1 − τ) θ_target (τ = 1: a copy)."""
        tau = self.options.tau
        for t, p in zip(self.target_network.parameters(), self.q_network.parameters(), strict=True):
            t.mul_(1.0 - tau).add_(p, alpha=tau)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["optimizer"] = self.optimizer.state_dict()
        state["buffer"], state["rng"] = self.buffer.state_dict(), rng_state(self.rng)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.optimizer.load_state_dict(state["optimizer"])
        self.buffer.load_state_dict(state["buffer"])
        set_rng_state(self.rng, state["rng"])


AGENTS = {"dqn": DQN}
