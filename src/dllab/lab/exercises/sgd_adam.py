"""Grader for sgd_adam: SGD with momentum and Adam, trajectories against torch.optim.

Each case minimises a quadratic 0.5 * sum(a * (w - c)**2) for a few steps: torch.optim with
autograd here, the learner's steps (fed the gradient at the learner's own w) in the child. The
known wrong variants run the same loop, so a mistake is recognised however far it has drifted.
"""

from __future__ import annotations

import numpy as np
import torch

from dllab.lab.checks import Case, assert_close, call, text, unpack


def _torch_run(opt_cls, w0, a, c, steps, state_keys, **kw) -> list[list[np.ndarray]]:
    """[w, *optimiser state] after each step of torch.optim on the quadratic."""
    w = torch.nn.Parameter(torch.tensor(w0))
    opt = opt_cls([w], **kw)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * (torch.tensor(a) * (w - torch.tensor(c)) ** 2).sum()).backward()
        opt.step()
        state = [opt.state[w][k].numpy().copy() for k in state_keys]
        out.append([w.detach().numpy().copy(), *state])
    return out


def _sgd(w, a, c, steps, lr, mu, nesterov, *, damped=False, stale=False) -> list[np.ndarray]:
    buf, out = np.zeros_like(w), []
    for _ in range(steps):
        g = a * (w - c)
        if stale:  # steps along the old buffer, then updates it
            w, buf = w - lr * buf, mu * buf + g
        else:
            buf = mu * buf + (1 - mu if damped else 1) * g
            w = w - lr * (g + mu * buf if nesterov else buf)
        out.append(w)
    return out


def _adam(w, a, c, steps, lr, betas, eps, *, correct_m=True, correct_v=True) -> list[np.ndarray]:
    m, v, out = np.zeros_like(w), np.zeros_like(w), []
    for t in range(1, steps + 1):
        g = a * (w - c)
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        mh = m / (1 - betas[0] ** t) if correct_m else m
        vh = v / (1 - betas[1] ** t) if correct_v else v
        w = w - lr * mh / (np.sqrt(vh) + eps)
        out.append(w)
    return out


DAMPED = text(
    "torch's momentum buffer is buf = momentum * buf + grad, with no (1 - momentum) factor on "
    "the gradient: that damping makes early steps far too small.",
    "torch 的动量缓冲是 buf = momentum * buf + grad，梯度前没有 (1 - momentum) 系数："
    "这种衰减会让前几步小得多。",
)
STALE = text(
    "Update the buffer with this step's gradient first, then step along the NEW buffer (your "
    "first step does not move w at all).",
    "先用这一步的梯度更新缓冲，再沿新的缓冲更新 w（你的第一步根本没有移动 w）。",
)
NESTEROV = text(
    "With nesterov=True the step is lr * (grad + momentum * buf): a look-ahead along the "
    "updated buffer (Sutskever et al. 2013, as torch writes it).",
    "nesterov=True 时步长是 lr * (grad + momentum * buf)：沿更新后的缓冲向前看一步"
    "（Sutskever 等 2013，torch 的写法）。",
)
BIAS = text(
    "Correct the bias of the moment estimates: m and v start at 0, so divide them by "
    "(1 - beta1**t) and (1 - beta2**t), with t = 1 on the first step.",
    "要对矩估计做偏差修正：m 和 v 从 0 开始，所以分别除以 (1 - beta1**t) 和 (1 - beta2**t)，"
    "第一步 t = 1。",
)


def make_case(index: int, rng: np.random.Generator) -> Case:
    shape = tuple(int(s) for s in rng.integers(1, 5, size=int(rng.integers(1, 3))))
    steps, nesterov = int(rng.integers(4, 9)), index % 2 == 1
    a, c = rng.uniform(0.5, 3.0, size=shape), rng.normal(size=shape)
    w0 = c + rng.normal(scale=2.0, size=shape)
    lr, mu = float(rng.uniform(0.02, 0.2)), float(rng.uniform(0.5, 0.95))
    adam_lr = float(rng.uniform(0.01, 0.2))
    betas, eps = (float(rng.uniform(0.8, 0.95)), float(rng.uniform(0.9, 0.999))), 1e-8

    def check(module):
        ref = _torch_run(torch.optim.SGD, w0, a, c, steps, ["momentum_buffer"], lr=lr,
                         momentum=mu, nesterov=nesterov)  # fmt: skip
        args = (w0, a, c, steps, lr, mu)
        variants = [
            (_sgd(*args, nesterov, damped=True), DAMPED),
            (_sgd(*args, nesterov, stale=True), STALE),
            (_sgd(*args, not nesterov), NESTEROV),
        ]
        w, buf = w0.copy(), np.zeros(shape)
        for k in range(steps):
            out = call(module, "sgd_momentum_step", w, a * (w - c), buf, lr, mu, nesterov)
            w, buf = (np.asarray(x, dtype=float) for x in unpack("sgd_momentum_step", out, 2))
            kind = "Nesterov" if nesterov else "momentum"
            assert_close(f"w after SGD ({kind}) step {k + 1}", w, ref[k][0],
                         mistakes=[(alt[k], why) for alt, why in variants])  # fmt: skip
            assert_close(f"buf after SGD ({kind}) step {k + 1}", buf, ref[k][1])

        ref = _torch_run(torch.optim.Adam, w0, a, c, steps, ["exp_avg", "exp_avg_sq"],
                         lr=adam_lr, betas=betas, eps=eps)  # fmt: skip
        args = (w0, a, c, steps, adam_lr, betas, eps)
        variants = [
            (_adam(*args, correct_m=False, correct_v=False), BIAS),
            (_adam(*args, correct_v=False), BIAS),
            (_adam(*args, correct_m=False), BIAS),
        ]
        w, m, v = w0.copy(), np.zeros(shape), np.zeros(shape)
        for k in range(steps):
            out = call(module, "adam_step", w, a * (w - c), m, v, k + 1, adam_lr, betas, eps)
            w, m, v = (np.asarray(x, dtype=float) for x in unpack("adam_step", out, 3))
            assert_close(f"w after Adam step {k + 1}", w, ref[k][0],
                         mistakes=[(alt[k], why) for alt, why in variants])  # fmt: skip
            assert_close(f"m after Adam step {k + 1}", m, ref[k][1])
            assert_close(f"v after Adam step {k + 1}", v, ref[k][2])

    sgd = [f"SGD lr {lr:.3g}", f"momentum {mu:.3g}", f"nesterov {nesterov}"]
    adam = [f"Adam lr {adam_lr:.3g}", f"betas ({betas[0]:.3g}, {betas[1]:.3g})"]
    return Case(
        text(
            f"w {shape}, {steps} steps; {', '.join(sgd)}; {', '.join(adam)}",
            f"w {shape}，{steps} 步；{'，'.join(sgd)}；{'，'.join(adam)}",
        ),
        check,
    )
