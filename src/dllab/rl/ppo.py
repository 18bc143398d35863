"""PPO: proximal policy optimisation with the clipped objective and GAE.

Schulman et al., "Proximal Policy Optimization Algorithms", 2017 (clipped surrogate, eq. 7);
generalised advantage estimation from Schulman et al., ICLR 2016 (eq. 16). Laid out like
CleanRL's `ppo.py`: options, the actor-critic, then one iteration = a rollout of `num_steps`
on `num_envs` copies (gymnasium's SyncVectorEnv), GAE, and `update_epochs` passes of
minibatch updates. Details from "The 37 implementation details of PPO" (Huang et al., 2022):
orthogonal init, advantage normalisation per minibatch, optional value clipping, a linearly
annealed learning rate (and clip range), gradient-norm clipping.

A checkpoint falls between rollouts, with an episode under way on every copy. Where the
environment's state is plain numbers (classic control, `envs.copy_state`) the checkpoint holds
those episodes and the agent's current observations, and a resumed run continues bit for bit.
Where it is not (Box2D's LunarLander, MuJoCo) a resumed run starts fresh seeded episodes on
every copy and says so in `resume_note_`: the same weights, optimiser and generators, but not
bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pydantic import Field
from torch import nn
from torch.distributions import Categorical

from dllab.rl.agent import Agent, action_count, flat_size
from dllab.rl.envs import (
    can_save_state,
    copy_state,
    episode_seed,
    make_vector_env,
    set_copy_state,
)
from dllab.rl.options import RLOptions
from dllab.train.optim import build_optimizer

__all__ = ["PPO", "PPOOptions", "clipped_policy_loss", "gae"]


class PPOOptions(RLOptions):
    num_envs: int = Field(8, ge=1)  # environment copies stepped together
    num_steps: int = Field(32, ge=1)  # steps per copy per rollout
    gae_lambda: float = Field(0.8, ge=0, le=1)  # GAE: 0 = one-step TD, 1 = Monte Carlo
    update_epochs: int = Field(20, ge=1)  # passes over each rollout
    num_minibatches: int = Field(1, ge=1)  # minibatches per pass
    clip_coef: float = Field(0.2, gt=0)  # ratio clipped to [1 − c, 1 + c]
    clip_vloss: bool = False  # clip the value update like the policy's (CleanRL: on)
    norm_adv: bool = True  # advantages to zero mean, unit sd per minibatch
    ent_coef: float = Field(0.0, ge=0)  # entropy bonus: keeps the policy exploring
    vf_coef: float = Field(0.5, ge=0)  # weight of the value loss
    max_grad_norm: float = Field(0.5, gt=0)
    anneal: bool = True  # learning rate and clip range fall linearly to 0 over total_steps


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    next_value: torch.Tensor,
    gamma: float,
    lam: float,
) -> torch.Tensor:
    """Advantages A_t = Σ_k (γλ)^k δ_{t+k}, δ_t = r_t + γ V(s_{t+1}) (1 − d_t) − V(s_t).

    `dones[t]` is 1 where the episode ended with step t (nothing to bootstrap from after it);
    `next_value` is V of the observation after the last step. Shapes: (T, N) and (N,).
    """
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(next_value)
    for t in reversed(range(len(rewards))):
        following = next_value if t == len(rewards) - 1 else values[t + 1]
        alive = 1.0 - dones[t]
        delta = rewards[t] + gamma * following * alive - values[t]
        running = delta + gamma * lam * alive * running
        advantages[t] = running
    return advantages  # (T, N)


def clipped_policy_loss(
    new_logprob: torch.Tensor, old_logprob: torch.Tensor, advantages: torch.Tensor, clip: float
) -> torch.Tensor:
    """−E[min(ρ A, clip(ρ, 1 − ε, 1 + ε) A)], ρ = π_new(a|s) / π_old(a|s) (PPO eq. 7)."""
    ratio = (new_logprob - old_logprob).exp()
    unclipped = ratio * advantages
    clipped = ratio.clamp(1.0 - clip, 1.0 + clip) * advantages
    return -torch.min(unclipped, clipped).mean()


def _layer(n_in: int, n_out: int, gain: float = float(np.sqrt(2))) -> nn.Linear:
    layer = nn.Linear(n_in, n_out)
    nn.init.orthogonal_(layer.weight, gain)  # orthogonal init (implementation detail 2)
    nn.init.zeros_(layer.bias)
    return layer


def _tower(sizes: list[int], out_gain: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-2], sizes[1:-1], strict=True):
        layers += [_layer(n_in, n_out), nn.Tanh()]
    return nn.Sequential(*layers, _layer(sizes[-2], sizes[-1], out_gain))


class ActorCritic(nn.Module):
    """Separate policy and value MLPs (tanh), as CleanRL's `Agent` for classic control."""

    def __init__(self, n_obs: int, n_actions: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.critic = _tower([n_obs, *hidden, 1], out_gain=1.0)
        self.actor = _tower([n_obs, *hidden, n_actions], out_gain=0.01)  # near-uniform start

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)  # (B,)

    def policy(self, obs: torch.Tensor) -> Categorical:
        return Categorical(logits=self.actor(obs))

    @torch.no_grad()
    def greedy(self, obs: Any) -> int:
        """The most probable action for one observation: how a trained policy is judged."""
        return int(self.actor(torch.as_tensor(obs, dtype=torch.float32)).argmax())


