"""Grader for loss_curves: diagnose generated training runs and find the early-stopping epoch.

Each case is a run of a 10-class classifier (cross-entropy starts near chance, ln 10 = 2.30)
drawn from one of four kinds; its train and validation curves carry noise, and a diverging
run may end in NaN. The kinds are far apart, so any sound reading of the curves passes.
"""

from __future__ import annotations

import numpy as np

from dllab.lab.checks import Case, Failed, as_int, call, text

KINDS = ("good_fit", "overfitting", "underfitting", "diverging")
CHANCE = float(np.log(10))

HINTS = {
    "good_fit": text(
        "Both curves fall and flatten at a low loss, validation a little above training and "
        "not rising: nothing to fix.",
        "两条曲线都下降并在较低处变平，验证损失略高于训练损失且没有回升：不需要修正。",
    ),
    "overfitting": text(
        "Training keeps falling while validation turns up after its minimum and ends well "
        "above it: the model memorises (fix: more data, augmentation, dropout, weight decay, "
        "early stopping).",
        "训练损失一直下降，验证损失在最小值之后回升并最终明显高于最小值：模型在死记硬背"
        "（对策：更多数据、数据增强、dropout、权重衰减、早停）。",
    ),
    "underfitting": text(
        "Even the training loss stays high, close to validation: the model cannot fit "
        "(fix: a bigger model, more epochs, a larger learning rate, less regularisation).",
        "连训练损失都居高不下，并且和验证损失接近：模型拟合不了"
        "（对策：更大的模型、更多 epoch、更大的学习率、更少的正则化）。",
    ),
    "diverging": text(
        "The loss blows up or becomes NaN: training diverged (fix: a smaller learning rate, "
        "gradient clipping, warmup). Check for NaN and for a rising training loss first.",
        "损失爆炸或变成 NaN：训练发散了（对策：更小的学习率、梯度裁剪、warmup）。"
        "先检查 NaN 和上升的训练损失。",
    ),
}


def curves(kind: str, rng: np.random.Generator) -> tuple[list[float], list[float]]:
    """A (train_loss, val_loss) history of `kind`, one value per epoch."""
    e = int(rng.integers(20, 61))
    t = np.arange(e, dtype=float)
    start = CHANCE + rng.normal(0, 0.03)

    def decay(floor, tau):
        return floor + (start - floor) * np.exp(-t / tau)

    def jitter(x):
        return x * (1 + rng.normal(0, 0.01, size=e))

    if kind == "good_fit":
        train = decay(rng.uniform(0.05, 0.35), rng.uniform(e / 12, e / 5))
        val = train * (1 + rng.uniform(0.03, 0.15))
    elif kind == "overfitting":
        tau = rng.uniform(e / 15, e / 8)
        train = decay(rng.uniform(0.01, 0.1), tau)
        v_floor, turn = rng.uniform(0.3, 0.7), int(rng.integers(e // 5, e // 2))
        rise = rng.uniform(0.8, 1.5) * v_floor
        val = decay(v_floor, tau) + rise * np.clip(t - turn, 0, None) / (e - 1 - turn)
    elif kind == "underfitting":
        train = decay(rng.uniform(1.3, 2.0), rng.uniform(e / 12, e / 4))
        val = train * (1 + rng.uniform(0.0, 0.05))
    else:
        blow = int(rng.integers(e // 4, e // 2))
        train = decay(rng.uniform(0.3, 1.0), rng.uniform(e / 12, e / 6))
        growth = np.exp(np.clip(t - blow, 0, None) / rng.uniform(2, 5))
        train = train * growth
        val = train * (1 + rng.uniform(0.02, 0.1))
    train, val = jitter(train), jitter(val)
    if kind == "diverging" and rng.random() < 0.5:
        cut = int(rng.integers(blow + 3, e))
        train[cut:], val[cut:] = np.nan, np.nan
    return [float(v) for v in train], [float(v) for v in val]


def make_case(index: int, rng: np.random.Generator) -> Case:
    kind = KINDS[index % len(KINDS)]
    train, val = curves(kind, rng)

    def check(module):
        got = call(module, "diagnose", list(train), list(val))
        if got not in KINDS:
            raise Failed(
                text(
                    f"diagnose returned {got!r}; expected one of {', '.join(KINDS)}",
                    f"diagnose 返回了 {got!r}；应为 {', '.join(KINDS)} 之一",
                )
            )
        finite = np.isfinite(val)
        low = int(np.nanargmin(val))
        shown = (
            f"train {train[0]:.2f} -> {train[-1]:.2f}, val lowest {val[low]:.2f} at epoch "
            f"{low}, last {val[-1]:.2f}" + ("" if finite.all() else ", NaN at the end")
        )
        if got != kind:
            raise Failed(
                text(
                    f"diagnosed {got!r}, but the run is {kind!r} ({shown})",
                    f"诊断为 {got!r}，但这次训练是 {kind!r}（{shown}）",
                ),
                HINTS[kind],
            )
        best = as_int("best_epoch(val_loss)", call(module, "best_epoch", list(val)))
        if best != low:
            raise Failed(
                text(
                    f"best_epoch returned {best}, expected {low} ({shown})",
                    f"best_epoch 返回 {best}，应为 {low}（{shown}）",
                ),
                text(
                    "The epoch with the lowest validation loss, 0-based, ignoring NaN.",
                    "验证损失最低的 epoch，从 0 开始计数，忽略 NaN。",
                ),
            )

    return Case(text(f"a run of {len(train)} epochs", f"一次训练，共 {len(train)} 轮"), check)
