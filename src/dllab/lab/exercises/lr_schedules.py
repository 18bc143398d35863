"""Grader for lr_schedules: warmup + cosine and one-cycle, step by step, against torch schedulers.

The references are the learning rates an optimiser holds at steps 0 .. total_steps - 1 (read
before each `scheduler.step()`), in these torch configurations:

- warmup_cosine: `SequentialLR(opt, [LambdaLR(opt, lambda t: (t + 1) / warmup_steps),
  CosineAnnealingLR(opt, T_max=total_steps - warmup_steps, eta_min=min_lr)],
  milestones=[warmup_steps])` on `SGD(lr=base_lr)`: the warmup reaches base_lr at its last
  step, and the cosine starts from base_lr at step warmup_steps.
- one_cycle: `OneCycleLR(opt, max_lr, total_steps=total_steps, pct_start=pct_start,
  anneal_strategy="cos", three_phase=False, div_factor=div_factor,
  final_div_factor=final_div_factor, cycle_momentum=False)`.

The learner's functions are called once per step with plain Python numbers.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from torch.optim import lr_scheduler

from dllab.lab.checks import Case, Failed, as_array, assert_close, call, text


def _trajectory(make_scheduler, lr: float, total_steps: int) -> np.ndarray:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler, out = make_scheduler(opt), []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "step() before optimizer.step()" and the like
        for t in range(total_steps):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            if t < total_steps - 1:  # OneCycleLR refuses a step past total_steps
                scheduler.step()
    return np.array(out)


def _warmup_cosine_ref(base_lr, warmup, total, min_lr) -> np.ndarray:
    def make(opt):
        warm = lr_scheduler.LambdaLR(opt, lambda t: (t + 1) / warmup)
        cos = lr_scheduler.CosineAnnealingLR(opt, T_max=total - warmup, eta_min=min_lr)
        return lr_scheduler.SequentialLR(opt, [warm, cos], milestones=[warmup])

    return _trajectory(make, base_lr, total)


def _one_cycle_ref(max_lr, total, pct, div, final_div) -> np.ndarray:
    def make(opt):
        return lr_scheduler.OneCycleLR(opt, max_lr, total_steps=total, pct_start=pct,
                                       anneal_strategy="cos", three_phase=False, div_factor=div,
                                       final_div_factor=final_div, cycle_momentum=False)  # fmt: skip

    return _trajectory(make, max_lr, total)


def _cos(start, end, pct):
    return end + (start - end) * (1 + math.cos(math.pi * pct)) / 2


def _warmup_cosine(t, base, warmup, total, min_lr, *, from_zero=False, whole=False, floor=True):
    """The schedule with a known mistake switched on."""
    if t < warmup:
        return base * (t if from_zero else t + 1) / warmup
    progress = t / total if whole else (t - warmup) / (total - warmup)
    return _cos(base, min_lr if floor else 0.0, progress)


def _one_cycle(t, max_lr, total, pct, div, final_div, *, peak_shift=0, linear=False, final=True):
    initial = max_lr / div
    low = initial / final_div if final else initial
    peak = pct * total - 1 + peak_shift

    def anneal(a, b, p):
        return a + (b - a) * p if linear else _cos(a, b, p)

    if t <= peak:
        return anneal(initial, max_lr, t / peak)
    return anneal(max_lr, low, (t - peak) / (total - 1 - peak))


OFF_BY_ONE = text(
    "Warmup is off by one: step 0 must already train (its rate is not 0), and the warmup "
    "reaches the base rate at its LAST step, warmup_steps - 1.",
    "warmup 差了一步：第 0 步就要训练（学习率不为 0），warmup 在它的最后一步 "
    "warmup_steps - 1 达到基础学习率。",
)
WHOLE = text(
    "The cosine runs over the steps AFTER the warmup: its progress is 0 at step warmup_steps "
    "and reaches 1 at total_steps.",
    "余弦只覆盖 warmup 之后的步数：它的进度在第 warmup_steps 步为 0，在 total_steps 时为 1。",
)
FLOOR = text(
    "The cosine decays towards min_lr, not towards 0.",
    "余弦衰减的终点是 min_lr，不是 0。",
)
PEAK = text(
    "The peak comes one step too late: OneCycleLR counts steps from 0, so its rising phase "
    "ends one step earlier than you end it.",
    "峰值晚了一步：OneCycleLR 从 0 开始计步，它的上升阶段比你的早一步结束。",
)
LINEAR = text(
    "anneal_strategy='cos': both phases follow half a cosine between their two rates, not a "
    "straight line.",
    "anneal_strategy='cos'：两个阶段都沿半个余弦在两个学习率之间变化，而不是直线。",
)
FINAL = text(
    "The cycle ends far below where it started: final_div_factor divides the starting rate "
    "once more for the last step.",
    "周期结束时的学习率远低于开始时：final_div_factor 会把起始学习率再除一次，作为最后一步的值。",
)


def _rates(module, name: str, steps: range, *args) -> np.ndarray:
    """The learner's `name(step, *args)` for every step, each checked to be one number."""
    rates = []
    for t in steps:
        rate = as_array(f"{name}(step={t})", call(module, name, t, *args))
        if rate.shape != ():
            raise Failed(
                text(
                    f"{name}(step={t}) should return one number, got shape {rate.shape}",
                    f"{name}(step={t}) 应返回一个数，实际形状为 {rate.shape}",
                )
            )
        rates.append(float(rate))
    return np.array(rates)


