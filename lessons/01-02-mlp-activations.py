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
# # 01-02 · Multi-layer perceptrons and activation functions
#
# A **multi-layer perceptron** (MLP) stacks layers of neurons. Layer $l$ takes the previous
# layer's output $h^{(l-1)}$ (with $h^{(0)} = x$) and computes
#
# $$h^{(l)} = f\big(W^{(l)} h^{(l-1)} + b^{(l)}\big),$$
#
# where $W^{(l)}$ has shape (outputs, inputs) — the layout of `nn.Linear.weight` — and $f$ is
# the **activation function**, applied element by element. The last layer usually has no
# activation: its raw outputs (logits, or regression values) go to the loss.
#
# This lesson answers three questions:
#
# 1. Why must $f$ be nonlinear?
# 2. What do the common activations and their derivatives look like, and why does the
#    derivative matter so much?
# 3. What can an MLP with one hidden layer represent?

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

import dllab.scratch as st
import dllab.scratch.functional as SF
import dllab.scratch.nn as snn
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("01-02-mlp-activations")

rng = np.random.default_rng(0)
st.manual_seed(0)

# %% [markdown]
# ## 1. Without a nonlinearity, depth buys nothing
#
# Two linear layers in a row are one linear layer:
#
# $$W_2 (W_1 x + b_1) + b_2 = \underbrace{(W_2 W_1)}_{W} x + \underbrace{(W_2 b_1 + b_2)}_{b}.$$
#
# However many layers you stack, the network can only draw hyperplanes — it still cannot
# solve XOR (lesson 01-01). We check the algebra on two `dllab.scratch` layers:

# %%
layer1, layer2 = snn.Linear(5, 8), snn.Linear(8, 3)
x = st.randn(10, 5)  # (N, D)
deep = layer2(layer1(x))  # (10, 3)

W1, b1 = layer1.weight.detach().numpy(), layer1.bias.detach().numpy()
W2, b2 = layer2.weight.detach().numpy(), layer2.bias.detach().numpy()
W, b = W2 @ W1, W2 @ b1 + b2  # (3, 5), (3,): the single equivalent layer
np.testing.assert_allclose(deep.detach().numpy(), x.numpy() @ W.T + b, atol=1e-12)
print("two stacked linear layers == one linear layer with W = W2 W1, b = W2 b1 + b2")

# %% [markdown]
# ## 2. The common activations
#
# | name | $f(z)$ | $f'(z)$ | range |
# |---|---|---|---|
# | sigmoid | $\sigma(z) = 1/(1+e^{-z})$ | $\sigma(z)(1-\sigma(z)) \le 1/4$ | $(0, 1)$ |
# | tanh | $\tanh z$ | $1-\tanh^2 z \le 1$ | $(-1, 1)$ |
# | ReLU | $\max(0, z)$ | $1$ if $z>0$, else $0$ | $[0, \infty)$ |
# | LeakyReLU | $\max(\alpha z, z)$ | $1$ if $z>0$, else $\alpha$ | $\mathbb{R}$ |
# | GELU | $z\,\Phi(z)$ | $\Phi(z) + z\,\varphi(z)$ | $\approx[-0.17, \infty)$ |
#
# ($\Phi$ and $\varphi$ are the standard normal CDF and density.) The **derivative** is what
# training sees: backpropagation (lesson 01-03) multiplies the gradient by $f'(z)$ at every
# layer. Where $f'$ is near zero — the flat tails of sigmoid and tanh, the negative side of
# ReLU — the layer passes almost no gradient back. Sigmoid's derivative is at most $1/4$, so a
# deep stack of sigmoids shrinks the gradient at least fourfold per layer (lesson 01-07).
#
# We let `dllab.scratch`'s autograd compute each derivative: for an elementwise $f$, the
# gradient of $\sum_i f(z_i)$ with respect to $z_i$ is exactly $f'(z_i)$. Then we check it
# against the closed form in the table, and the values against PyTorch.

# %%
z_grid = np.linspace(-5, 5, 401)
std_normal_cdf = np.array([0.5 * (1 + math.erf(v / math.sqrt(2))) for v in z_grid])
std_normal_pdf = np.exp(-(z_grid**2) / 2) / math.sqrt(2 * math.pi)
sig = 1 / (1 + np.exp(-z_grid))

activations = {  # name: (scratch function, torch function, closed-form derivative)
    "sigmoid": (SF.sigmoid, torch.sigmoid, sig * (1 - sig)),
    "tanh": (SF.tanh, torch.tanh, 1 - np.tanh(z_grid) ** 2),
    "ReLU": (SF.relu, F.relu, (z_grid > 0).astype(float)),
    "LeakyReLU(0.1)": (
        lambda t: SF.leaky_relu(t, 0.1),
        lambda t: F.leaky_relu(t, 0.1),
        np.where(z_grid > 0, 1.0, 0.1),
    ),
    "GELU": (SF.gelu, F.gelu, std_normal_cdf + z_grid * std_normal_pdf),
}

