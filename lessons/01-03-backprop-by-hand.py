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
# # 01-03 · Backpropagation, derived by hand
#
# Training needs the gradient of the loss with respect to every weight. **Backpropagation**
# (Rumelhart, Hinton & Williams 1986) computes all of them in one backward sweep that costs
# about as much as two forward passes. It is nothing more than the **chain rule**, applied in
# the right order: if $L$ depends on $w$ only through $z$, then
#
# $$\frac{\partial L}{\partial w} = \frac{\partial L}{\partial z}\,\frac{\partial z}{\partial w}.$$
#
# Going from the loss backwards, each step multiplies the gradient that arrived from above by
# one *local* derivative, and reuses everything already computed. In this lesson you derive
# the gradients of a 2-layer network on paper, code them in NumPy, and then **prove** them
# right three ways: against finite differences (`dllab.scratch.gradcheck`), against
# `dllab.scratch`'s autograd, and against PyTorch's.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import make_moons

import dllab.scratch as st
import dllab.scratch.functional as SF
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("01-03-backprop-by-hand")

rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The network and its forward pass
#
# A binary classifier with one hidden layer of $H$ tanh units. For a batch of $N$ inputs
# $X$ (shape $N \times D$) and labels $y \in \{0,1\}^N$ (kept as an $N \times 1$ column):
#
# $$
# \begin{aligned}
# Z_1 &= X W_1^\top + b_1 && (N, H) \\
# A &= \tanh(Z_1) && (N, H) \\
# Z_2 &= A W_2^\top + b_2 && (N, 1)\ \text{— the logit} \\
# P &= \sigma(Z_2) && (N, 1)\ \text{— } P(y{=}1 \mid x) \\
# L &= -\tfrac{1}{N}\textstyle\sum_n \big[y_n \log P_n + (1-y_n)\log(1-P_n)\big] && \text{scalar}
# \end{aligned}
# $$
#
# $W_1$ is $(H, D)$ and $W_2$ is $(1, H)$, laid out like `nn.Linear.weight`. The forward pass
# keeps every intermediate result: the backward pass needs them.


# %%
def forward(X, y, params):
    """Loss of the 2-layer network, and the intermediate values that backward needs."""
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    Z1 = X @ W1.T + b1  # (N, H)
    A = np.tanh(Z1)  # (N, H)
    Z2 = A @ W2.T + b2  # (N, 1)
    P = 1 / (1 + np.exp(-Z2))  # (N, 1)
    loss = -np.mean(y * np.log(P) + (1 - y) * np.log(1 - P))
    return loss, (X, y, A, P)


# %% [markdown]
# ## 2. The backward pass, one local derivative at a time
#
# We write $\delta_V = \partial L / \partial V$; it always has the shape of $V$.
#
# **Loss and sigmoid together.** For one example,
# $\partial L/\partial P = -\frac1N\big(\frac{y}{P} - \frac{1-y}{1-P}\big)$ and
# $\partial P/\partial Z_2 = P(1-P)$. Their product simplifies beautifully:
#
# $$\delta_{Z_2} = \frac{1}{N}\Big(-y(1-P) + (1-y)P\Big) = \frac{P - y}{N}. \qquad (N, 1)$$
#
# The error signal is simply *prediction minus target* — the same form appears for softmax
# with cross-entropy and for a linear output with squared error (lesson 01-04).
#
# **Second linear layer**, $Z_2 = A W_2^\top + b_2$. Each entry of $W_2$ touches every
# example, so its gradient sums over the batch; the bias is added to every row, so its gradient
# is the column sum:
#
# $$\delta_{W_2} = \delta_{Z_2}^\top A \quad (1, H), \qquad \delta_{b_2} = \textstyle\sum_n \delta_{Z_2, n} \quad (1,), \qquad \delta_A = \delta_{Z_2} W_2 \quad (N, H).$$
#
# **tanh**, elementwise, with $\tanh' = 1 - \tanh^2$ — and we already have $A = \tanh Z_1$:
#
# $$\delta_{Z_1} = \delta_A \odot (1 - A^2). \qquad (N, H)$$
#
# **First linear layer**, the same rule as the second one:
#
# $$\delta_{W_1} = \delta_{Z_1}^\top X \quad (H, D), \qquad \delta_{b_1} = \textstyle\sum_n \delta_{Z_1, n} \quad (H,).$$
#
# A quick way to get matrix gradients right: write down the shapes and there is usually only
# one way to multiply the pieces into the shape you need.


