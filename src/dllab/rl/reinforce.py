"""REINFORCE with a learned baseline: the policy-gradient theorem, one episode at a time.

Williams, "Simple statistical gradient-following algorithms for connectionist reinforcement
learning", Machine Learning 1992; with a state-value baseline (Sutton & Barto 2018, §13.4):
∇J ≈ Σ_t ∇ log π(a_t|s_t) (G_t − V(s_t)). The baseline lowers the variance, not the mean.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import nn

from dllab.rl.agent import Agent, action_count, flat_size
from dllab.rl.envs import episode_seed, make_env
from dllab.rl.options import RLOptions
from dllab.rl.ppo import ActorCritic
from dllab.train.optim import build_optimizer

__all__ = ["Reinforce", "ReinforceOptions", "discounted_returns"]


class ReinforceOptions(RLOptions):
    vf_coef: float = Field(0.5, ge=0)  # weight of the baseline's regression loss
    norm_adv: bool = True  # scale each episode's advantages to unit sd
    max_grad_norm: float = Field(0.5, gt=0)


def discounted_returns(rewards: torch.Tensor, gamma: float) -> torch.Tensor:
    """G_t = r_t + γ G_{t+1} over one episode, shape (T,) -> (T,)."""
    returns = torch.zeros_like(rewards)
    running = torch.zeros(())
    for t in reversed(range(len(rewards))):
        running = rewards[t] + gamma * running
        returns[t] = running
    return returns


class Reinforce(Agent):
    """Monte-Carlo policy gradient on PPO's actor-critic networks; it checkpoints between
    whole episodes, so there is never an episode under way to save."""

    name = "reinforce"
    Options = ReinforceOptions

    def setup(self) -> None:
        self.env = make_env(self.env_id, seed=self.seed)
        n_obs = flat_size(self.env.observation_space, self.name, self.env_id)
        n_actions = action_count(self.env.action_space, self.name, self.env_id)
        self.net = ActorCritic(n_obs, n_actions, self.hidden).to(self.device)
        self.optimizer = build_optimizer(self.optim, self.net)

    def networks(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    def act(self, obs: Any) -> int:
        return self.net.greedy(obs)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.optimizer.load_state_dict(state["optimizer"])

    def iterate(self) -> dict[str, float]:
        o: ReinforceOptions = self.options  # type: ignore[assignment]
        obs, _ = self.env.reset(seed=episode_seed(self.seed, self.episodes_))
        self.episodes_ += 1
        observations, actions, rewards, done = [], [], [], False
        while not done:
            x = torch.as_tensor(obs, dtype=torch.float32)
            with torch.no_grad():
                action = int(self.net.policy(x).sample())
            obs, reward, terminated, truncated, _ = self.env.step(action)
            observations.append(x)
            actions.append(action)
            rewards.append(float(reward))
            done = terminated or truncated
            self.steps_ += 1
        states = torch.stack(observations)  # (T, obs_dim)
        returns = discounted_returns(torch.tensor(rewards), o.gamma)  # (T,)
        values = self.net.value(states)
        advantages = returns - values.detach()
        if o.norm_adv and len(advantages) > 1:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        logprobs = self.net.policy(states).log_prob(torch.tensor(actions))
        policy_loss = -(logprobs * advantages).mean()
        value_loss = 0.5 * ((values - returns) ** 2).mean()
        loss = policy_loss + o.vf_coef * value_loss
        self.optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.net.parameters(), o.max_grad_norm)
        self.optimizer.step()
        return {"episode_return": float(sum(rewards)), "loss": loss.item()}


AGENTS = {"reinforce": Reinforce}
