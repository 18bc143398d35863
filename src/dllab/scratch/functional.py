"""The twin of `torch.nn.functional`: activations, losses, normalisation, dropout, attention.

Ops with a short derivative carry their own `backward`; the rest (losses, normalisation,
attention) are written with Tensor ops, so autograd derives them and the parity tests check
the result against PyTorch.

    >>> import dllab.scratch.functional as F
    >>> F.cross_entropy(logits, labels, label_smoothing=0.1)

differs from torch: the losses lack the deprecated `size_average` and `reduce` arguments, so
pass `reduction=` and what follows it by keyword (as torch's documentation does).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from dllab.scratch.convolution import avg_pool2d, conv2d, max_pool2d, unfold
from dllab.scratch.creation import generator
from dllab.scratch.tensor import Tensor, where

__all__ = [
    "linear", "conv2d", "unfold", "max_pool2d", "avg_pool2d",
    "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax", "log_softmax",
    "mse_loss", "nll_loss", "cross_entropy", "binary_cross_entropy_with_logits",
    "dropout", "layer_norm", "batch_norm", "embedding", "one_hot",
    "scaled_dot_product_attention",
]  # fmt: skip


# ---- layers and activations -----------------------------------------------------------------
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x Wᵀ + b: (*, in) -> (*, out)."""
    out = input @ weight.T
    return out if bias is None else out + bias


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    return input.relu()


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    return where(input.data > 0, input, input * negative_slope)  # slope 1 right, a left of 0


def sigmoid(input: Tensor) -> Tensor:
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:
    return input.tanh()


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to double precision (NumPy has none), by Abramowitz & Stegun 7.1.6:

    erf z = 2/√π · e^(-z²) · Σₙ 2ⁿ z^(2n+1) / (1·3·…·(2n+1)); every term is positive, so no
    digits cancel. |z| is capped at 6, where erf is 1 to 17 digits.
    """
    z = np.minimum(np.abs(x.astype(np.float64)), 6.0)
    term, total, n = z.copy(), z.copy(), 0
    while np.any(term > 1e-17 * total):
        n += 1
        term = term * 2 * z * z / (2 * n + 1)
        total += term
    return (np.sign(x) * 2 / math.sqrt(math.pi) * np.exp(-z * z) * total).astype(x.dtype)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x·Φ(x), with Φ the standard normal CDF (Hendrycks & Gimpel 2016)."""
    x = input.data
    if approximate == "tanh":
        c = math.sqrt(2 / math.pi)
        t = np.tanh(c * (x + 0.044715 * x**3))
        out = 0.5 * x * (1 + t)
        # d/dx = ½(1 + t) + ½x(1 - t²)·c(1 + 3·0.044715x²)
        local = 0.5 * (1 + t) + 0.5 * x * (1 - t**2) * c * (1 + 3 * 0.044715 * x**2)
    elif approximate == "none":
        cdf = 0.5 * (1 + _erf(x / math.sqrt(2)))
        out = x * cdf
        local = cdf + x * np.exp(-0.5 * x**2) / math.sqrt(2 * math.pi)  # d/dx = Φ(x) + x·φ(x)
    else:
        raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")

    def backward(g):
        return (g * local,)

    return Tensor._from_op(out, (input,), backward)


def softmax(input: Tensor, dim: int | None = None) -> Tensor:
    """exp(x) / Σ exp(x) along `dim`."""
    dim = _softmax_dim(input, dim)
    e = np.exp(input.data - input.data.max(axis=dim, keepdims=True))
    s = e / e.sum(axis=dim, keepdims=True)

    def backward(g):  # ∂sᵢ/∂xⱼ = sᵢ(δᵢⱼ - sⱼ), so the input gets s·(g - Σ g·s)
        return (s * (g - (g * s).sum(axis=dim, keepdims=True)),)

    return Tensor._from_op(s, (input,), backward)