# %%
def backward(cache, params):
    """The gradient of the loss with respect to every parameter, by the formulas above."""
    X, y, A, P = cache
    N = len(X)
    dZ2 = (P - y) / N  # (N, 1)
    dW2 = dZ2.T @ A  # (1, H)
    db2 = dZ2.sum(axis=0)  # (1,)
    dA = dZ2 @ params["W2"]  # (N, H)
    dZ1 = dA * (1 - A**2)  # (N, H)
    dW1 = dZ1.T @ X  # (H, D)
    db1 = dZ1.sum(axis=0)  # (H,)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def init_params(D, H, seed=0):
    r = np.random.default_rng(seed)
    return {
        "W1": r.standard_normal((H, D)) / np.sqrt(D),
        "b1": np.zeros(H),
        "W2": r.standard_normal((1, H)) / np.sqrt(H),
        "b2": np.zeros(1),
    }


N, D, H = 8, 3, 5
X = rng.standard_normal((N, D))
y = rng.integers(0, 2, size=(N, 1)).astype(float)
params = init_params(D, H)
params["b1"] = rng.standard_normal(H)  # nonzero biases, so that their gradients are tested
loss, cache = forward(X, y, params)
grads = backward(cache, params)
print(f"loss = {loss:.4f}; gradient shapes:", {k: v.shape for k, v in grads.items()})
assert all(grads[k].shape == params[k].shape for k in params)

# %% [markdown]
# ## 3. Proof 1: finite differences
#
# A derivative is a limit, so we can estimate it. Nudge one parameter entry $\theta_i$ by
# $\pm\varepsilon$ and look at the change of the loss — the **central difference**:
#
# $$\frac{\partial L}{\partial \theta_i} \approx \frac{L(\theta + \varepsilon e_i) - L(\theta - \varepsilon e_i)}{2\varepsilon}, \qquad \text{error } O(\varepsilon^2).$$
#
# It costs two forward passes *per parameter* — hopeless for training, perfect for testing.
# The one-sided difference $(L(\theta+\varepsilon e_i) - L(\theta))/\varepsilon$ has error
# $O(\varepsilon)$ only. And $\varepsilon$ cannot be arbitrarily small: in float64, $L$ is
# stored with a relative error of about $10^{-16}$, which the division by $\varepsilon$
# amplifies. The plot shows both effects for one entry of $W_1$.


# %%
def loss_at(name, index, value):
    """The loss with params[name][index] replaced by value."""
    changed = {k: v.copy() for k, v in params.items()}
    changed[name][index] = value
    return forward(X, y, changed)[0]


entry = ("W1", (2, 1))
exact = grads[entry[0]][entry[1]]
theta = params[entry[0]][entry[1]]
epsilons = np.logspace(-13, -1, 49)
central = [
    abs((loss_at(*entry, theta + e) - loss_at(*entry, theta - e)) / (2 * e) - exact)
    for e in epsilons
]
one_sided = [abs((loss_at(*entry, theta + e) - loss) / e - exact) for e in epsilons]
best = epsilons[int(np.argmin(central))]
print(f"central differences are most accurate near eps = {best:.0e}: error {min(central):.1e}")
assert min(central) < 1e-9 and min(central) < min(one_sided)