values, slopes = {}, {}
for name, (scratch_fn, torch_fn, closed_form) in activations.items():
    z = st.tensor(z_grid, requires_grad=True)
    out = scratch_fn(z)
    out.sum().backward()
    values[name], slopes[name] = out.detach().numpy(), z.grad.numpy()
    np.testing.assert_allclose(values[name], torch_fn(torch.tensor(z_grid)).numpy(), atol=1e-10)
    np.testing.assert_allclose(slopes[name], closed_form, atol=1e-10, err_msg=name)

assert slopes["sigmoid"].max() <= 0.25 + 1e-12  # the ceiling that makes deep sigmoid nets slow
print({name: round(float(s.max()), 3) for name, s in slopes.items()}, "<- largest slope")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
for name in activations:
    ax1.plot(z_grid, values[name], label=name)
    ax2.plot(z_grid, slopes[name], label=name)
ax1.set(xlabel="pre-activation z", ylabel="f(z)", ylim=(-1.5, 3))
ax1.set_title("Activation functions")
ax2.set(xlabel="pre-activation z", ylabel="f'(z)")
ax2.set_title("Their derivatives (from scratch autograd)")
for ax in (ax1, ax2):
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.legend(fontsize=8)
lesson.save(fig, "activations.png")

# %% [markdown]
# What to read from the plots:
#
# - **sigmoid** is not centred on zero and its slope never exceeds 0.25; for $|z| > 5$ it is
#   below 0.007. Today it is used at the *output* for probabilities, rarely inside a network.
# - **tanh** is a rescaled sigmoid, $\tanh z = 2\sigma(2z) - 1$: zero-centred with slope 1 at
#   the origin, but it saturates just the same.
# - **ReLU** has slope exactly 1 for every positive input, so it does not shrink gradients —
#   the main reason deep networks became trainable (Glorot et al. 2011; Krizhevsky et al.
#   2012). Its cost: a unit whose input is negative for every example gets no gradient at all
#   and stays "dead".
# - **LeakyReLU** keeps a small slope $\alpha$ on the negative side so that no unit dies.
# - **GELU** (Hendrycks & Gimpel 2016) is a smooth ReLU, the default in Transformers.
#
# The identity $\tanh z = 2\sigma(2z) - 1$ is easy to check:

# %%
np.testing.assert_allclose(np.tanh(z_grid), 2 / (1 + np.exp(-2 * z_grid)) - 1, atol=1e-12)

# %% [markdown]
# ## 3. What one hidden layer can represent
#
# The **universal approximation theorem** (Cybenko 1989; Hornik 1991; for ReLU, Leshno et al.
# 1993) says that one hidden layer with a non-polynomial activation and enough units can
# approximate any continuous function on a bounded region as closely as you like. For ReLU it
# is easy to see why: each hidden unit $\max(0, w x + b)$ is a hinge that bends at $x = -b/w$,
# and a sum of hinges is any piecewise-linear curve — which can follow any continuous curve.
#
# We fit $y = \sin(2x) + 0.3x$ on $[-3, 3]$ with three networks of 32 hidden units, trained
# the same way (full-batch Adam on the mean squared error), all in `dllab.scratch`:
#
# - no activation (so, a linear model);
# - ReLU;
# - tanh.

# %%
x_train = np.linspace(-3, 3, 200)[:, None]  # (N, 1)
y_train = np.sin(2 * x_train) + 0.3 * x_train + 0.05 * rng.standard_normal(x_train.shape)
inputs, targets = st.tensor(x_train), st.tensor(y_train)


