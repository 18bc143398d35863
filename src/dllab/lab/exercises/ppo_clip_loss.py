"""Grader for ppo_clip_loss: PPO's clipped surrogate and value loss against CleanRL's, in torch.

The references, in float64 torch, as CleanRL's `ppo.py` writes them (Schulman et al. 2017,
eq. 7, negated into a loss to minimise):

    ratio   = exp(logprobs - old_logprobs)
    pg_loss = max(-A * ratio, -A * clamp(ratio, 1 - clip_eps, 1 + clip_eps)).mean()
    v_loss  = 0.5 * ((values - returns) ** 2).mean()

The advantages are used as given (CleanRL normalises them first; here that is the caller's
business). Each case has ratios beyond both ends of the clip range under advantages of both
signs, so every branch of the max is taken.
"""

from __future__ import annotations

import numpy as np
import torch

from dllab.lab.checks import Case, assert_close, call, text

MIN_NOT_MAX = text(
    "The paper MAXIMISES min(r A, clip(r) A); as a loss that is -min(...) = max(-r A, "
    "-clip(r) A). Taking the min of the negated terms drops the pessimism that makes PPO safe.",
    "论文最大化 min(r A, clip(r) A)；写成损失是 -min(...) = max(-r A, -clip(r) A)。"
    "对取负后的两项取 min，就丢掉了让 PPO 稳定的保守性。",
)
OBJECTIVE = text(
    "Return the LOSS to minimise, the negative of the clipped objective: "
    "mean(max(-A r, -A clip(r, 1 - eps, 1 + eps))).",
    "要返回用于最小化的损失，即截断目标的相反数：mean(max(-A r, -A clip(r, 1 - eps, 1 + eps)))。",
)
CLIP_ADV = text(
    "Clip the probability RATIO to [1 - eps, 1 + eps], not the advantage.",
    "要截断的是概率比 ratio，范围 [1 - eps, 1 + eps]，而不是优势。",
)
NO_EXP = text(
    "The ratio is pi_new / pi_old = exp(logprobs - old_logprobs): the difference of the logs "
    "is the log of the ratio, not the ratio.",
    "比值是 pi_new / pi_old = exp(logprobs - old_logprobs)：对数之差是比值的对数，而不是比值本身。",
)
INVERTED = text(
    "The ratio is new over old: exp(logprobs - old_logprobs), not the other way round.",
    "比值是新策略比旧策略：exp(logprobs - old_logprobs)，不要反过来。",
)
NO_HALF = text(
    "CleanRL's value loss is 0.5 * mean((values - returns)^2): mind the 0.5.",
    "CleanRL 的价值损失是 0.5 * mean((values - returns)^2)：别漏了 0.5。",
)


def _pg(lp, old, adv, eps, *, combine="max", clip="ratio", ratio="exp", sign=1.0):
    """The clipped loss in torch, with a known mistake switched on."""
    lp, old, adv = (torch.tensor(x) for x in (lp, old, adv))
    r = {"exp": torch.exp(lp - old), "log": lp - old, "inv": torch.exp(old - lp)}[ratio]
    if clip == "ratio":
        a, b = -adv * r, -adv * torch.clamp(r, 1 - eps, 1 + eps)
    else:
        a, b = -adv * r, -torch.clamp(adv, 1 - eps, 1 + eps) * r
    out = torch.maximum(a, b) if combine == "max" else torch.minimum(a, b)
    return sign * out.mean().item()


def make_case(index: int, rng: np.random.Generator) -> Case:
    n = 12 if index == 0 else int(rng.integers(8, 33))
    eps = float(rng.choice([0.2, 0.1, 0.3]))
    old = np.log(rng.uniform(0.05, 0.95, size=n))
    lp = old + rng.normal(size=n) * 0.4
    lp[:4] = old[:4] + np.log([1 + 2 * eps, 1 - 2 * eps, 1 + 2 * eps, 1 - 2 * eps])  # both ends
    adv = rng.normal(size=n) * rng.uniform(0.5, 3.0)
    adv[:4] = np.abs(adv[:4]) * [1, 1, -1, -1]  # ... under both signs
    values, returns = rng.normal(size=n), rng.normal(size=n) * 2.0

    def check(module):
        got = call(module, "clip_loss", lp.copy(), old.copy(), adv.copy(), eps)
        wrong = [(dict(combine="min"), MIN_NOT_MAX), (dict(sign=-1.0), OBJECTIVE),
                 (dict(combine="min", sign=-1.0), OBJECTIVE), (dict(clip="adv"), CLIP_ADV),
                 (dict(ratio="log"), NO_EXP), (dict(ratio="inv"), INVERTED)]  # fmt: skip
        mistakes = [(_pg(lp, old, adv, eps, **kw), why) for kw, why in wrong]
        assert_close("clip_loss", got, _pg(lp, old, adv, eps), mistakes=mistakes)
        got = call(module, "value_loss", values.copy(), returns.copy())
        v, ret = torch.tensor(values), torch.tensor(returns)
        ref = (0.5 * ((v - ret) ** 2).mean()).item()
        assert_close("value_loss", got, ref, mistakes=[(2 * ref, NO_HALF)])

    return Case(
        text(
            f"logprobs, old_logprobs and advantages ({n},), clip_eps {eps:g}; values and "
            f"returns ({n},)",
            f"logprobs、old_logprobs 与 advantages ({n},)，clip_eps {eps:g}；values 与 "
            f"returns ({n},)",
        ),
        check,
    )
