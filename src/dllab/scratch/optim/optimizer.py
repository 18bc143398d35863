"""Optimisers with torch's arguments, defaults, parameter groups and update rules.

Each optimiser defines `_update(p, grad, state, group)` for one parameter tensor, with the
rule written out in its docstring; `Optimizer.step` calls it for every parameter that has a
gradient. Updates are in place on `p.data`, as torch's are.

    >>> opt = Adam(model.parameters(), lr=1e-3)
    >>> opt.zero_grad(); loss.backward(); opt.step()
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from dllab.scratch.autograd import enable_grad
from dllab.scratch.tensor import Tensor

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "LAMB"]


class Optimizer:
    """Holds `param_groups` (dicts of params and hyper-parameters) and per-parameter `state`."""

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list; pass model.parameters()")
        for group in groups if isinstance(groups[0], dict) else [{"params": groups}]:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        group = {**self.defaults, **param_group, "params": list(param_group["params"])}
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.zero_()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; `closure` re-computes the loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, p.grad.data, self.state.setdefault(p, {}), group)
        return loss

    def _update(self, p: Tensor, grad: np.ndarray, state: dict, group: dict) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Hyper-parameters and state, with parameters replaced by their position (as torch)."""
        params = [p for g in self.param_groups for p in g["params"]]
        position = {id(p): i for i, p in enumerate(params)}
        groups, start = [], 0
        for g in self.param_groups:
            groups.append({**g, "params": list(range(start, start + len(g["params"])))})
            start += len(g["params"])
        state = {position[id(p)]: copy.deepcopy(s) for p, s in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        params = [p for g in self.param_groups for p in g["params"]]
        saved = state_dict["param_groups"]
        if [len(g["params"]) for g in saved] != [len(g["params"]) for g in self.param_groups]:
            raise ValueError(
                "the loaded state dict has parameter groups of other sizes than this optimizer; "
                "build the optimizer over the same parameters before loading"
            )
        for group, loaded in zip(self.param_groups, saved, strict=True):
            group.update({k: v for k, v in loaded.items() if k != "params"})
        self.state = {params[int(i)]: copy.deepcopy(s) for i, s in state_dict["state"].items()}

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v}" for k, v in self.defaults.items())
        return f"{type(self).__name__}({settings})"


class SGD(Optimizer):
    """Stochastic gradient descent, with momentum (Polyak; Nesterov optional) and weight decay."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
    ) -> None:
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
        )
        super().__init__(params, defaults)

    def _update(self, p, grad, state, group):
        """g = ∇ + λp;  b = μb + (1 - τ)g (b = g at first);  p -= lr·(g + μb if Nesterov else b)"""
        grad = grad + group["weight_decay"] * p.data if group["weight_decay"] else grad
        if group["momentum"]:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = grad.copy()
            else:
                buf = state["momentum_buffer"]
                buf *= group["momentum"]
                buf += (1 - group["dampening"]) * grad
            buf = state["momentum_buffer"]
            grad = grad + group["momentum"] * buf if group["nesterov"] else buf
        p.data -= group["lr"] * grad


def _adam_moments(grad: np.ndarray, state: dict, betas: tuple[float, float]) -> int:
    """m = β₁m + (1 - β₁)g;  v = β₂v + (1 - β₂)g²;  returns the step count t."""
    if not state:
        state.update(step=0, exp_avg=np.zeros_like(grad), exp_avg_sq=np.zeros_like(grad))
    state["step"] += 1
    beta1, beta2 = betas
    state["exp_avg"] *= beta1
    state["exp_avg"] += (1 - beta1) * grad
    state["exp_avg_sq"] *= beta2
    state["exp_avg_sq"] += (1 - beta2) * grad * grad
    return state["step"]


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015); weight_decay adds λp to the gradient (L2, not AdamW)."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
    ) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
        super().__init__(params, defaults)

    def _update(self, p, grad, state, group):
        grad = grad + group["weight_decay"] * p.data if group["weight_decay"] else grad
        self._adam_step(p, grad, state, group)

    @staticmethod
    def _adam_step(p, grad, state, group):
        """p -= lr/(1 - β₁ᵗ) · m / (√v / √(1 - β₂ᵗ) + ε)   (v → max of all v with amsgrad)"""
        t = _adam_moments(grad, state, group["betas"])
        beta1, beta2 = group["betas"]
        v = state["exp_avg_sq"]
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = np.maximum(state.get("max_exp_avg_sq", v), v)
            v = state["max_exp_avg_sq"]
        denominator = np.sqrt(v) / np.sqrt(1 - beta2**t) + group["eps"]
        p.data -= group["lr"] / (1 - beta1**t) * state["exp_avg"] / denominator


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019): p -= lr·λ·p, then Adam."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)

    def _update(self, p, grad, state, group):
        p.data *= 1 - group["lr"] * group["weight_decay"]
        self._adam_step(p, grad, state, group)


class RMSprop(Optimizer):
    """RMSprop (Tieleman & Hinton 2012), optionally centred and with momentum."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
        )
        super().__init__(params, defaults)

    def _update(self, p, grad, state, group):
        """s = αs + (1 - α)g²;  d = √(s - ḡ²) + ε (centred) or √s + ε;  p -= lr·g/d

        With momentum μ: b = μb + g/d;  p -= lr·b.
        """
        grad = grad + group["weight_decay"] * p.data if group["weight_decay"] else grad
        alpha = group["alpha"]
        if not state:
            state.update(square_avg=np.zeros_like(grad), grad_avg=np.zeros_like(grad))
            state["momentum_buffer"] = np.zeros_like(grad)
        state["square_avg"] = alpha * state["square_avg"] + (1 - alpha) * grad * grad
        mean_square = state["square_avg"]
        if group["centered"]:
            state["grad_avg"] = alpha * state["grad_avg"] + (1 - alpha) * grad
            mean_square = mean_square - state["grad_avg"] ** 2
        step = grad / (np.sqrt(mean_square) + group["eps"])
        if group["momentum"] > 0:
            state["momentum_buffer"] = group["momentum"] * state["momentum_buffer"] + step
            step = state["momentum_buffer"]
        p.data -= group["lr"] * step


class LAMB(Optimizer):
    """LAMB, layer-wise adaptive moments (You et al. 2019, Algorithm 2); torch has no twin.

    Adam's bias-corrected direction r = m̂/(√v̂ + ε), plus weight decay, is rescaled per
    parameter tensor by the trust ratio ‖p‖ / ‖r + λp‖ (taken as 1 when either norm is 0):

        p -= lr · ‖p‖ / ‖r + λp‖ · (r + λp)
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def _update(self, p, grad, state, group):
        t = _adam_moments(grad, state, group["betas"])
        beta1, beta2 = group["betas"]
        m_hat = state["exp_avg"] / (1 - beta1**t)
        v_hat = state["exp_avg_sq"] / (1 - beta2**t)
        update = m_hat / (np.sqrt(v_hat) + group["eps"]) + group["weight_decay"] * p.data
        weight_norm, update_norm = np.linalg.norm(p.data), np.linalg.norm(update)
        trust = weight_norm / update_norm if weight_norm > 0 and update_norm > 0 else 1.0
        p.data -= group["lr"] * trust * update
