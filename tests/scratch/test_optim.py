"""Optimisers follow torch's trajectories step for step; LAMB follows the paper's algorithm;
every learning-rate schedule gives torch's rates (and momenta)."""

import copy

import numpy as np
import pytest
import torch

import dllab.scratch as scratch

STEPS = 20
TOL = 1e-8


def _models(seed=0):
    """The same small MLP in torch and in scratch, float64, with identical weights."""
    torch.manual_seed(seed)

    def build(nn):
        return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))

    theirs = build(torch.nn).double()
    ours = build(scratch.nn)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((16, 5)), rng.standard_normal((16, 3))


def _train(lib, model, optimizer, steps, x, y):
    for _ in range(steps):
        optimizer.zero_grad()
        loss = lib.nn.functional.mse_loss(model(lib.tensor(x)), lib.tensor(y))
        loss.backward()
        optimizer.step()


def _assert_same_weights(ours, theirs):
    for name, value in theirs.state_dict().items():
        np.testing.assert_allclose(
            ours.state_dict()[name].numpy(), value.numpy(), rtol=TOL, atol=TOL, err_msg=name
        )


OPTIMISERS = {
    "SGD": ("SGD", dict(lr=0.1)),
    "SGD momentum, dampening, weight decay": (
        "SGD",
        dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
    ),
    "SGD Nesterov": ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    "Adam": ("Adam", dict(lr=0.01)),
    "Adam amsgrad, weight decay": (
        "Adam",
        dict(lr=0.02, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True),
    ),
    "AdamW": ("AdamW", dict(lr=0.01, weight_decay=0.1)),
    "AdamW amsgrad": ("AdamW", dict(lr=0.01, amsgrad=True, eps=1e-6)),
    "RMSprop": ("RMSprop", dict(lr=0.01)),
    "RMSprop centred, momentum, weight decay": (
        "RMSprop",
        dict(lr=0.005, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.01),
    ),
}


@pytest.mark.parametrize("name", OPTIMISERS)
def test_optimiser_trajectory_matches_torch_for_20_steps(name):
    kind, settings = OPTIMISERS[name]
    ours, theirs = _models()
    x, y = _data()
    _train(scratch, ours, getattr(scratch.optim, kind)(ours.parameters(), **settings), STEPS, x, y)
    _train(torch, theirs, getattr(torch.optim, kind)(theirs.parameters(), **settings), STEPS, x, y)
    _assert_same_weights(ours, theirs)


def test_parameter_groups_keep_their_own_settings():
    ours, theirs = _models()
    x, y = _data()

    def groups(model):
        return [{"params": model[0].parameters(), "lr": 0.3}, {"params": model[2].parameters()}]

    _train(scratch, ours, scratch.optim.SGD(groups(ours), lr=0.01, momentum=0.5), STEPS, x, y)
    _train(torch, theirs, torch.optim.SGD(groups(theirs), lr=0.01, momentum=0.5), STEPS, x, y)
    _assert_same_weights(ours, theirs)


def _lamb_paper(model, x, y, steps, lr, beta1, beta2, eps, weight_decay):
    """You et al. 2019, Algorithm 2 (LAMB), transcribed line by line with φ(z) = z; the
    gradient g_t comes from torch's autograd, layer (i) is one parameter tensor."""
    params = [p for p in model.parameters()]
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    for t in range(1, steps + 1):
        model.zero_grad()
        torch.nn.functional.mse_loss(model(torch.tensor(x)), torch.tensor(y)).backward()
        with torch.no_grad():
            for i, x_i in enumerate(params):
                g = x_i.grad
                m[i] = beta1 * m[i] + (1 - beta1) * g
                v[i] = beta2 * v[i] + (1 - beta2) * g * g
                m_hat = m[i] / (1 - beta1**t)
                v_hat = v[i] / (1 - beta2**t)
                r = m_hat / (v_hat.sqrt() + eps)
                step = r + weight_decay * x_i
                x_i -= lr * (x_i.norm() / step.norm()) * step


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_lamb_matches_the_papers_algorithm_for_20_steps(weight_decay):
    ours, theirs = _models()
    x, y = _data()
    settings = dict(lr=0.02, betas=(0.9, 0.999), eps=1e-6, weight_decay=weight_decay)
    _train(scratch, ours, scratch.optim.LAMB(ours.parameters(), **settings), STEPS, x, y)
    _lamb_paper(theirs, x, y, STEPS, 0.02, 0.9, 0.999, 1e-6, weight_decay)
    _assert_same_weights(ours, theirs)