fig, ax = plt.subplots(figsize=(7, 4.5))
ax.loglog(epsilons, one_sided, "o-", ms=3, label="one-sided (L(θ+ε) - L(θ)) / ε")
ax.loglog(epsilons, central, "o-", ms=3, label="central (L(θ+ε) - L(θ-ε)) / 2ε")
ax.loglog(epsilons, 1e-16 / epsilons, "k:", label="rounding ~ 1e-16 / ε")
ax.set(xlabel="step ε", ylabel="|numerical - hand-derived gradient|")
ax.set_title("Finite-difference error for one entry of $W_1$")
ax.legend(fontsize=8)
lesson.save(fig, "finite-differences.png")

# %% [markdown]
# The V shape is the whole story: on the right, truncation error (slope 1 for one-sided,
# slope 2 for central); on the left, rounding error growing like $10^{-16}/\varepsilon$. The
# best central difference agrees with our formula to about $10^{-12}$ — our backward pass is
# right for this entry. `dllab.scratch.gradcheck` does this for every entry, with
# $\varepsilon = 10^{-6}$, and reports the worst error. It checks the gradients that
# `dllab.scratch`'s autograd computes, so we first write the same network with scratch
# tensors, then gradcheck it with respect to all four parameters and the input at once:


# %%
def scratch_loss(X, W1, b1, W2, b2, y):
    """The same network and loss, written with dllab.scratch tensors."""
    A = (X @ W1.T + b1).tanh()  # (N, H)
    Z2 = A @ W2.T + b2  # (N, 1)
    return SF.binary_cross_entropy_with_logits(Z2, y)


leaves = [st.tensor(params[k], requires_grad=True) for k in ("W1", "b1", "W2", "b2")]
x_leaf = st.tensor(X, requires_grad=True)
report = st.gradcheck(lambda x, *ws: scratch_loss(x, *ws, st.tensor(y)), [x_leaf, *leaves])
print(report)
assert report.ok

# %% [markdown]
# ## 4. Proof 2 and 3: our formulas equal both autograds
#
# gradcheck has shown that scratch's autograd is correct for this network; now compare our
# hand-derived gradients with it, and with PyTorch's `loss.backward()` on the same numbers.
# All three must agree to about $10^{-12}$ (float64): not approximately, but exactly, up to
# rounding.

# %%
scratch_value = scratch_loss(st.tensor(X), *leaves, st.tensor(y))
scratch_value.backward()

torch_leaves = [torch.tensor(params[k], requires_grad=True) for k in ("W1", "b1", "W2", "b2")]
W1_t, b1_t, W2_t, b2_t = torch_leaves
logits = torch.tanh(torch.tensor(X) @ W1_t.T + b1_t) @ W2_t.T + b2_t
torch_value = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor(y))
torch_value.backward()

assert abs(scratch_value.item() - loss) < 1e-12 and abs(torch_value.item() - loss) < 1e-12
for name, s_leaf, t_leaf in zip(("W1", "b1", "W2", "b2"), leaves, torch_leaves, strict=True):
    np.testing.assert_allclose(grads[name], s_leaf.grad.numpy(), atol=1e-12, err_msg=name)
    np.testing.assert_allclose(grads[name], t_leaf.grad.numpy(), atol=1e-12, err_msg=name)
    print(f"d loss / d {name}: hand == scratch autograd == torch autograd")

# %% [markdown]
# ### Checking each local derivative
#
# Autograd does exactly what we did by hand: every operation stores its inputs in the forward
# pass and knows its own local derivative. gradcheck can test each of those pieces on its own,
# which is how you would debug a wrong backward pass: find the first piece that fails.

# %%
z = st.tensor(rng.standard_normal((4, 3)), requires_grad=True)
w = st.tensor(rng.standard_normal((2, 3)), requires_grad=True)
target = st.tensor(rng.integers(0, 2, size=(4, 2)).astype(float))
pieces = {
    "tanh        d/dz = 1 - tanh(z)^2": (lambda z: z.tanh(), [z]),
    "linear      d/dW = dZ^T X": (lambda z, w: z @ w.T, [z, w]),
    "sigmoid+BCE d/dz = (p - y) / N": (
        lambda z, w: SF.binary_cross_entropy_with_logits(z @ w.T, target),
        [z, w],
    ),
}
for name, (fn, inputs) in pieces.items():
    print(f"{name:34s}", st.gradcheck(fn, inputs).ok)

