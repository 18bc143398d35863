"""Learning-rate schedules, built from the recipe and stepped once per optimizer step.

Epoch-based settings (step size, milestones) are converted to optimizer steps so that every
schedule but reduce-on-plateau advances in the same place; plateau listens to validation.
All are torch's own schedulers, whose state is plain numbers (checkpointed as JSON).
"""

from __future__ import annotations

import torch
from torch.optim import lr_scheduler as S

from dllab.config import ScheduleConfig


class InverseSqrt:
    """Linear warmup to the peak over `warmup` steps, then decay as 1 / sqrt(step): the
    Transformer paper's schedule (Vaswani et al. 2017, eq. 3) as a factor of the peak rate,
    `min(s / warmup, sqrt(warmup / s))` at step s = 1, 2, ... (a class, so that LambdaLR's
    state is the plain number `warmup`)."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup

    def __call__(self, step: int) -> float:
        s = step + 1
        return min(s / self.warmup, (self.warmup / s) ** 0.5)


class LinearDecay:
    """The peak rate held, then a straight line to zero over the last `fraction` of `total`
    steps: the schedule of CycleGAN and pix2pix (Zhu et al. 2017, 100 epochs constant and 100
    decaying). A class, so that LambdaLR's state is plain numbers."""

    def __init__(self, total: int, fraction: float) -> None:
        self.total, self.fraction = total, fraction

    def __call__(self, step: int) -> float:
        decay = max(1, round(self.fraction * self.total))
        return min(1.0, max(0.0, (self.total - step) / decay))


class SchedulerGroup:
    """One schedule per optimiser, for a task that steps several itself (a GAN's generator
    and critic): each follows the recipe's schedule from its own rate, stepped together, so
    `LRSchedule` (and its `follow_time`) treats them as one."""

    def __init__(self, schedulers: dict[str, S.LRScheduler]) -> None:
        self.schedulers = schedulers

    @property
    def last_epoch(self) -> int:
        return min(s.last_epoch for s in self.schedulers.values())

    def step(self) -> None:
        for s in self.schedulers.values():
            s.step()

    def state_dict(self) -> dict[str, dict]:
        return {name: s.state_dict() for name, s in self.schedulers.items()}

    def load_state_dict(self, state: dict[str, dict]) -> None:
        for name, s in self.schedulers.items():
            s.load_state_dict(state[name])


def build_scheduler(
    cfg: ScheduleConfig,
    optimizer: torch.optim.Optimizer,
    *,
    total_steps: int,
    steps_per_epoch: int,
    peak_lr: float,
) -> S.LRScheduler | S.ReduceLROnPlateau | None:
    """A torch scheduler for `cfg.name`, or None for a constant rate."""
    total_steps = max(total_steps, 1)
    if cfg.name == "none":
        return None
    if cfg.name == "step":
        return S.StepLR(optimizer, step_size=cfg.step_size * steps_per_epoch, gamma=cfg.gamma)
    if cfg.name == "multistep":
        return S.MultiStepLR(optimizer, [m * steps_per_epoch for m in cfg.milestones], cfg.gamma)
    if cfg.name == "cosine":
        return S.CosineAnnealingLR(optimizer, T_max=total_steps, eta_min=cfg.min_lr)
    if cfg.name == "warmup-cosine":
        warm = max(1, int(cfg.warmup_fraction * total_steps))
        return S.SequentialLR(
            optimizer,
            [
                S.LinearLR(optimizer, start_factor=1e-3, end_factor=1.0, total_iters=warm),
                S.CosineAnnealingLR(
                    optimizer, T_max=max(1, total_steps - warm), eta_min=cfg.min_lr
                ),
            ],
            milestones=[warm],
        )
    if cfg.name == "onecycle":
        return S.OneCycleLR(
            optimizer,
            # each group's own peak: a backbone at 0.1x the head's rate stays at 0.1x
            max_lr=[peak_lr * g.get("lr_mult", 1.0) for g in optimizer.param_groups],
            total_steps=total_steps,
            pct_start=cfg.pct_start,
            div_factor=cfg.div_factor,
            final_div_factor=cfg.final_div_factor,
        )
    if cfg.name == "inverse-sqrt":
        return S.LambdaLR(optimizer, InverseSqrt(cfg.warmup_steps))
    if cfg.name == "linear-decay":
        return S.LambdaLR(optimizer, LinearDecay(total_steps, cfg.decay_fraction))
    if cfg.name == "plateau":
        return S.ReduceLROnPlateau(optimizer, mode="max", factor=cfg.gamma, patience=cfg.patience)
    raise AssertionError(cfg.name)
