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
# # 04-01 · The recurrent network, unrolled, and backpropagation through time
#
# A sequence $x_1, \dots, x_T$ has no fixed length, and what matters at step $t$ may have
# happened long before. A **recurrent neural network** (RNN) reads it one step at a time and
# carries a hidden state $h_t$, a summary of everything read so far (Elman 1990):
#
# $$h_t = \tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}), \qquad h_0 = 0.$$
#
# The same weights serve every step. Written out for a given $T$ — **unrolled** — the RNN is
# a $T$-layer network whose layers share their weights, and training it is ordinary
# backpropagation through that deep network: **backpropagation through time** (BPTT,
# Werbos 1990). Its depth is the length of the sequence, so everything lesson 01-07 said
# about vanishing and exploding gradients applies, with one twist: the same $W_{hh}$ is
# multiplied in at every step.
#
# This lesson writes BPTT by hand, checks it against PyTorch's autograd on `nn.RNN`, and
# measures how the gradient fades with the distance in time.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("04-01-rnn-bptt")
torch.set_num_threads(1)  # tiny matrices: one thread is fastest on a busy machine

rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The forward pass, one step at a time
#
# Inputs of size $D_{in}$, a hidden state of size $H$, a batch of $N$ sequences. We keep every
# $h_t$: the backward pass needs them. A linear read-out $y_t = W_{hy} h_t$ gives a
# prediction at each step, and the loss is the mean squared error over all steps,
# $L = \frac{1}{NT}\sum_{t,n} \lVert y_t - \text{target}_t \rVert^2 / D_{out}$.

# %%
T, N, D_IN, H, D_OUT = 12, 4, 3, 8, 2
params = {
    "W_ih": rng.normal(scale=0.5, size=(H, D_IN)),
    "W_hh": rng.normal(scale=0.4, size=(H, H)),
    "b_ih": rng.normal(scale=0.1, size=H),
    "b_hh": rng.normal(scale=0.1, size=H),
    "W_hy": rng.normal(scale=0.5, size=(D_OUT, H)),
}
xs = rng.normal(size=(T, N, D_IN))  # time first, as nn.RNN's default
targets = rng.normal(size=(T, N, D_OUT))


def rnn_forward(xs, p):
    """Return hs (T + 1, N, H) with hs[0] = h_0 = 0, and the outputs ys (T, N, O)."""
    hs = [np.zeros((xs.shape[1], p["W_hh"].shape[0]))]
    for x in xs:
        hs.append(np.tanh(x @ p["W_ih"].T + p["b_ih"] + hs[-1] @ p["W_hh"].T + p["b_hh"]))
    hs = np.stack(hs)
    return hs, hs[1:] @ p["W_hy"].T


hs, ys = rnn_forward(xs, params)
loss = np.mean((ys - targets) ** 2)
print(f"hidden states {hs.shape}, outputs {ys.shape}, loss {loss:.4f}")

# %% [markdown]
# ## 2. Backpropagation through time, by hand
#
# Walk the unrolled network backwards from $t = T$ to $1$. The gradient reaching $h_t$ has
# two sources: the loss at step $t$ (through $y_t$) and the future (through $h_{t+1}$):
#
# $$\frac{\partial L}{\partial h_t} = W_{hy}^\top \frac{\partial L}{\partial y_t}
#   + W_{hh}^\top \Big(\frac{\partial L}{\partial h_{t+1}} \odot (1 - h_{t+1}^2)\Big).$$
#
# With $a_t = \frac{\partial L}{\partial h_t} \odot (1 - h_t^2)$, the gradient at the tanh's
# input, every step adds its share to the **shared** weights:
# $\partial L/\partial W_{hh} \mathrel{+}= a_t^\top h_{t-1}$,
# $\partial L/\partial W_{ih} \mathrel{+}= a_t^\top x_t$, and both biases receive $\sum a_t$.
# Shared weights sum their gradients over time, as a variable used twice sums its
# gradients in any computation graph.


