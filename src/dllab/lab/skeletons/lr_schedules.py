"""Exercise lr_schedules: learning-rate schedules as functions of the step.

Two schedules that train most modern networks, each returning the learning rate to use at
step `step` (0, 1, …, total_steps - 1):

- warmup + cosine: rise linearly to base_lr over the first `warmup_steps` steps (large steps on
  random weights are unstable), then follow half a cosine from base_lr down to min_lr by
  total_steps (Loshchilov & Hutter 2017, "SGDR", without restarts; Goyal et al. 2017 for the
  warmup).
- one-cycle (Smith & Topin 2018): from max_lr / div_factor up to max_lr over the first
  pct_start of the steps, then down to far below the start, both along half a cosine.

They must equal torch's schedulers step for step (the rate the optimiser holds before each
`scheduler.step()`): warmup + cosine is `SequentialLR` of `LambdaLR(lambda t: (t + 1) /
warmup_steps)` and `CosineAnnealingLR(T_max=total_steps - warmup_steps, eta_min=min_lr)` with
milestone warmup_steps; one-cycle is `OneCycleLR(anneal_strategy="cos", three_phase=False,
cycle_momentum=False)`. Plain Python (math) or NumPy: torch is refused.
Grade it with `dllab lab check lr_schedules`.
"""

from __future__ import annotations

import math  # noqa: F401  (math.cos and math.pi will be useful)


def warmup_cosine(
    step: int, base_lr: float, warmup_steps: int, total_steps: int, min_lr: float = 0.0
) -> float:
    """The learning rate at `step` (0-based), with 1 <= warmup_steps < total_steps.

    Example:
        >>> [round(warmup_cosine(t, 1.0, 2, 6), 3) for t in range(6)]
        [0.5, 1.0, 1.0, 0.854, 0.5, 0.146]

    TODO: two branches: the warmup steps, then the cosine over the remaining steps.
    """
    raise NotImplementedError("Need to implement for exercise lr_schedules")


def one_cycle(
    step: int,
    max_lr: float,
    total_steps: int,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> float:
    """The learning rate at `step` (0-based) of torch's OneCycleLR with these arguments.

    Example:
        >>> round(one_cycle(0, 1.0, 10), 4), round(one_cycle(9, 1.0, 10), 8)
        (0.04, 4e-06)

    TODO: the starting and final rates from the two factors; the step where the peak is;
    then half a cosine within whichever phase `step` is in.
    """
    raise NotImplementedError("Need to implement for exercise lr_schedules")
