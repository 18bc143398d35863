"""Child side of training_loop: the learner's evaluate, train_epoch and fit on a small model.

The parent imports `setup` too and computes the reference losses and weights itself.
"""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def setup(seed, shape, lr, x, y, val, batch_size):
    """Model (with dropout), SGD with momentum, loaders and loss: the same in both processes."""
    d, h, o = shape
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Dropout(0.3), nn.Linear(h, o)).double()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size)
    val_loader = DataLoader(TensorDataset(*val), batch_size=batch_size)
    return model, opt, loader, val_loader, nn.MSELoss()


def flat(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def _watch(model):
    calls = []
    model.register_forward_hook(lambda m, i, o: calls.append((m.training, torch.is_grad_enabled())))
    return calls


def evaluate(learner, seed, shape, lr, x, y, val, batch_size):
    """evaluate(...): its value, the modes of every forward call, the weights before/after."""
    model, _, _, val_loader, loss_fn = setup(seed, shape, lr, x, y, val, batch_size)
    before, calls = flat(model), _watch(model.train())
    got = learner.call("evaluate", model, val_loader, loss_fn)
    return {"value": got, "calls": calls, "before": before, "after": flat(model)}


def train_epoch(learner, seed, shape, lr, x, y, val, batch_size):
    """train_epoch(...): its value, the modes of every forward call, the weights after."""
    model, opt, loader, _, loss_fn = setup(seed, shape, lr, x, y, val, batch_size)
    torch.manual_seed(seed + 1)
    calls = _watch(model.eval())
    got = learner.call("train_epoch", model, loader, loss_fn, opt)
    return {"value": got, "calls": calls, "after": flat(model)}


def fit(learner, seed, shape, lr, x, y, val, batch_size, epochs):
    """fit(...): the history it returns and the weights after."""
    model, opt, loader, val_loader, loss_fn = setup(seed, shape, lr, x, y, val, batch_size)
    torch.manual_seed(seed + 2)
    history = learner.call("fit", model, loader, val_loader, loss_fn, opt, epochs)
    if isinstance(history, dict):
        history = {k: [float(v) for v in vs] if isinstance(vs, list | tuple) else vs
                   for k, vs in history.items()}  # fmt: skip
    return {"history": history, "after": flat(model)}