# %%
def rnn_backward(xs, hs, ys, targets, p):
    """Gradients of the mean squared error with respect to every parameter."""
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    dys = 2 * (ys - targets) / ys.size  # (T, N, O)
    grads["W_hy"] = np.einsum("tno,tnh->oh", dys, hs[1:])
    dh_next = np.zeros_like(hs[0])  # dL/dh_{t+1} arriving through the recurrence
    for t in reversed(range(len(xs))):
        dh = dys[t] @ p["W_hy"] + dh_next  # two sources: this step's loss and the future
        da = dh * (1 - hs[t + 1] ** 2)  # through tanh; hs[t + 1] is h_t (hs[0] is h_0)
        grads["W_ih"] += da.T @ xs[t]
        grads["W_hh"] += da.T @ hs[t]
        grads["b_ih"] += da.sum(0)
        grads["b_hh"] += da.sum(0)
        dh_next = da @ p["W_hh"]
    return grads


grads = rnn_backward(xs, hs, ys, targets, params)

# %% [markdown]
# PyTorch's `nn.RNN` computes the same recurrence (its default nonlinearity is tanh, and
# its parameter names match ours). With our weights copied in, autograd must give the same
# gradients:

# %%
rnn = torch.nn.RNN(D_IN, H, dtype=torch.float64)
readout = torch.nn.Linear(H, D_OUT, bias=False, dtype=torch.float64)
with torch.no_grad():
    for name in ("W_ih", "W_hh", "b_ih", "b_hh"):
        getattr(rnn, f"weight_{name[2:]}_l0" if name[0] == "W" else f"bias_{name[2:]}_l0").copy_(
            torch.tensor(params[name])
        )
    readout.weight.copy_(torch.tensor(params["W_hy"]))
out, _ = rnn(torch.tensor(xs))  # (T, N, H)
torch_loss = torch.mean((readout(out) - torch.tensor(targets)) ** 2)
torch_loss.backward()
torch_grads = {
    "W_ih": rnn.weight_ih_l0.grad,
    "W_hh": rnn.weight_hh_l0.grad,
    "b_ih": rnn.bias_ih_l0.grad,
    "b_hh": rnn.bias_hh_l0.grad,
    "W_hy": readout.weight.grad,
}
assert np.isclose(torch_loss.item(), loss)
for name, g in torch_grads.items():
    np.testing.assert_allclose(grads[name], g.numpy(), rtol=1e-10, atol=1e-12)
    print(f"{name}: hand BPTT == autograd (max |diff| {np.abs(grads[name] - g.numpy()).max():.1e})")

# %% [markdown]
# ## 3. How far back does the gradient reach?
#
# Put the loss at the **last** step only and follow $\partial L/\partial h_t$ backwards.
# Each step back multiplies it by the Jacobian
# $\partial h_{t+1}/\partial h_t = \operatorname{diag}(1 - h_{t+1}^2)\, W_{hh}$, so after $k$
# steps it has been multiplied by $k$ such matrices. Their size is governed by the spectral
# radius $\rho$ of $W_{hh}$ (its largest eigenvalue in absolute value) times the tanh's
# slope, which is at most 1:
#
# - $\rho < 1$: the gradient shrinks geometrically — **vanishing**: what happened 30 steps
#   ago cannot affect learning;
# - $\rho > 1$ and a linear unit (no tanh to saturate): it grows geometrically —
#   **exploding** (lesson 04-03 shows the cure).
#
# We scale one random matrix to several spectral radii and measure
# $\lVert \partial L/\partial h_t \rVert$ with autograd (`retain_grad` keeps the gradient of
# each intermediate $h_t$).