def make_case(index: int, rng: np.random.Generator) -> Case:
    total = int(rng.integers(8, 61))
    warmup = int(rng.integers(1, max(2, total // 3) + 1))
    base_lr = float(rng.uniform(0.01, 1.0))
    min_lr = 0.0 if index % 3 == 0 else float(base_lr * rng.uniform(0.0, 0.3))
    pct = float(rng.uniform(max(0.1, 2.5 / total), 0.5))  # at least two steps of warm-up
    div, final_div = float(rng.choice([10.0, 25.0, 5.0])), float(rng.choice([1e4, 100.0, 10.0]))
    max_lr = float(rng.uniform(0.01, 1.0))

    def check(module):
        steps = range(total)
        args = (base_lr, warmup, total, min_lr)
        got = _rates(module, "warmup_cosine", steps, *args)
        variants = [
            (dict(from_zero=True), OFF_BY_ONE),
            (dict(whole=True), WHOLE),
            (dict(floor=False), FLOOR),
        ]
        mistakes = [([_warmup_cosine(t, *args, **kw) for t in steps], why) for kw, why in variants]
        assert_close("warmup_cosine at steps 0..total_steps-1", got,
                     _warmup_cosine_ref(*args), mistakes=mistakes)  # fmt: skip

        args = (max_lr, total, pct, div, final_div)
        got = _rates(module, "one_cycle", steps, *args)
        variants = [
            (dict(peak_shift=1), PEAK),
            (dict(linear=True), LINEAR),
            (dict(final=False), FINAL),
        ]
        mistakes = [([_one_cycle(t, *args, **kw) for t in steps], why) for kw, why in variants]
        assert_close("one_cycle at steps 0..total_steps-1", got,
                     _one_cycle_ref(*args), mistakes=mistakes)  # fmt: skip

    return Case(
        text(
            f"{total} steps; warmup_cosine: base_lr {base_lr:.4g}, warmup_steps {warmup}, "
            f"min_lr {min_lr:.4g}; one_cycle: max_lr {max_lr:.4g}, pct_start {pct:.3g}, "
            f"div_factor {div:g}, final_div_factor {final_div:g}",
            f"{total} 步；warmup_cosine：base_lr {base_lr:.4g}，warmup_steps {warmup}，"
            f"min_lr {min_lr:.4g}；one_cycle：max_lr {max_lr:.4g}，pct_start {pct:.3g}，"
            f"div_factor {div:g}，final_div_factor {final_div:g}",
        ),
        check,
    )