class PPO(Agent):
    name = "ppo"
    Options = PPOOptions

    def setup(self) -> None:
        o: PPOOptions = self.options  # type: ignore[assignment]
        self.envs = make_vector_env(self.env_id, o.num_envs, self.seed)
        space = self.envs.single_observation_space
        n_obs = flat_size(space, self.name, self.env_id)
        n_actions = action_count(self.envs.single_action_space, self.name, self.env_id)
        self.net = ActorCritic(n_obs, n_actions, self.hidden).to(self.device)
        self.optimizer = build_optimizer(self.optim, self.net)
        self.next_obs = None  # the copies' current observations (reset at the first rollout)
        self.resume_note_: str | None = None  # set on a resume that restarts the episodes

    def networks(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    def act(self, obs: Any) -> int:
        return self.net.greedy(obs)

    def progress(self) -> float:
        """Share of the budget left, 1 → 0: the factor annealing scales by."""
        return 1.0 - self.steps_ / self.options.total_steps if self.options.anneal else 1.0

    def iterate(self) -> dict[str, float]:
        o: PPOOptions = self.options  # type: ignore[assignment]
        if self.next_obs is None:  # a new run, or a resume without saved episodes: fresh ones
            obs, _ = self.envs.reset(seed=episode_seed(self.seed, self.episodes_))
            self.next_obs, self.episodes_ = obs, self.episodes_ + o.num_envs
        for group in self.optimizer.param_groups:
            group["lr"] = self.optim.lr * self.progress()
        batch, finished = self.rollout()
        logs = self.update(batch)
        if finished:
            logs["episode_return"] = float(np.mean(finished))
        return logs

    @torch.no_grad()
    def rollout(self) -> tuple[dict[str, torch.Tensor], list[float]]:
        """`num_steps` steps on every copy; returns the flattened batch and finished returns."""
        o: PPOOptions = self.options  # type: ignore[assignment]
        T, N = o.num_steps, o.num_envs
        obs = torch.zeros((T, N, *self.envs.single_observation_space.shape))
        actions, logprobs = torch.zeros((T, N), dtype=torch.long), torch.zeros((T, N))
        rewards, dones, values = torch.zeros((T, N)), torch.zeros((T, N)), torch.zeros((T, N))
        finished: list[float] = []
        for t in range(T):
            obs[t] = torch.as_tensor(self.next_obs, dtype=torch.float32)
            dist = self.net.policy(obs[t])
            actions[t] = dist.sample()
            logprobs[t], values[t] = dist.log_prob(actions[t]), self.net.value(obs[t])
            next_obs, reward, terminated, truncated, info = self.envs.step(actions[t].numpy())
            reward = torch.as_tensor(reward, dtype=torch.float32)
            # A copy cut by the time limit still had a future: bootstrap it with V(final obs).
            for i in np.flatnonzero(truncated & ~terminated):
                final = torch.as_tensor(info["final_obs"][i], dtype=torch.float32)
                reward[i] += o.gamma * self.net.value(final[None])[0]
            rewards[t], dones[t] = (
                reward,
                torch.as_tensor(terminated | truncated, dtype=torch.float32),
            )
            if "final_info" in info:
                ended = info["final_info"]["_episode"]
                finished += info["final_info"]["episode"]["r"][ended].tolist()
                self.episodes_ += int(ended.sum())
            self.next_obs = next_obs
            self.steps_ += N
        next_value = self.net.value(torch.as_tensor(self.next_obs, dtype=torch.float32))
        advantages = gae(rewards, values, dones, next_value, o.gamma, o.gae_lambda)
        batch = {
            "obs": obs.flatten(0, 1),  # (T*N, obs_dim)
            "actions": actions.flatten(),
            "logprobs": logprobs.flatten(),
            "advantages": advantages.flatten(),
            "returns": (advantages + values).flatten(),  # the value target (λ-return)
            "values": values.flatten(),
        }
        return batch, finished

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """`update_epochs` passes of minibatch steps on the clipped objective."""
        o: PPOOptions = self.options  # type: ignore[assignment]
        clip = o.clip_coef * max(self.progress(), 1e-8)
        size = len(batch["actions"])
        minibatch = max(1, size // o.num_minibatches)
        stats: dict[str, list[float]] = {
            "loss": [],
            "policy_loss": [],
            "value_loss": [],
            "entropy": [],
        }
        for _ in range(o.update_epochs):
            order = torch.randperm(size)
            for start in range(0, size, minibatch):
                mb = {k: v[order[start : start + minibatch]] for k, v in batch.items()}
                dist = self.net.policy(mb["obs"])
                adv = mb["advantages"]
                if o.norm_adv and len(adv) > 1:
                    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                pg_loss = clipped_policy_loss(
                    dist.log_prob(mb["actions"]), mb["logprobs"], adv, clip
                )
                new_value = self.net.value(mb["obs"])
                v_loss = (new_value - mb["returns"]) ** 2
                if o.clip_vloss:
                    moved = mb["values"] + (new_value - mb["values"]).clamp(-clip, clip)
                    v_loss = torch.max(v_loss, (moved - mb["returns"]) ** 2)
                v_loss = 0.5 * v_loss.mean()
                entropy = dist.entropy().mean()
                loss = pg_loss - o.ent_coef * entropy + o.vf_coef * v_loss
                self.optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.net.parameters(), o.max_grad_norm)
                self.optimizer.step()
                for k, v in zip(stats, (loss, pg_loss, v_loss, entropy), strict=True):
                    stats[k].append(v.item())
        return {k: float(np.mean(v)) for k, v in stats.items()}

    def state_dict(self) -> dict[str, Any]:
        """Weights, optimiser and, where they can be saved, the episodes under way."""
        state = {**super().state_dict(), "optimizer": self.optimizer.state_dict()}
        if self.next_obs is not None and can_save_state(self.envs.envs[0]):
            copies = [copy_state(env) for env in self.envs.envs]
            state["episodes_under_way"] = {"obs": self.next_obs, "copies": copies}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.optimizer.load_state_dict(state["optimizer"])
        saved = state.get("episodes_under_way")
        if saved is None:  # the next rollout resets every copy with fresh seeds
            self.resume_note_ = self._restart_note()
            return
        self.envs.reset()  # gymnasium steps only a copy that was reset; all is overwritten now
        for env, copy in zip(self.envs.envs, saved["copies"], strict=True):
            set_copy_state(env, copy)
        self.next_obs = saved["obs"].copy()

    def _restart_note(self) -> str:
        """The one line a resume without the episodes under way owes the user."""
        why = (
            "this checkpoint holds none of them"  # written before episodes were saved
            if can_save_state(self.envs.envs[0])
            else f"{self.env_id} keeps its state in objects a checkpoint cannot hold"
        )
        return (
            f"the {self.envs.num_envs} episodes under way restart: {why}, so the run goes on "
            "from the same weights but not bit for bit"
        )


AGENTS = {"ppo": PPO}
