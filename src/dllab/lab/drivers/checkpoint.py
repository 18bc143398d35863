"""Child side of checkpoint: train, save with the learner's code, load into fresh objects, go on.

The parent imports `build` and `train` too and runs the training that never stopped itself.
"""

import tempfile
from pathlib import Path

import torch
from torch import nn


def build(init_seed, d, h, o, lr, use_adam):
    """A small MLP and its optimiser, the same in both processes for the same seed."""
    torch.manual_seed(init_seed)
    model = nn.Sequential(nn.Linear(d, h), nn.Tanh(), nn.Linear(h, o)).double()
    opt = (
        torch.optim.Adam(model.parameters(), lr=lr)
        if use_adam
        else torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    )
    return model, opt


def train(model, opt, chunk):
    for x, y in chunk:
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()


def flat(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def resume(learner, seed, shape, lr, use_adam, batches, before, epoch):
    """Save after `before` steps, load into fresh objects, train the rest; report each stage."""
    model, opt = build(seed, *shape, lr, use_adam)
    train(model, opt, batches[:before])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "checkpoint.pt"
        learner.call("save_checkpoint", path, model, opt, epoch)
        if not path.exists():
            return {"saved": False, "name": path.name}
        fresh, fresh_opt = build(seed + 1, *shape, lr, use_adam)  # other weights, no state
        got = learner.call("load_checkpoint", path, fresh, fresh_opt)
    loaded = flat(fresh)
    restored = bool(fresh_opt.state_dict()["state"])
    train(fresh, fresh_opt, batches[before:])
    return {
        "saved": True,
        "epoch": got,
        "loaded": loaded,
        "optimiser_state": restored,
        "resumed": flat(fresh),
    }
