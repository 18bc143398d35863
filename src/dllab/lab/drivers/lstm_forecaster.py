"""Child side of lstm_forecaster: build the learner's Forecaster, run it and forecast."""

import torch


def build(learner, hidden, layers):
    """The model (a handle), whether it is a Module, and its state_dict's shapes."""
    model = learner.call("Forecaster", hidden, layers)
    if not isinstance(model, torch.nn.Module):
        return {"type": type(model).__name__}
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    return {"type": type(model).__name__, "model": model, "shapes": shapes}


def forward(learner, model, state, x):
    """model(x) in eval mode without autograd, with the given weights."""
    model = model.double().eval()
    model.load_state_dict(state)
    with torch.no_grad():
        out = learner.invoke("Forecaster.forward", model, x)
    return out.detach() if isinstance(out, torch.Tensor) else out


def forecast(learner, model, history, steps):
    """The learner's forecast(model, history, steps)."""
    out = learner.call("forecast", model, history, steps)
    return out.detach() if isinstance(out, torch.Tensor) else out