def log_softmax(input: Tensor, dim: int | None = None) -> Tensor:
    """x - log Σ exp(x) along `dim`, computed without overflow."""
    dim = _softmax_dim(input, dim)
    shifted = input.data - input.data.max(axis=dim, keepdims=True)
    out = shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))

    def backward(g):  # ∂outᵢ/∂xⱼ = δᵢⱼ - softmaxⱼ, so the input gets g - softmax·Σ g
        return (g - np.exp(out) * g.sum(axis=dim, keepdims=True),)

    return Tensor._from_op(out, (input,), backward)


def _softmax_dim(input: Tensor, dim: int | None) -> int:
    return dim if dim is not None else (0 if input.ndim in (0, 1, 3) else 1)  # torch's legacy rule


# ---- losses ---------------------------------------------------------------------------------
def _reduce(losses: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """(input - target)², averaged."""
    diff = input - target
    return _reduce(diff * diff, reduction)


def _classes_last(input: Tensor) -> Tensor:
    """(N, C, d1, …) -> (N·d1·…, C), so that every loss below sees one row per prediction."""
    if input.ndim <= 2:
        return input.reshape(-1, input.shape[-1])
    order = (0, *range(2, input.ndim), 1)
    return input.permute(order).reshape(-1, input.shape[1])


def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """-w[y]·log p[y] from log-probabilities (N, C, …) and class indices (N, …)."""
    logp = _classes_last(input)  # (M, C)
    t = np.asarray(target).reshape(-1)
    keep = t != ignore_index
    safe = np.where(keep, t, 0)
    w = (np.asarray(weight)[safe] if weight is not None else np.ones(len(t), logp.dtype)) * keep
    losses = -logp[np.arange(len(t)), safe] * w  # (M,)
    if reduction == "mean":
        return losses.sum() / w.sum()  # a weighted mean, as torch
    return _reduce(losses.reshape(np.shape(target)) if reduction == "none" else losses, reduction)


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Softmax cross-entropy from logits (N, C, …) and class indices (N, …) or probabilities.

    With label smoothing ε the target is (1 - ε)·one_hot + ε/C (Szegedy et al. 2016).
    """
    cdim = 1 if input.ndim > 1 else 0  # the class dimension
    classes = input.shape[cdim]
    logp = log_softmax(input, dim=cdim)
    w = (
        1.0
        if weight is None
        else np.asarray(weight).reshape([classes if d == cdim else 1 for d in range(input.ndim)])
    )  # class weights, broadcast along the class dimension
    if isinstance(target, Tensor) and target.dtype.kind == "f":  # class probabilities
        soft = target * (1 - label_smoothing) + label_smoothing / classes
        return _reduce(-(logp * soft * w).sum(dim=cdim), reduction)
    nll = nll_loss(logp, target, weight, ignore_index, reduction)
    if label_smoothing == 0:
        return nll
    t = np.asarray(target)
    keep = t != ignore_index
    smooth = -(logp * w).sum(dim=cdim) * keep  # every class as a target, each weighing ε/C
    if reduction == "mean":  # divided by the same total weight as the nll part, as torch
        smooth = smooth.sum() / (
            keep.sum() if weight is None else np.asarray(weight)[t[keep]].sum()
        )
    else:
        smooth = _reduce(smooth, reduction)
    return nll * (1 - label_smoothing) + smooth * (label_smoothing / classes)


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """-[p·y·log σ(x) + (1 - y)·log(1 - σ(x))], in the overflow-free form torch uses."""
    # -log σ(x) = relu(-x) + log(1 + exp(-|x|)). |x| is spelled with `where` so that its
    # derivative at x = 0 is 1 (abs' would be 0 there): the gradient is then σ(x) - 1 at 0 too.
    magnitude = where(input.data >= 0, input, -input)
    log_sigmoid_neg = (1 + (-magnitude).exp()).log() + (-input).relu()
    if pos_weight is None:
        losses = (1 - target) * input + log_sigmoid_neg
    else:
        losses = (1 - target) * input + ((pos_weight - 1) * target + 1) * log_sigmoid_neg
    if weight is not None:
        losses = losses * weight
    return _reduce(losses, reduction)


# ---- regularisation and normalisation -------------------------------------------------------
def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each entry with probability p and scale the rest by 1/(1-p) (inverted dropout)."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    keep = generator().random(input.shape) >= p
    return input * (keep / (1 - p) if p < 1 else keep.astype(input.dtype))


def layer_norm(
    input: Tensor,
    normalized_shape: Sequence[int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise over the last len(normalized_shape) dims (Ba et al. 2016)."""
    dims = tuple(range(-len(tuple(normalized_shape)), 0))
    centred = input - input.mean(dims, keepdim=True)
    out = centred / ((centred * centred).mean(dims, keepdim=True) + eps).sqrt()
    out = out * weight if weight is not None else out
    return out + bias if bias is not None else out


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each channel (dim 1) over the batch and spatial dims (Ioffe & Szegedy 2015).

    Training uses the batch's statistics and moves the running ones towards them (the running
    variance is the unbiased one); evaluation uses the running statistics.
    """
    dims = (0, *range(2, input.ndim))
    shape = [1] * input.ndim
    shape[1] = input.shape[1]
    if training:
        if input.numel() == input.shape[1]:
            raise ValueError(
                f"batch norm needs more than 1 value per channel when training, got input shape "
                f"{input.shape}; use a larger batch, or call .eval() first"
            )
        mean = input.mean(dims, keepdim=True)
        var = ((input - mean) * (input - mean)).mean(dims, keepdim=True)
        if running_mean is not None and running_var is not None:
            n = input.numel() / input.shape[1]
            running_mean.data *= 1 - momentum
            running_mean.data += momentum * mean.data.reshape(-1)
            running_var.data *= 1 - momentum
            running_var.data += momentum * var.data.reshape(-1) * n / (n - 1)  # unbiased
    else:
        mean, var = running_mean.data.reshape(shape), running_var.data.reshape(shape)
    out = (input - mean) / (var + eps) ** 0.5
    out = out * weight.reshape(shape) if weight is not None else out
    return out + bias.reshape(shape) if bias is not None else out


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of `weight` picked by integer indices: (*) -> (*, embedding_dim)."""
    # differs from torch: max_norm, scale_grad_by_freq and sparse are not offered
    index = np.asarray(input.data if isinstance(input, Tensor) else input)

    def backward(g):  # out = W[i]: row i of dW collects g (repeats add up; padding gets none)
        grad = np.zeros_like(weight.data)
        np.add.at(grad, index.reshape(-1), g.reshape(-1, weight.shape[1]))
        if padding_idx is not None:
            grad[padding_idx] = 0
        return (grad,)

    return Tensor._from_op(weight.data[index], (weight,), backward)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    index = np.asarray(tensor.data if isinstance(tensor, Tensor) else tensor)
    classes = index.max() + 1 if num_classes == -1 else num_classes
    return Tensor(np.eye(classes, dtype=np.int64)[index])