def fit(activation, steps=1500):
    """Train a 1-32-1 MLP with `activation` between the layers; return the model and losses."""
    st.manual_seed(1)
    model = snn.Sequential(snn.Linear(1, 32), activation, snn.Linear(32, 1))
    optimizer = st.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(steps):
        loss = SF.mse_loss(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model, losses


fits = {
    name: fit(act)
    for name, act in [("none", snn.Identity()), ("ReLU", snn.ReLU()), ("tanh", snn.Tanh())]
}
final = {name: losses[-1] for name, (_, losses) in fits.items()}
print({name: round(v, 4) for name, v in final.items()}, "<- final training MSE")
assert final["ReLU"] < 0.1 * final["none"] and final["tanh"] < 0.1 * final["none"]

# %%
x_plot = np.linspace(-3.5, 3.5, 400)[:, None]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
ax1.scatter(x_train, y_train, s=6, c="grey", label="data")
for name, (model, _) in fits.items():
    with st.no_grad():
        ax1.plot(x_plot, model(st.tensor(x_plot)).numpy(), label=f"activation: {name}")
ax1.set(xlabel="x", ylabel="y")
ax1.set_title("A 1-32-1 MLP fitting sin(2x) + 0.3x")
ax1.legend(fontsize=8)
for name, (_, losses) in fits.items():
    ax2.plot(losses, label=f"activation: {name}")
ax2.set(xlabel="Adam step (full batch)", ylabel="training MSE", yscale="log")
ax2.set_title("Training loss")
ax2.legend(fontsize=8)
lesson.save(fig, "universal-approximation.png")

# %% [markdown]
# Without an activation the "network" is the best straight line and nothing more. Both
# nonlinear networks follow the wave. Look at the fits outside $[-3, 3]$, where there is no
# data: the ReLU network continues in straight lines (it *is* piecewise linear), while the
# tanh network must flatten out further away, because every tanh unit saturates. An MLP
# extrapolates according to its activation, not according to the data. (The small spikes late in the loss
# curves are Adam overshooting: its step size stays near the learning rate even when the
# gradient is tiny. Lesson 01-08's decaying learning-rate schedules remove them.)
#
# We can see the hinges directly. Each ReLU unit $j$ contributes
# $W^{(2)}_{j}\max(0, W^{(1)}_{j} x + b^{(1)}_j)$ to the output; the sum of these 32
# contributions plus the output bias is the network.

# %%
relu_model = fits["ReLU"][0]
first, last = relu_model[0], relu_model[2]
with st.no_grad():
    hidden = relu_model[1](first(st.tensor(x_plot))).numpy()  # (400, 32)
contributions = hidden * last.weight.detach().numpy()  # (400, 32): one column per unit
np.testing.assert_allclose(
    contributions.sum(1) + last.bias.detach().numpy(),
    relu_model(st.tensor(x_plot)).detach().numpy().ravel(),
    atol=1e-10,
)
kinks = -first.bias.detach().numpy() / first.weight.detach().numpy().ravel()  # where w x + b = 0

fig, ax = plt.subplots(figsize=(7, 4.2))
ax.plot(x_plot, contributions, lw=0.8)
ax.plot(x_plot, contributions.sum(1) + last.bias.detach().numpy(), "k", lw=2, label="sum = network")
ax.plot(kinks, np.zeros_like(kinks), "r|", ms=12, label="kink of a unit")
ax.set(xlim=(-3.5, 3.5), ylim=(-4, 4), xlabel="x", ylabel="contribution to the output")
ax.set_title("A ReLU network is a sum of hinges")
ax.legend(fontsize=8)
lesson.save(fig, "relu-hinges.png")

# %% [markdown]
# Every coloured line is flat on one side of its kink (the unit is off) and straight on the
# other; a few steep units leave the frame. Where several kinks crowd together the network
# bends sharply — at the peaks and troughs of the wave.
#
# ## 4. Building MLPs: width, depth and the same code in two engines
#
# In code an MLP is a `Sequential` of `Linear` layers and activations. Because
# `dllab.scratch.nn` mirrors `torch.nn`, the same constructor builds both, and with the same
# weights they compute the same function:


# %%
def make_mlp(nn, sizes, activation):
    """An MLP with the given layer sizes, e.g. [64, 128, 10]: Linear, act, ..., Linear."""
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:  # no activation after the last layer
            layers.append(activation())
    return nn.Sequential(*layers)


torch_mlp = make_mlp(torch.nn, [64, 128, 64, 10], torch.nn.GELU).double()
scratch_mlp = make_mlp(snn, [64, 128, 64, 10], snn.GELU)
scratch_mlp.load_state_dict(torch_mlp.state_dict())
batch = rng.standard_normal((16, 64))
np.testing.assert_allclose(
    scratch_mlp(st.tensor(batch)).detach().numpy(),
    torch_mlp(torch.tensor(batch)).detach().numpy(),
    atol=1e-10,
)
n_params = sum(p.numel() for p in scratch_mlp.parameters())
assert (
    n_params
    == sum(p.numel() for p in torch_mlp.parameters())
    == 64 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10
)
print(scratch_mlp)
print(f"{n_params:,} parameters; scratch and torch outputs agree")

# %% [markdown]
# A layer from $n$ to $m$ units has $nm + m$ parameters. Wider layers add capacity
# quadratically; deeper networks compose features (edges, then parts, then objects) and can
# represent some functions with exponentially fewer units than a shallow one (Telgarsky
# 2016) — if you can train them, which is what lessons 01-05 to 01-08 are about.
#
# ## Summary
#
# - Without a nonlinear activation, any stack of layers collapses into one linear layer.
# - An activation's **derivative** decides how well gradients flow: sigmoid and tanh saturate
#   (sigmoid's slope is at most 1/4); ReLU passes gradients unchanged where it is active.
# - One hidden layer can approximate any continuous function; ReLU networks are piecewise
#   linear, and extrapolate as such.
#
# ## Exercises
#
# - `dllab lab start mlp_backprop` — write the forward pass of a 2-layer ReLU MLP in NumPy
#   (section 4 with `@` instead of `nn.Linear`), then its backward pass (lesson 01-03).
#   `dllab lab check mlp_backprop` grades it against PyTorch on random shapes.
#
# To try here (not graded):
#
# 1. Fit the same curve with 4 and with 256 hidden units. How does the ReLU fit change?
# 2. Initialise the ReLU network's first-layer biases to $-10$. How many units are dead
#    (never active on the data), and what happens to training?
# 3. Plot $\tanh$ and $2\sigma(2z)-1$ on top of each other, and their derivatives.
