# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04-03 · Exploding gradients and gradient clipping
#
# Lesson 04-01 showed the gradient through time growing as $\rho^k$ when the recurrent
# weights have a spectral radius $\rho > 1$ and nothing saturates. A ReLU RNN initialised
# at the identity (Le et al. 2015's "IRNN") is exactly such a network: it remembers well, and
# its gradients can explode. One exploded gradient is enough: the step
# $w \leftarrow w - \eta g$ throws the weights far away, and the loss becomes `inf`, then
# `nan`. Pascanu, Mikolov & Bengio (2013) describe the loss surface of RNNs as having
# *cliffs*: walls where the gradient is huge, next to flat regions.
#
# Their remedy is **gradient clipping by norm**: if the norm of the whole gradient (all
# parameters together) exceeds a threshold $c$, rescale it to length $c$:
#
# $$g \leftarrow g \cdot \min\Big(1, \frac{c}{\lVert g \rVert}\Big).$$
#
# The direction is kept; only the step length is capped. PyTorch's
# `torch.nn.utils.clip_grad_norm_` does it in place and returns the norm before clipping.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("04-03-gradient-clipping")
torch.set_num_threads(1)  # tiny matrices: one thread is fastest on a busy machine

# %% [markdown]
# ## 1. Clipping by hand
#
# The norm is taken over **all** parameters at once, $\lVert g \rVert = \sqrt{\sum_p \lVert
# g_p \rVert^2}$, so every parameter is scaled by the same factor. The alternative,
# `clip_grad_value_`, clips every component to $[-c, c]$ separately, which changes the
# direction of the step. We compare both with our own version.


# %%
def clip_by_norm(grads, max_norm):
    """The clipped gradients and the total norm before clipping."""
    total = np.sqrt(sum(float((g**2).sum()) for g in grads))
    scale = min(1.0, max_norm / (total + 1e-6))  # torch adds 1e-6 to avoid dividing by 0
    return [g * scale for g in grads], total


torch.manual_seed(0)
layer = torch.nn.Linear(4, 3)
(layer(torch.randn(8, 4)) ** 2).sum().mul(50).backward()  # a large gradient
grads = [p.grad.numpy().copy() for p in layer.parameters()]
ours, total = clip_by_norm(grads, max_norm=1.0)
returned = torch.nn.utils.clip_grad_norm_(layer.parameters(), max_norm=1.0)
assert np.isclose(returned.item(), total, rtol=1e-6)
for mine, p in zip(ours, layer.parameters(), strict=True):
    np.testing.assert_allclose(mine, p.grad.numpy(), rtol=1e-5)
flat = np.concatenate([g.ravel() for g in grads])
clipped = np.concatenate([p.grad.numpy().ravel() for p in layer.parameters()])
by_value = np.clip(flat, -1.0, 1.0)  # what clip_grad_value_(.., 1.0) would do


def cosine(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


print(f"norm before {total:.1f}, after {np.linalg.norm(clipped):.4f}")
print(
    f"cosine with the original direction: by norm {cosine(flat, clipped):.6f}, "
    f"by value {cosine(flat, by_value):.3f}"
)
assert abs(np.linalg.norm(clipped) - 1.0) < 1e-4 and cosine(flat, clipped) > 1 - 1e-9
assert cosine(flat, by_value) < 0.99

# %% [markdown]
# ## 2. A network whose gradients explode
#
# The adding problem (Hochreiter & Schmidhuber 1997): each input step carries a random
# value in $[0, 1]$ and a marker; exactly two steps are marked, and the target is the sum of
# their values. The network is a ReLU RNN with 32 units whose recurrent matrix starts at
# $1.05\,I$: the state neither decays nor saturates, and the gradient $k$ steps back can grow
# like $1.05^k$ — and much faster once the weights move. First the gradient norm at
# initialisation, as the sequences get longer:

# %%
HIDDEN = 32


def adding_batch(n, length, generator):
    values = torch.rand(n, length, generator=generator)
    marked = torch.rand(n, length, generator=generator).argsort(dim=1)[:, :2]  # two positions
    markers = torch.zeros(n, length).scatter_(1, marked, 1.0)
    return torch.stack([values, markers], dim=-1), (values * markers).sum(1)  # (n, T, 2), (n,)


def irnn(gain=1.05, seed=0):
    torch.manual_seed(seed)
    rnn = torch.nn.RNN(2, HIDDEN, nonlinearity="relu", batch_first=True)
    head = torch.nn.Linear(HIDDEN, 1)
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(gain * torch.eye(HIDDEN))
        rnn.bias_hh_l0.zero_()
        rnn.bias_ih_l0.zero_()
    return rnn, head


def loss_of(rnn, head, x, y):
    return ((head(rnn(x)[0][:, -1]).squeeze(-1) - y) ** 2).mean()


lengths = [5, 10, 20, 40, 80]
init_norms = []
for length in lengths:
    rnn, head = irnn()
    x, y = adding_batch(64, length, torch.Generator().manual_seed(0))
    loss_of(rnn, head, x, y).backward()
    init_norms.append(torch.nn.utils.clip_grad_norm_(rnn.parameters(), float("inf")).item())
print({t: f"{n:.3g}" for t, n in zip(lengths, init_norms, strict=True)}, "<- gradient norm at init")
assert init_norms[-1] > 100 * init_norms[0]

# %% [markdown]
# ## 3. Training with and without clipping
#
# Sequences of 30 steps, plain SGD with learning rate 0.02, 150 steps, batches of 32: once
# without clipping and once with `clip_grad_norm_(..., max_norm=1.0)`, called between
# `backward()` and `step()`. We record the gradient norm it returns at every step.

# %%
curves = {}
for max_norm in (None, 1.0):
    rnn, head = irnn()
    params = [*rnn.parameters(), *head.parameters()]
    optimizer = torch.optim.SGD(params, lr=0.02)
    data = torch.Generator().manual_seed(0)
    losses, norms = [], []
    for _ in range(150):
        x, y = adding_batch(32, 30, data)
        loss = loss_of(rnn, head, x, y)
        optimizer.zero_grad()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm or float("inf"))  # norm BEFORE
        optimizer.step()
        losses.append(loss.item())
        norms.append(norm.item())
    curves["no clipping" if max_norm is None else f"clip_grad_norm_({max_norm})"] = (losses, norms)