# ---- attention ------------------------------------------------------------------------------
def _attention_weights(
    query: Tensor, key: Tensor, attn_mask: Any, is_causal: bool, scale: float | None
) -> Tensor:
    """softmax(Q Kᵀ·scale + mask) over the keys: (…, L, E) x (…, S, E) -> (…, L, S).

    A boolean mask says which pairs may attend (True = allowed); a float mask is added.
    """
    scale = 1 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = (query @ key.transpose(-2, -1)) * scale
    length, source = scores.shape[-2:]
    if is_causal:
        scores = scores.masked_fill(~np.tri(length, source, dtype=bool), -np.inf)
    if attn_mask is not None and np.asarray(attn_mask).dtype == bool:
        scores = scores.masked_fill(~np.asarray(attn_mask), -np.inf)
    elif attn_mask is not None:
        scores = scores + attn_mask  # a float mask may be a tensor that learns
    return softmax(scores, dim=-1)


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
) -> Tensor:
    """softmax(Q Kᵀ/√E + mask) V (Vaswani et al. 2017).

    Shapes: query (…, L, E), key (…, S, E), value (…, S, Ev) -> (…, L, Ev).

    `attn_mask` is boolean (True = may attend) or float (added to the scores), broadcastable
    to (…, L, S); `is_causal` lets position i attend to positions ≤ i only.
    """
    weights = _attention_weights(query, key, attn_mask, is_causal, scale)
    return dropout(weights, dropout_p) @ value