# %% [markdown]
# ## 5. The gradients train the network
#
# With correct gradients, plain gradient descent, $\theta \leftarrow \theta - \eta\,\delta_\theta$,
# learns. We train our NumPy network — no autograd anywhere — on scikit-learn's "two moons",
# a data set that no straight line separates.

# %%
moons_x, moons_y = make_moons(n_samples=300, noise=0.15, random_state=0)
moons_y = moons_y[:, None].astype(float)  # (300, 1)
net = init_params(D=2, H=16, seed=1)
history = []
for _ in range(2000):
    loss, cache = forward(moons_x, moons_y, net)
    for name, grad in backward(cache, net).items():
        net[name] -= 1.0 * grad  # learning rate 1.0
    history.append(loss)

_, (_, _, _, P) = forward(moons_x, moons_y, net)
accuracy = np.mean((P > 0.5) == moons_y)
print(f"final loss {history[-1]:.3f}, training accuracy {accuracy:.1%}")
assert accuracy > 0.95

# %%
g1, g2 = np.meshgrid(np.linspace(-1.6, 2.6, 200), np.linspace(-1.2, 1.7, 200))
grid_points = np.c_[g1.ravel(), g2.ravel()]
_, (_, _, _, grid_p) = forward(grid_points, np.zeros((len(grid_points), 1)), net)

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
filled = ax1.contourf(
    g1, g2, grid_p.reshape(g1.shape), levels=20, cmap="RdBu_r", vmin=0, vmax=1, alpha=0.6
)
ax1.contour(g1, g2, grid_p.reshape(g1.shape), levels=[0.5], colors="k")
for label, color in [(1, "tab:red"), (0, "tab:blue")]:
    chosen = moons_y.ravel() == label
    ax1.scatter(*moons_x[chosen].T, c=color, s=12, edgecolors="k", lw=0.4, label=f"y = {label}")
ax1.legend(loc="lower left", fontsize=8)
fig.colorbar(filled, ax=ax1, label="P(y = 1)")
ax1.set(xlabel="$x_1$", ylabel="$x_2$")
ax1.set_title("Trained with hand-derived gradients only")
ax2.plot(history)
ax2.set(xlabel="gradient-descent step", ylabel="binary cross-entropy", yscale="log")
ax2.set_title("Training loss (NumPy forward and backward)")
lesson.save(fig, "moons.png")

# %% [markdown]
# ## Summary
#
# - Backpropagation = chain rule from the loss backwards; each step multiplies the incoming
#   gradient by one local derivative and reuses the forward pass's intermediate values.
# - For $Z = X W^\top + b$: $\delta_W = \delta_Z^\top X$, $\delta_b = \sum_n \delta_Z$,
#   $\delta_X = \delta_Z W$. For an elementwise $f$: $\delta_Z = \delta_A \odot f'(Z)$.
# - Sigmoid + binary cross-entropy gives $\delta_{Z_2} = (P - y)/N$.
# - Test gradients with central differences in float64 ($\varepsilon \approx 10^{-6}$):
#   `dllab.scratch.gradcheck` reports the worst error per input.
#
# ## Exercises
#
# - `dllab lab start mlp_backprop` — the same derivation for a ReLU hidden layer and a
#   squared-error loss (what changes: $\delta$ at the output, and the ReLU's local
#   derivative). `dllab lab check mlp_backprop` grades it against PyTorch on random shapes.
# - `dllab lab start softmax_xent` — the multi-class version of $\delta_{Z} = (P - y)/N$,
#   computed without overflow.
#
# To try here (not graded):
#
# 1. Flip the sign of `db1` in `backward`. Which assertion catches it? Why does the gradcheck
#    in section 3 still pass?
# 2. Repeat the finite-difference plot in float32 (`X.astype(np.float32)` and the params).
#    Where is the best $\varepsilon$ now, and why does `gradcheck` insist on float64?
