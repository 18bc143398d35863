"""build_optimizer: the two decay groups for every model, and a model's own `param_groups`
(discriminative learning rates) honoured, with the rates' ratio kept by the schedule."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from dllab.config import OptimConfig, ScheduleConfig
from dllab.models import create_model
from dllab.train.optim import build_optimizer
from dllab.train.schedules import build_scheduler


def test_models_without_the_hook_keep_their_two_decay_groups() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    model[2].bias.requires_grad_(False)  # frozen parameters are left out
    opt = build_optimizer(OptimConfig(name="adamw", lr=0.01, weight_decay=0.05), model)
    decay, no_decay = opt.param_groups
    assert len(opt.param_groups) == 2
    assert [tuple(p.shape) for p in decay["params"]] == [(4, 3), (2, 4)]
    assert [tuple(p.shape) for p in no_decay["params"]] == [(4,), (4,), (4,)]
    assert (decay["weight_decay"], no_decay["weight_decay"]) == (0.05, 0.0)
    assert decay["lr"] == no_decay["lr"] == 0.01 and "lr_mult" not in decay


class TwoPart(nn.Module):
    """A body and a head, asking for the body at a fifth of the rate."""

    def __init__(self) -> None:
        super().__init__()
        self.body, self.head = nn.Linear(3, 3), nn.Linear(3, 2)

    def param_groups(self) -> list[dict[str, Any]]:
        return [
            {"name": "head", "params": list(self.head.parameters())},
            {"name": "body", "params": list(self.body.parameters()), "lr_mult": 0.2},
        ]


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_a_models_param_groups_scale_the_rate_and_still_split_decay(name: str) -> None:
    model = TwoPart()
    opt = build_optimizer(OptimConfig(name=name, lr=0.5, weight_decay=0.1), model)
    got = [(g["name"], g["lr"], g["weight_decay"], len(g["params"])) for g in opt.param_groups]
    assert got == [
        ("head", 0.5, 0.1, 1),
        ("head", 0.5, 0.0, 1),
        ("body", pytest.approx(0.1), 0.1, 1),
        ("body", pytest.approx(0.1), 0.0, 1),
    ]


def test_a_frozen_backbone_leaves_only_the_classifier_to_the_optimizer() -> None:
    model = create_model("efficientnet-lite0", num_classes=3, regime="probe")
    opt = build_optimizer(OptimConfig(lr=1e-3), model)
    params = [p for g in opt.param_groups for p in g["params"]]
    assert {id(p) for p in params} == {id(p) for p in model.classifier.parameters()}


def test_cosine_schedule_keeps_the_ratio_of_discriminative_rates() -> None:
    model = create_model(
        "efficientnet-lite0", num_classes=3, backbone_lr_mult=0.1, regime="finetune"
    )
    opt = build_optimizer(OptimConfig(name="sgd", lr=0.1), model)
    sched = build_scheduler(
        ScheduleConfig(name="warmup-cosine"), opt, total_steps=20, steps_per_epoch=5, peak_lr=0.1
    )
    for _ in range(7):
        opt.step()
        sched.step()
    rates = {g["name"]: g["lr"] for g in opt.param_groups}
    assert 0 < rates["classifier"] < 0.1
    assert rates["backbone"] == pytest.approx(0.1 * rates["classifier"])


def test_one_cycle_keeps_each_groups_learning_rate_multiplier():
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD(
        [{"params": [a], "lr": 0.1, "lr_mult": 1.0}, {"params": [b], "lr": 0.01, "lr_mult": 0.1}],
        lr=0.1,
    )
    sched = build_scheduler(
        ScheduleConfig(name="onecycle"), opt, total_steps=20, steps_per_epoch=10, peak_lr=0.1
    )
    ratios = []
    for _ in range(19):
        opt.step()
        sched.step()
        head, backbone = (g["lr"] for g in opt.param_groups)
        ratios.append(backbone / head)
    assert ratios == pytest.approx([0.1] * 19)  # one max_lr for both would give 1.0
