"""Child side of residual_block: build the learner's BasicBlock, load weights, run it."""

import torch


def build(learner, c_in, c_out, stride):
    """The block (a handle), whether it is a Module, and its state_dict's shapes."""
    block = learner.call("BasicBlock", c_in, c_out, stride)
    if not isinstance(block, torch.nn.Module):
        return {"type": type(block).__name__}
    shapes = {k: tuple(v.shape) for k, v in block.state_dict().items()}
    return {"type": type(block).__name__, "block": block, "shapes": shapes}


def forward(learner, block, state, x, training):
    """block(x) in train or eval mode, with the given weights (loaded once per mode)."""
    block = block.double()
    block.load_state_dict(state)
    out = learner.invoke("BasicBlock.forward", block.train(training), x)
    return out.detach() if isinstance(out, torch.Tensor) else out