def test_optimiser_state_dict_resumes_exactly():
    x, y = _data()
    straight, _ = _models()
    optimizer = scratch.optim.Adam(straight.parameters(), lr=0.01)
    _train(scratch, straight, optimizer, 10, x, y)

    first, _ = _models()
    opt_first = scratch.optim.Adam(first.parameters(), lr=0.01)
    _train(scratch, first, opt_first, 5, x, y)
    saved_model, saved_opt = copy.deepcopy(first.state_dict()), opt_first.state_dict()
    resumed, _ = _models(seed=1)
    resumed.load_state_dict(saved_model)
    opt_resumed = scratch.optim.Adam(resumed.parameters(), lr=0.5)
    opt_resumed.load_state_dict(saved_opt)
    _train(scratch, resumed, opt_resumed, 5, x, y)
    for name, value in straight.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[name].numpy(), value.numpy())


SCHEDULES = {
    "StepLR": ("SGD", "StepLR", dict(step_size=3, gamma=0.5)),
    "MultiStepLR": ("SGD", "MultiStepLR", dict(milestones=[4, 7], gamma=0.3)),
    "ExponentialLR": ("SGD", "ExponentialLR", dict(gamma=0.9)),
    "LambdaLR": ("SGD", "LambdaLR", dict(lr_lambda=lambda epoch: 1 / (1 + epoch))),
    "LinearLR warmup": ("SGD", "LinearLR", dict(start_factor=0.1, total_iters=10)),
    "LinearLR decay": ("SGD", "LinearLR", dict(start_factor=1.0, end_factor=0.0, total_iters=20)),
    "CosineAnnealingLR, past T_max": ("SGD", "CosineAnnealingLR", dict(T_max=12, eta_min=0.001)),
    "OneCycleLR with SGD momentum": ("SGD", "OneCycleLR", dict(max_lr=0.5, total_steps=30)),
    "OneCycleLR three phases, linear": (
        "SGD",
        "OneCycleLR",
        dict(max_lr=0.5, epochs=3, steps_per_epoch=10, three_phase=True, anneal_strategy="linear"),
    ),
    "OneCycleLR with Adam betas": (
        "Adam",
        "OneCycleLR",
        dict(max_lr=0.01, total_steps=30, pct_start=0.25),
    ),
}


def _rates(lib, optimizer_kind, schedule, settings, sequential=False):
    param = lib.nn.Parameter(lib.zeros(1, dtype=lib.float64))
    extra = {"momentum": 0.9} if optimizer_kind == "SGD" else {}
    optimizer = getattr(lib.optim, optimizer_kind)([param], lr=0.1, **extra)
    sched = lib.optim.lr_scheduler
    if sequential:
        warmup = sched.LinearLR(optimizer, start_factor=0.1, total_iters=5)
        cosine = sched.CosineAnnealingLR(optimizer, T_max=25)
        scheduler = sched.SequentialLR(optimizer, [warmup, cosine], milestones=[5])
    else:
        scheduler = getattr(sched, schedule)(optimizer, **settings)
    seen = []
    for _ in range(30):
        group = optimizer.param_groups[0]
        seen.append((group["lr"], group.get("momentum", 0.0), group.get("betas", (0.0,))[0]))
        seen.append((scheduler.get_last_lr()[0], 0.0, 0.0))
        optimizer.step()
        scheduler.step()
    return np.array(seen)


@pytest.mark.parametrize("name", SCHEDULES)
def test_schedule_gives_torchs_rates_and_momenta(name):
    optimizer_kind, schedule, settings = SCHEDULES[name]
    ours = _rates(scratch, optimizer_kind, schedule, settings)
    theirs = _rates(torch, optimizer_kind, schedule, settings)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


def test_sequential_warmup_then_cosine_gives_torchs_rates():
    np.testing.assert_allclose(
        _rates(scratch, "SGD", None, None, sequential=True),
        _rates(torch, "SGD", None, None, sequential=True),
        rtol=1e-10,
        atol=1e-12,
    )


def test_trained_step_uses_the_scheduled_rate():
    ours, _ = _models()
    optimizer = scratch.optim.SGD(ours.parameters(), lr=1.0)
    scheduler = scratch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.0)
    scheduler.step()  # the rate is now 0: a step must not move anything
    before = {k: v.numpy().copy() for k, v in ours.state_dict().items()}
    x, y = _data()
    _train(scratch, ours, optimizer, 1, x, y)
    for name, value in ours.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), before[name])