plain, clipped = curves["no clipping"], curves["clip_grad_norm_(1.0)"]
first_bad = next((i for i, v in enumerate(plain[0]) if not np.isfinite(v)), None)
print(f"no clipping: loss {plain[0][0]:.2f} -> not finite from step {first_bad}")
print(
    f"clipping: loss {clipped[0][0]:.2f} -> {np.mean(clipped[0][-30:]):.3f} (mean of the last 30)"
)
assert first_bad is not None and first_bad < 20
assert np.all(np.isfinite(clipped[0])) and np.mean(clipped[0][-30:]) < 0.25

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
for name, (losses, norms) in curves.items():
    style = "o-" if name == "no clipping" else "-"  # its few finite points, visible
    ax1.semilogy(losses, style, ms=4, label=name)
    ax2.semilogy(norms, style, ms=4, label=name)
ax1.set_ylim(0.05, 1e4)  # the unclipped loss leaves the plot upwards
ax1.axhline(1 / 6, color="grey", ls=":", label="1/6: predicting the mean")
ax1.set(xlabel="SGD step", ylabel="mean squared error (log scale)")
ax1.set_title("Loss: without clipping it becomes inf, then nan")
ax2.axhline(1.0, color="black", lw=0.8, ls="--", label="threshold c = 1")
ax2.set(xlabel="SGD step", ylabel="gradient norm before clipping (log scale)")
ax2.set_title("Gradient norm: spikes that clipping caps")
for ax in (ax1, ax2):
    ax.legend(fontsize=8)
lesson.save(fig, "clipping.png")

# %% [markdown]
# Without clipping the first spikes throw the weights into a region where the activations
# overflow, and the run is lost within a few steps (the curve stops where the loss is no
# longer a number). With clipping the same spikes happen — the gradient norm before
# clipping still reaches the hundreds — but each step moves the weights by at most
# $\eta c = 0.02$, and the loss falls to about $1/6$, the variance of the target: the error of
# always answering the average sum. Solving the adding problem itself takes thousands of
# steps (Le et al. 2015); clipping is what lets those steps happen.
#
# In practice: clip by norm in every RNN and Transformer training loop (thresholds of 0.5 to
# 5 are common; dllab's `Trainer` takes `grad_clip`), log the norm it returns, and look at
# the spikes: frequent clipping means the learning rate is too high.
#
# ## Summary
#
# - Recurrent weights with spectral radius above 1 and no saturation make the gradient grow
#   geometrically with the sequence length; one such step can destroy a run.
# - `clip_grad_norm_` rescales the whole gradient to norm at most $c$, keeping its direction;
#   clipping by value changes the direction. Ours equals PyTorch's.
# - Clipping does not remove the cliffs; it caps the step taken on them.
#
# ## Exercises
#
# - `dllab lab start training_loop` — a complete training loop; add clipping between
#   `backward()` and `step()` once it passes.
# - `dllab lab start gru_cell` — a gated cell, the other cure for unstable recurrences.
# - `dllab lab start loss_curves` — read loss curves, diverging ones included.
#
# Check each with `dllab lab check NAME`.
#
# To try here (not graded):
#
# 1. Train with `max_norm=10` and `max_norm=0.1`. Which is faster, which is safer?
# 2. Replace SGD by Adam (learning rate $10^{-3}$) without clipping. Does it explode? Why does
#    Adam's per-parameter normalisation help, and why does it not protect the first step?
