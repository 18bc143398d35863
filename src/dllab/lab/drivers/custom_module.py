"""Child side of custom_module: build the learner's Classifier, load weights, run it."""

import torch


def build(learner, d_in, dim, n_blocks, n_classes):
    """The model (a handle) and the facts the parent judges: is it a Module, its state_dict."""
    model = learner.call("Classifier", d_in, dim, n_blocks, n_classes)
    if not isinstance(model, torch.nn.Module):
        return {"type": type(model).__name__}
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    return {"type": type(model).__name__, "model": model, "shapes": shapes}


def forward(learner, model, state, x):
    """model(x) with the given weights, and the parameters no gradient reached."""
    model = model.double()
    model.load_state_dict(state)
    out = learner.invoke("Classifier.forward", model, x)
    dead = []
    if isinstance(out, torch.Tensor) and out.requires_grad:
        out.sum().backward()
        dead = [k for k, p in model.named_parameters() if p.grad is None]
    return {"out": out.detach() if isinstance(out, torch.Tensor) else out, "dead": dead}
