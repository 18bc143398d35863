"""dllab.scratch: a from-scratch deep-learning engine in NumPy that mirrors PyTorch.

Swap the imports and the code runs on either engine:

    import dllab.scratch as torch            # import torch
    import dllab.scratch.nn as nn            # import torch.nn as nn
    import dllab.scratch.nn.functional as F  # import torch.nn.functional as F

    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    loss = F.cross_entropy(model(torch.randn(16, 4)), torch.randint(0, 3, (16,)))
    loss.backward()

The parity tests (tests/scratch) prove that outputs and gradients equal PyTorch's; no module
here imports torch. `gradcheck` compares any function's gradients with finite differences.
"""

from dllab.scratch import functional, init, nn, optim
from dllab.scratch.autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from dllab.scratch.creation import (
    arange,
    bool_,
    float16,
    float32,
    float64,
    full,
    generator,
    int32,
    int64,
    manual_seed,
    ones,
    ones_like,
    rand,
    randint,
    randn,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from dllab.scratch.gradcheck import GradcheckError, gradcheck
from dllab.scratch.tensor import (
    Tensor,
    cat,
    concat,
    get_default_dtype,
    set_default_dtype,
    stack,
    where,
)

# torch.exp(x) is x.exp(), and so on for the ops that torch offers both ways
exp, log, sqrt, abs, sin, cos = (
    Tensor.exp,
    Tensor.log,
    Tensor.sqrt,
    Tensor.abs,
    Tensor.sin,
    Tensor.cos,
)
tanh, sigmoid, relu, clamp = Tensor.tanh, Tensor.sigmoid, Tensor.relu, Tensor.clamp
matmul, sum, mean, var, max, min = (
    Tensor.matmul,
    Tensor.sum,
    Tensor.mean,
    Tensor.var,
    Tensor.max,
    Tensor.min,
)
logsumexp, softmax, log_softmax, argmax = (
    Tensor.logsumexp,
    Tensor.softmax,
    Tensor.log_softmax,
    Tensor.argmax,
)
reshape, flatten, permute, transpose = (
    Tensor.reshape,
    Tensor.flatten,
    Tensor.permute,
    Tensor.transpose,
)
unsqueeze, squeeze, split, chunk, unbind = (
    Tensor.unsqueeze,
    Tensor.squeeze,
    Tensor.split,
    Tensor.chunk,
    Tensor.unbind,
)

__all__ = [
    "Tensor", "tensor", "zeros", "ones", "zeros_like", "ones_like", "full", "arange",
    "randn", "rand", "randint", "randperm", "manual_seed", "generator",
    "cat", "concat", "stack", "where",
    "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
    "float16", "float32", "float64", "int32", "int64", "bool_",
    "get_default_dtype", "set_default_dtype",
    "gradcheck", "GradcheckError", "functional", "init", "nn", "optim",
]  # fmt: skip