# %%
def gradient_through_time(rho, steps=60, nonlinearity=torch.tanh, seed=0):
    """||dL/dh_t|| for t = 1..steps, with the loss on h_steps only."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(32, 32, generator=g, dtype=torch.float64)
    w *= rho / torch.linalg.eigvals(w).abs().max()  # spectral radius exactly rho
    w.requires_grad_()
    x = torch.randn(steps, 16, 32, generator=g, dtype=torch.float64) * 0.5
    h, states = torch.zeros(16, 32, dtype=torch.float64), []
    for t in range(steps):
        h = nonlinearity(x[t] + h @ w.T)
        h.retain_grad()
        states.append(h)
    (h**2).sum().backward()
    return np.array([s.grad.norm().item() for s in states])


steps = 60
curves = {f"tanh, rho = {r}": gradient_through_time(r) for r in (0.5, 0.9, 1.5)}
curves["linear, rho = 1.1"] = gradient_through_time(1.1, nonlinearity=lambda z: z)
distance = np.arange(steps)[::-1]  # steps between h_t and the loss
for name, norms in curves.items():
    print(f"{name:18s}: ||dL/dh|| 50 steps back / at the loss = {norms[-51] / norms[-1]:.1e}")

fig, ax = plt.subplots(figsize=(8, 4.6))
for name, norms in curves.items():
    ax.semilogy(distance, norms / norms[-1], label=name)
ax.set(xlabel="steps between h_t and the loss", ylabel="‖dL/dh_t‖ / ‖dL/dh_T‖ (log scale)")
ax.set_title("Gradient through time: vanishing for rho < 1, exploding for rho > 1")
ax.legend(fontsize=8)
lesson.save(fig, "gradient-through-time.png")

assert curves["tanh, rho = 0.5"][-51] < 1e-10 * curves["tanh, rho = 0.5"][-1]  # vanished
assert curves["linear, rho = 1.1"][-51] > 1e1 * curves["linear, rho = 1.1"][-1]  # exploded

# %% [markdown]
# With $\rho = 0.5$ the gradient from 50 steps away is below $10^{-10}$ of the nearest one:
# the weights receive no signal about long-range dependencies. $\rho$ near 1 keeps more of
# it for a while. With tanh and $\rho = 1.5$ the gradient neither vanishes nor explodes here:
# many units saturate, and their slope $1 - h^2 \approx 0$ cancels the growth that
# $\rho > 1$ would cause — a network of saturated units, hard to train for other reasons.
# The linear network with $\rho = 1.1$ explodes as $1.1^k$.
# No choice of $W_{hh}$ fixes this for a plain RNN, because the same factor is applied at
# every step. **Gated** cells (LSTM, GRU; lesson 04-02) add a path on which the state is
# copied, not multiplied, and the gradient survives.
#
# ## 4. Truncated BPTT
#
# A long series (a book, a year of sensor readings) cannot be unrolled whole: memory grows
# with $T$. **Truncated BPTT** cuts it into chunks of $k$ steps, carries the hidden state
# from one chunk to the next as a constant (`h.detach()`), and backpropagates within each
# chunk only. The forward pass still sees the whole past; the gradient sees at most $k$
# steps. Below, the gradient of the loss on the last chunk reaches exactly $k$ steps back:

# %%
k, long_xs = 10, torch.randn(40, 1, 3, dtype=torch.float64)
h = torch.zeros(1, 1, H, dtype=torch.float64)
inputs = long_xs.clone().requires_grad_()
for start in range(0, 40, k):
    h = h.detach()  # the cut: no gradient flows into the previous chunk
    out, h = rnn(inputs[start : start + k], h)
out[-1].sum().backward()
reached = (inputs.grad.abs().sum(dim=(1, 2)) > 0).nonzero().flatten()
print(f"the gradient reaches inputs {reached.min().item()}..{reached.max().item()}")
assert reached.min().item() == 40 - k

# %% [markdown]
# ## Summary
#
# - An RNN applies the same cell at every step; unrolled, it is a deep network with shared
#   weights, and BPTT is backpropagation through it, summing each step's gradient into the
#   shared weights. Ours matches `nn.RNN`'s autograd to $10^{-12}$.
# - The gradient $k$ steps back is a product of $k$ Jacobians
#   $\operatorname{diag}(1 - h^2) W_{hh}$: it vanishes or explodes geometrically, so a plain
#   RNN cannot learn dependencies more than a few dozen steps long.
# - Truncated BPTT bounds memory by cutting the gradient (not the forward pass) every $k$
#   steps.
#
# ## Exercises
#
# - `dllab lab start gru_cell` — a GRU step in NumPy, equal to `nn.GRUCell`, and the loop
#   over time that unrolls it.
# - `dllab lab start lstm_cell` — the same for an LSTM.
# - `dllab lab start gradient_norms` — per-layer gradient norms of a deep network: the
#   same measurement as section 3, across layers instead of time.
#
# Check each with `dllab lab check NAME`.
#
# To try here (not graded):
#
# 1. Replace tanh by ReLU in `gradient_through_time`. What happens for $\rho = 0.9$ and
#    $\rho = 1.5$?
# 2. Initialise $W_{hh}$ as an orthogonal matrix (`torch.nn.init.orthogonal_`): every
#    eigenvalue has absolute value 1. How far does the gradient of the linear RNN reach?
