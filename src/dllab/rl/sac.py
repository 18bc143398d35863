"""SAC: soft actor-critic for continuous actions (Pendulum-v1).

Haarnoja et al., "Soft Actor-Critic Algorithms and Applications", 2018: maximise return plus
α × entropy, with two Q networks (the smaller one is the target, against overestimation),
Polyak-averaged target networks, a tanh-squashed Gaussian policy (log-probability corrected
for the squashing, appendix C) and α tuned to keep the entropy near −dim(A). Laid out like
CleanRL's `sac_continuous_action.py`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from dllab.rl.agent import Agent, flat_size, mlp, rng_state, set_rng_state
from dllab.rl.buffer import ReplayBuffer
from dllab.rl.envs import episode_seed, make_env
from dllab.rl.options import RLOptions
from dllab.train.optim import build_optimizer

__all__ = ["SAC", "SACOptions"]

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0  # keeps the Gaussian from collapsing or exploding


class SACOptions(RLOptions):
    buffer_size: int = Field(1_000_000, ge=1)  # transitions kept for replay
    batch_size: int = Field(256, ge=1)
    learning_starts: int = Field(1_000, ge=0)  # uniform random actions before learning
    tau: float = Field(0.005, gt=0, le=1)  # Polyak step of the target critics
    policy_frequency: int = Field(1, ge=1)  # critic steps per actor step (delayed actor)
    autotune: bool = True  # learn α towards the target entropy −dim(A)
    alpha: float = Field(0.2, gt=0)  # the fixed temperature when autotune is off


class Actor(nn.Module):
    """A tanh-squashed Gaussian policy, rescaled to the action space's bounds."""

    def __init__(
        self, n_obs: int, n_act: int, hidden: tuple[int, ...], low: Any, high: Any
    ) -> None:
        super().__init__()
        self.trunk = mlp([n_obs, *hidden])
        self.trunk.append(nn.ReLU())
        self.mean = nn.Linear(hidden[-1], n_act)
        self.log_std = nn.Linear(hidden[-1], n_act)
        low, high = (
            torch.as_tensor(low, dtype=torch.float32),
            torch.as_tensor(high, dtype=torch.float32),
        )
        self.register_buffer("scale", (high - low) / 2)
        self.register_buffer("bias", (high + low) / 2)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A sampled action, its log-probability (B,), and the deterministic (mean) action."""
        h = self.trunk(obs)
        mean = self.mean(h)
        log_std = torch.tanh(self.log_std(h))
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (log_std + 1)
        normal = torch.distributions.Normal(mean, log_std.exp())
        x = normal.rsample()  # reparameterised: gradients flow through the sample
        y = torch.tanh(x)
        # log π(a) = log N(x) − Σ log |da/dx|, da/dx = scale (1 − tanh²x)  (appendix C)
        log_prob = normal.log_prob(x) - torch.log(self.scale * (1 - y.pow(2)) + 1e-6)
        return (
            y * self.scale + self.bias,
            log_prob.sum(-1),
            torch.tanh(mean) * self.scale + self.bias,
        )


class Critics(nn.Module):
    """Two independent Q(s, a) networks."""

    def __init__(self, n_in: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.q1, self.q2 = mlp([n_in, *hidden, 1]), mlp([n_in, *hidden, 1])

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([obs, act], dim=-1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)  # (B,), (B,)


class SAC(Agent):
    name = "sac"
    Options = SACOptions

    def setup(self) -> None:
        o: SACOptions = self.options  # type: ignore[assignment]
        self.env = make_env(self.env_id, seed=self.seed)
        space = self.env.action_space
        if not hasattr(space, "low"):
            from dllab.errors import ConfigError

            raise ConfigError(
                f"sac needs continuous actions; {self.env_id} has {space}: use dqn or ppo"
            )
        n_obs = flat_size(self.env.observation_space, self.name, self.env_id)
        n_act = int(np.prod(space.shape))
        self.low, self.high = space.low, space.high
        self.actor = Actor(n_obs, n_act, self.hidden, space.low, space.high).to(self.device)
        self.critics = Critics(n_obs + n_act, self.hidden).to(self.device)
        self.target_critics = Critics(n_obs + n_act, self.hidden).to(self.device)
        self.target_critics.load_state_dict(self.critics.state_dict())
        self.actor_optimizer = build_optimizer(self.optim, self.actor)
        self.critic_optimizer = build_optimizer(self.optim, self.critics)
        self.log_alpha = nn.Parameter(torch.tensor(float(np.log(o.alpha))))
        self.alpha_optimizer = torch.optim.Adam([self.log_alpha], lr=self.optim.lr)
        self.target_entropy = -float(n_act)
        self.buffer = ReplayBuffer(
            o.buffer_size, self.env.observation_space.shape, (n_act,), np.float32
        )
        self.rng = np.random.default_rng(self.seed)

    def networks(self) -> dict[str, nn.Module]:
        return {"actor": self.actor, "critics": self.critics, "target_critics": self.target_critics}

    @torch.no_grad()
    def act(self, obs: Any) -> np.ndarray:
        _, _, mean = self.actor(torch.as_tensor(obs, dtype=torch.float32, device=self.device)[None])
        return mean[0].cpu().numpy()

    def iterate(self) -> dict[str, float]:
        """One episode: act (uniformly at random until `learning_starts`), store, learn."""
        o: SACOptions = self.options  # type: ignore[assignment]
        obs, _ = self.env.reset(seed=episode_seed(self.seed, self.episodes_))
        self.episodes_ += 1
        done, total, logs = False, 0.0, []
        while not done:
            if self.steps_ < o.learning_starts:
                action = self.rng.uniform(self.low, self.high).astype(np.float32)
            else:
                with torch.no_grad():
                    sample, _, _ = self.actor(torch.as_tensor(obs, dtype=torch.float32)[None])
                action = sample[0].numpy()
            next_obs, reward, terminated, truncated, _ = self.env.step(action)
            self.buffer.add(obs, action, float(reward), next_obs, terminated)
            obs, done, total = next_obs, terminated or truncated, total + float(reward)
            self.steps_ += 1
            if self.steps_ > o.learning_starts:
                logs.append(self.learn())
        out = {"episode_return": total}
        if logs:
            out |= {k: float(np.mean([x[k] for x in logs if k in x])) for k in logs[-1]}
        return out

    def learn(self) -> dict[str, float]:
        o: SACOptions = self.options  # type: ignore[assignment]
        b = self.buffer.sample(o.batch_size, self.rng)
        alpha = self.log_alpha.exp().detach() if o.autotune else torch.tensor(o.alpha)
        with torch.no_grad():
            next_action, next_logp, _ = self.actor(b["next_obs"])
            q1_next, q2_next = self.target_critics(b["next_obs"], next_action)
            soft_value = torch.min(q1_next, q2_next) - alpha * next_logp
            y = b["rewards"] + o.gamma * (1.0 - b["terminated"]) * soft_value  # (B,)
        q1, q2 = self.critics(b["obs"], b["actions"])
        critic_loss = F.mse_loss(q1, y) + F.mse_loss(q2, y)
        self.critic_optimizer.zero_grad()
        critic_loss.backward()
        self.critic_optimizer.step()
        logs = {"critic_loss": critic_loss.item(), "alpha": float(alpha)}
        if self.steps_ % o.policy_frequency == 0:
            for _ in range(o.policy_frequency):  # catch up on the delayed actor steps
                action, logp, _ = self.actor(b["obs"])
                q1_pi, q2_pi = self.critics(b["obs"], action)
                actor_loss = (alpha * logp - torch.min(q1_pi, q2_pi)).mean()
                self.actor_optimizer.zero_grad()
                actor_loss.backward()
                self.actor_optimizer.step()
                if o.autotune:  # raise α when the policy's entropy falls below the target
                    alpha_loss = -(
                        self.log_alpha.exp() * (logp.detach() + self.target_entropy)
                    ).mean()
                    self.alpha_optimizer.zero_grad()
                    alpha_loss.backward()
                    self.alpha_optimizer.step()
            logs["actor_loss"] = actor_loss.item()
        with torch.no_grad():  # θ_target ← τ θ + (1 − τ) θ_target
            for t, p in zip(
                self.target_critics.parameters(), self.critics.parameters(), strict=True
            ):
                t.mul_(1 - o.tau).add_(p, alpha=o.tau)
        return logs

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["log_alpha"] = self.log_alpha.detach().clone()
        for name in ("actor_optimizer", "critic_optimizer", "alpha_optimizer"):
            state[name] = getattr(self, name).state_dict()
        state["buffer"], state["rng"] = self.buffer.state_dict(), rng_state(self.rng)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        for name in ("actor_optimizer", "critic_optimizer", "alpha_optimizer"):
            getattr(self, name).load_state_dict(state[name])
        self.buffer.load_state_dict(state["buffer"])
        set_rng_state(self.rng, state["rng"])


AGENTS = {"sac": SAC}
