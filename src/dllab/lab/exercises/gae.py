"""Grader for gae: generalised advantage estimation over a rollout with episode ends inside it.

The reference is CleanRL's loop (`ppo.py`), in float64 torch, with one change of convention:
here `dones[t] = 1` says the episode ENDED at step t (after reward r_t), so step t does not
bootstrap on values[t + 1], which belongs to the next episode (CleanRL stores the flag with
the next observation instead). Going backwards (Schulman et al. 2016, eq. 16):

    next_value = last_value at t = T - 1, else values[t + 1]
    delta_t    = r_t + gamma * next_value * (1 - done_t) - values[t]
    A_t        = delta_t + gamma * lam * (1 - done_t) * A_{t+1}
    returns    = advantages + values

Half the cases are one environment (T,), half a vectorised rollout (T, n_envs). Every case has
an episode end in the middle and gamma != lam, so each known mistake changes the numbers.
"""

from __future__ import annotations

import numpy as np
import torch

from dllab.lab.checks import Case, assert_close, call, text, unpack

NO_RESET = text(
    "At an episode end (done = 1) the advantage must not reach into the next episode: multiply "
    "BOTH the bootstrapped value and the carried advantage by (1 - done_t).",
    "在回合结束处（done = 1），优势不能延伸到下一个回合：自举的价值和传递下来的优势都要乘以 "
    "(1 - done_t)。",
)
SWAPPED = text(
    "gamma discounts the next value in delta_t = r_t + gamma V(s_{t+1}) - V(s_t); the trace "
    "decays by gamma * lam. Do not swap gamma and lam.",
    "gamma 用于 delta_t = r_t + gamma V(s_{t+1}) - V(s_t) 中对下一价值的折扣；"
    "轨迹的衰减系数是 gamma * lam。不要把 gamma 和 lam 弄反。",
)
NO_GAMMA_TRACE = text(
    "The advantage carried back decays by gamma * lam, not by lam alone.",
    "向前传递的优势按 gamma * lam 衰减，而不只是 lam。",
)
NO_BOOTSTRAP = text(
    "The rollout is cut off, not ended, at its last step: bootstrap there on last_value (times "
    "1 - done of that step).",
    "rollout 在最后一步只是被截断，并没有结束：那里要用 last_value 自举（乘以该步的 1 - done）。",
)
RETURNS = text(
    "The returns PPO fits its value function to are advantages + values (the lambda-return), "
    "not the discounted rewards-to-go.",
    "PPO 用来拟合价值函数的回报是 advantages + values（lambda 回报），而不是折扣后的累积奖励。",
)


def _gae(r, v, d, last, gamma, lam, *, reset="both", trace=None, boot=True):
    """(advantages, returns) in torch, with a known mistake switched on."""
    r, v, d, last = (torch.tensor(x, dtype=torch.float64) for x in (r, v, d, last))
    adv, carry = torch.zeros_like(v), torch.zeros_like(last)
    for t in reversed(range(len(r))):
        nxt = (last if boot else torch.zeros_like(last)) if t == len(r) - 1 else v[t + 1]
        live = 1.0 - d[t]
        delta = r[t] + gamma * nxt * (live if reset in ("both", "value") else 1.0) - v[t]
        decay = gamma * lam if trace is None else trace
        carry = delta + decay * (live if reset in ("both", "trace") else 1.0) * carry
        adv[t] = carry
    return adv.numpy(), (adv + v).numpy()


def _rewards_to_go(r, d, last, gamma, *, boot):
    out, carry = np.zeros_like(r), last * boot
    for t in reversed(range(len(r))):
        carry = r[t] + gamma * carry * (1.0 - d[t])
        out[t] = carry
    return out


def make_case(index: int, rng: np.random.Generator) -> Case:
    T = 8 if index == 0 else int(rng.integers(5, 17))
    shape = (T,) if index % 2 == 0 else (T, int(rng.integers(2, 5)))
    rewards = rng.normal(size=shape) + rng.uniform(0.0, 1.0)
    values = rng.normal(size=shape)
    dones = (rng.uniform(size=shape) < 0.2).astype(np.float64)
    dones[T // 2] = 1.0  # an episode ends in the middle
    dones[-1] = 0.0  # cut off at the end: the bootstrap value matters
    last_value = rng.normal(size=shape[1:]) if len(shape) == 2 else float(rng.normal())
    gamma, lam = float(rng.choice([0.99, 0.9, 0.95])), float(rng.choice([0.95, 0.8, 0.9]))
    if gamma == lam:
        lam = 0.7

    def check(module):
        last = np.copy(last_value) if len(shape) == 2 else last_value
        reply = call(module, "gae", rewards.copy(), values.copy(), dones.copy(), last, gamma, lam)
        adv, ret = unpack("gae", reply, 2)
        args = (rewards, values, dones, last_value, gamma, lam)
        ref_adv, ref_ret = _gae(*args)
        variants = [
            (_gae(*args, reset="none"), NO_RESET),
            (_gae(*args, reset="value"), NO_RESET),
            (_gae(*args, reset="trace"), NO_RESET),
            (_gae(rewards, values, dones, last_value, lam, gamma), SWAPPED),
            (_gae(*args, trace=lam), NO_GAMMA_TRACE),
            (_gae(*args, boot=False), NO_BOOTSTRAP),
        ]
        assert_close("advantages", adv, ref_adv, mistakes=[(w[0], why) for w, why in variants])
        wrong_ret = [(_rewards_to_go(rewards, dones, last_value, gamma, boot=b), RETURNS)
                     for b in (0.0, 1.0)]  # fmt: skip
        assert_close("returns", ret, ref_ret, mistakes=wrong_ret)

    ends = int(dones.sum())
    return Case(
        text(
            f"rewards, values and dones {shape} ({ends} episode end(s)), last_value "
            f"{shape[1:] or 'a float'}; gamma {gamma:g}, lam {lam:g}",
            f"rewards、values 与 dones {shape}（{ends} 个回合结束），last_value {shape[1:] or '一个 float'}；"
            f"gamma {gamma:g}，lam {lam:g}",
        ),
        check,
    )
