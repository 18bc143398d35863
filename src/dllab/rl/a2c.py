"""A2C: synchronous advantage actor-critic on vectorised environments.

Mnih et al., "Asynchronous Methods for Deep Reinforcement Learning", ICML 2016, run
synchronously as OpenAI Baselines and SB3 do: every `num_steps` steps on `num_envs` copies,
ONE gradient step on −log π(a|s) A − β H(π) + c (V(s) − R)², with A from GAE (λ = 1 is the
n-step return of the paper). The same rollout as PPO; what differs is the update: no ratio,
no clipping, no second pass over old data. Checkpoints and resume are PPO's too: bit for bit
where the environment's episodes under way can be saved (classic control), fresh episodes and
a `resume_note_` where they cannot (Box2D, MuJoCo).
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from dllab.rl.options import RLOptions
from dllab.rl.ppo import PPO

__all__ = ["A2C", "A2COptions"]


class A2COptions(RLOptions):
    num_envs: int = Field(8, ge=1)  # environment copies stepped together
    num_steps: int = Field(5, ge=1)  # steps per copy per update (SB3's default)
    gae_lambda: float = Field(1.0, ge=0, le=1)  # 1: plain n-step returns, as in the paper
    norm_adv: bool = False
    ent_coef: float = Field(0.0, ge=0)
    vf_coef: float = Field(0.5, ge=0)
    max_grad_norm: float = Field(0.5, gt=0)
    anneal: bool = False  # learning rate falls linearly to 0 over total_steps


class A2C(PPO):
    name = "a2c"
    Options = A2COptions

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        o: A2COptions = self.options  # type: ignore[assignment]
        dist = self.net.policy(batch["obs"])
        adv = batch["advantages"]
        if o.norm_adv and len(adv) > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        policy_loss = -(dist.log_prob(batch["actions"]) * adv).mean()
        value_loss = 0.5 * ((self.net.value(batch["obs"]) - batch["returns"]) ** 2).mean()
        entropy = dist.entropy().mean()
        loss = policy_loss - o.ent_coef * entropy + o.vf_coef * value_loss
        self.optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.net.parameters(), o.max_grad_norm)
        self.optimizer.step()
        return {
            "loss": loss.item(),
            "policy_loss": policy_loss.item(),
            "value_loss": value_loss.item(),
            "entropy": entropy.item(),
        }


AGENTS = {"a2c": A2C}
