"""Grader for training_loop: train_epoch, evaluate and fit, step for step against a reference.

The model has dropout, so train and eval modes give different numbers, and SGD has momentum,
so a missing zero_grad changes every later step. A forward hook records the mode and whether
autograd was on at each call.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from dllab.lab.checks import Case, Failed, assert_close, drive, driver_source, text
from dllab.lab.drivers import training_loop as child_side
from dllab.lab.drivers.training_loop import flat

DRIVER = driver_source("training_loop")

NO_ZERO_GRAD = text(
    "Call optimizer.zero_grad() before each backward(): otherwise gradients of all earlier "
    "steps add up.",
    "每次 backward() 之前调用 optimizer.zero_grad()：否则之前所有步的梯度会累加起来。",
)
UNWEIGHTED = text(
    "Average over samples, not batches: sum loss.item() * len(x) and divide by the number of "
    "samples (the last batch is smaller).",
    "按样本求平均而不是按 batch：累加 loss.item() * len(x)，再除以样本数（最后一个 batch 更小）。",
)


def _ref_epoch(model, loader, loss_fn, opt, *, zero_grad=True):
    """(mean loss over samples, mean of the batch means) of one epoch."""
    model.train()
    total, count, means = 0.0, 0, []
    for x, y in loader:
        if zero_grad:
            opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        total, count = total + loss.item() * len(x), count + len(x)
        means.append(loss.item())
    return total / count, float(np.mean(means))


def _ref_evaluate(model, loader, loss_fn):
    model.eval()
    with torch.no_grad():
        total = sum(loss_fn(model(x), y).item() * len(x) for x, y in loader)
    return total / len(loader.dataset)


def make_case(index: int, rng: np.random.Generator) -> Case:
    d, h, o = (int(v) for v in rng.integers([1, 4, 1], [6, 17, 4]))
    batch_size = int(rng.integers(3, 8))
    n = batch_size * int(rng.integers(2, 5)) + int(
        rng.integers(1, batch_size)
    )  # a short last batch
    epochs, lr, seed = (
        int(rng.integers(2, 4)),
        float(rng.uniform(0.01, 0.1)),
        int(rng.integers(2**31)),
    )
    x, y = torch.tensor(rng.normal(size=(n, d))), torch.tensor(rng.normal(size=(n, o)))
    val_x, val_y = torch.tensor(rng.normal(size=(n, d))), torch.tensor(rng.normal(size=(n, o)))

    common = (seed, (d, h, o), lr, x, y, (val_x, val_y), batch_size)

    def setup():
        return child_side.setup(*common)

    def check(module):
        # evaluate: eval mode, no autograd, weights untouched
        model, _, _, val_loader, loss_fn = setup()
        ref = _ref_evaluate(model, val_loader, loss_fn)
        got = drive(module, DRIVER, "evaluate", *common)
        if any(training for training, _ in got["calls"]):
            raise Failed(
                text(
                    "evaluate ran the model in train mode (dropout on)",
                    "evaluate 在训练模式下运行了模型（dropout 打开）",
                ),
                text("Call model.eval() first.", "先调用 model.eval()。"),
            )
        if any(grad for _, grad in got["calls"]):
            raise Failed(
                text("evaluate ran with autograd on", "evaluate 运行时开着 autograd"),
                text(
                    "Wrap it in `with torch.no_grad():`: no graph, less memory.",
                    "用 `with torch.no_grad():` 包起来：不建计算图，省内存。",
                ),
            )
        assert_close("evaluate(...)", got["value"], ref, hint=UNWEIGHTED)
        assert_close("weights after evaluate", got["after"], got["before"])

        # train_epoch: train mode, one optimiser step per batch
        model, opt, loader, _, loss_fn = setup()
        twins = [copy.deepcopy(model) for _ in range(2)]
        refs = []
        for twin, zero_grad in zip(twins, (True, False), strict=True):
            torch.manual_seed(seed + 1)
            o2 = torch.optim.SGD(twin.parameters(), lr=lr, momentum=0.9)
            refs.append(_ref_epoch(twin, loader, loss_fn, o2, zero_grad=zero_grad))
        got = drive(module, DRIVER, "train_epoch", *common)
        if not got["calls"] or not all(training for training, _ in got["calls"]):
            raise Failed(
                text(
                    "train_epoch ran the model in eval mode", "train_epoch 在评估模式下运行了模型"
                ),
                text(
                    "Call model.train() at the start: evaluate() leaves the model in eval mode.",
                    "开头调用 model.train()：evaluate() 会让模型停在评估模式。",
                ),
            )
        assert_close(
            "weights after train_epoch",
            got["after"],
            flat(twins[0]).numpy(),
            mistakes=[(flat(twins[1]).numpy(), NO_ZERO_GRAD)],
        )
        assert_close(
            "train_epoch(...)", got["value"], refs[0][0], mistakes=[(refs[0][1], UNWEIGHTED)]
        )

        # fit: history and final weights
        model, opt, loader, val_loader, loss_fn = setup()
        o2 = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        torch.manual_seed(seed + 2)
        ref = {"train_loss": [], "val_loss": []}
        for _ in range(epochs):
            ref["train_loss"].append(_ref_epoch(model, loader, loss_fn, o2)[0])
            ref["val_loss"].append(_ref_evaluate(model, val_loader, loss_fn))
        got = drive(module, DRIVER, "fit", *common, epochs)
        history = got["history"]
        if not isinstance(history, dict) or set(history) != set(ref):
            raise Failed(
                text(
                    'fit should return {"train_loss": [...], "val_loss": [...]}',
                    'fit 应返回 {"train_loss": [...], "val_loss": [...]}',
                )
            )
        for key, values in ref.items():
            assert_close(f'history["{key}"]', history[key], values)
        assert_close("weights after fit", got["after"], flat(model).numpy())

    return Case(
        text(
            f"{n} samples of {d} features -> {o}, batch_size {batch_size}, {epochs} epochs",
            f"{n} 个样本，{d} 个特征 -> {o}，batch_size {batch_size}，{epochs} 轮",
        ),
        check,
    )
