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
# # 01-01 · The neuron and the perceptron
#
# Every network in this course is built from one small unit, the artificial **neuron**. It
# takes a vector of inputs $x \in \mathbb{R}^D$, weighs them, adds a bias and passes the
# result through an **activation function** $f$:
#
# $$z = w \cdot x + b = \sum_{i=1}^{D} w_i x_i + b, \qquad a = f(z).$$
#
# $z$ is the *pre-activation*; $a$ is what the neuron sends on. The set of inputs where
# $z = 0$ is a straight line in 2-D (a hyperplane in general): a neuron draws one linear
# boundary and says on which side a point lies.
#
# In this lesson you will
#
# 1. train Rosenblatt's **perceptron** (1958), the first learning neuron, with its mistake-driven
#    rule, and check the theorem that bounds how many mistakes it can make;
# 2. see it fail on **XOR**, the problem no single linear boundary can solve;
# 3. solve XOR with two layers of neurons built from `dllab.scratch`, our NumPy engine, and
#    check that a scratch neuron computes exactly what a PyTorch neuron computes.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

import dllab.scratch as st
import dllab.scratch.nn as snn
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("01-01-neuron-perceptron")

rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The perceptron
#
# The perceptron is a neuron whose activation is a step: it predicts
# $\hat y = \operatorname{sign}(w \cdot x + b) \in \{-1, +1\}$. Fold the bias into the weights
# by appending a constant 1 to every input, $\tilde x = (x, 1)$ and $\tilde w = (w, b)$, so
# that $\hat y = \operatorname{sign}(\tilde w \cdot \tilde x)$.
#
# **The learning rule** looks at one example at a time and changes the weights only when the
# prediction is wrong:
#
# $$\text{if } y\,(\tilde w \cdot \tilde x) \le 0: \qquad \tilde w \leftarrow \tilde w + y\,\tilde x.$$
#
# Why does this help? After the update, $y\,(\tilde w \cdot \tilde x)$ grows by
# $y^2 \lVert \tilde x \rVert^2 = \lVert \tilde x \rVert^2 > 0$: the example moves towards the
# correct side. There is no loss function and no derivative here; the gradient-based training
# of the next lessons replaces this rule, but the idea — nudge the weights towards what the
# data asks for — stays.
#
# First, a data set that a line *can* separate: two clouds of points, labelled by a known
# boundary, with a strip of width $2\gamma$ around the boundary left empty.

# %%
true_w = np.array([2.0, -1.0, -4.0])  # (w1, w2, b): the boundary that labels the data
true_w /= np.linalg.norm(true_w)  # unit length, so y * (true_w . x~) is a distance

points = rng.uniform(0, 6, size=(400, 2))  # (N, 2)
X = np.hstack([points, np.ones((len(points), 1))])  # (N, 3): x~ = (x, 1)
signed = X @ true_w  # signed distance of each point to the boundary (in the x~ space)
keep = np.abs(signed) > 0.2  # leave an empty strip: the data has a margin
X, y = X[keep], np.sign(signed[keep])  # y in {-1, +1}
print(f"{len(X)} points, {np.mean(y > 0):.0%} of them positive")

# %% [markdown]
# Now the perceptron itself: a pass over the data is an *epoch*; we stop after the first epoch
# without a mistake.


# %%
def train_perceptron(X, y, max_epochs=100):
    """Rosenblatt's rule; returns the weights and the number of mistakes in each epoch."""
    w = np.zeros(X.shape[1])
    mistakes_per_epoch = []
    for _ in range(max_epochs):
        mistakes = 0
        for x_i, y_i in zip(X, y, strict=True):
            if y_i * (w @ x_i) <= 0:  # wrong side of the boundary (or on it)
                w += y_i * x_i
                mistakes += 1
        mistakes_per_epoch.append(mistakes)
        if mistakes == 0:
            break
    return w, mistakes_per_epoch


w, mistakes = train_perceptron(X, y)
print("mistakes per epoch:", mistakes)
assert mistakes[-1] == 0, "on separable data the perceptron must end with a clean epoch"
assert np.all(np.sign(X @ w) == y)

# %% [markdown]
# ### The convergence theorem
#
# Novikoff (1962) proved that on separable data the perceptron stops. Let
# $R = \max_i \lVert \tilde x_i \rVert$ be the radius of the data and suppose some unit vector
# $u$ separates it with margin $\gamma$: $y_i\,(u \cdot \tilde x_i) \ge \gamma$ for all $i$.
# Then the total number of mistakes is at most
#
# $$k \le \left(\frac{R}{\gamma}\right)^2.$$
#
# (Each mistake adds at least $\gamma$ to $w \cdot u$ but at most $R^2$ to
# $\lVert w \rVert^2$; after $k$ mistakes $k\gamma \le w\cdot u \le \lVert w \rVert \le
# \sqrt{k}R$.) The bound does not depend on the number of points or the dimension — only on
# how wide the empty strip is compared with the data. We know a separator, `true_w`, so we can
# check the theorem:

# %%
R = np.linalg.norm(X, axis=1).max()
gamma = np.min(y * (X @ true_w))
bound = (R / gamma) ** 2
print(f"R = {R:.2f}, margin = {gamma:.3f}: at most {bound:.0f} mistakes; made {sum(mistakes)}")
assert sum(mistakes) <= bound

# %% [markdown]
# The learned boundary need not be the true one: any line in the empty strip is a solution,
# and the perceptron stops at the first it finds.

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2))
grid = np.linspace(0, 6, 2)
ax1.scatter(*X[y > 0, :2].T, s=10, c="tab:blue", label="y = +1")
ax1.scatter(*X[y < 0, :2].T, s=10, c="tab:orange", label="y = -1")
for weights, style, name in [(true_w, "k--", "true boundary"), (w, "r-", "perceptron")]:
    ax1.plot(grid, -(weights[0] * grid + weights[2]) / weights[1], style, label=name)
ax1.set(xlim=(0, 6), ylim=(0, 6), xlabel="$x_1$", ylabel="$x_2$")
ax1.set_title("Perceptron boundary on separable data")
ax1.legend(loc="lower right", fontsize=8)
ax2.bar(range(1, len(mistakes) + 1), mistakes, color="tab:red")
ax2.set(xlabel="epoch", ylabel="mistakes in the epoch")
ax2.set_title(f"Mistakes per epoch (total {sum(mistakes)}, bound {bound:.0f})")
lesson.save(fig, "perceptron.png")

# %% [markdown]
# ## 2. XOR: where one neuron is not enough
#
# XOR labels the corners of a square: $(0,0)$ and $(1,1)$ are negative, $(0,1)$ and $(1,0)$
# positive. No line puts the two diagonals on different sides. (Suppose $w \cdot x + b$ is
# positive at $(0,1)$ and $(1,0)$ and negative at $(0,0)$ and $(1,1)$. Adding the first two
# gives $w_1 + w_2 + 2b > 0$; adding the last two gives $w_1 + w_2 + 2b < 0$.) Minsky and
# Papert's 1969 book made this famous, and it stalled the field for a decade. The perceptron
# keeps cycling and never has a clean epoch:

# %%
xor_x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
xor_y = np.array([-1.0, 1.0, 1.0, -1.0])
_, xor_mistakes = train_perceptron(np.hstack([xor_x, np.ones((4, 1))]), xor_y, max_epochs=200)
print("XOR mistakes in the last 10 epochs:", xor_mistakes[-10:])
assert len(xor_mistakes) == 200 and min(xor_mistakes) > 0

# %% [markdown]
# ## 3. Two layers solve XOR
#
# The way out is to stack neurons. A hidden layer of neurons computes new features
# $h = f(W_1 x + b_1)$, and an output neuron draws its line in the space of $h$, where the
# classes *can* be separated. The activation $f$ must be nonlinear (lesson 01-02 shows why),
# and the step must go: its derivative is zero almost everywhere, so there is nothing to
# follow. We use $\tanh$ in the hidden layer and minimise the binary cross-entropy with Adam,
# a refined gradient descent (lessons 01-03 to 01-05 derive the gradients, the loss and the
# optimiser).
#
# `dllab.scratch` mirrors PyTorch's names, so the network reads like PyTorch code. Labels are
# now $\{0, 1\}$, and the last layer outputs a *logit* $z$, with $P(y{=}1) = \sigma(z)$.

# %%
st.manual_seed(0)
mlp = snn.Sequential(snn.Linear(2, 4), snn.Tanh(), snn.Linear(4, 1))
loss_fn = snn.BCEWithLogitsLoss()
optimizer = st.optim.Adam(mlp.parameters(), lr=0.1)
inputs, targets = st.tensor(xor_x), st.tensor((xor_y[:, None] + 1) / 2)  # (4, 2), (4, 1)

losses = []
for _ in range(300):
    loss = loss_fn(mlp(inputs), targets)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())

with st.no_grad():
    predictions = (mlp(inputs).numpy() > 0).astype(float)
print("MLP predictions:", predictions.ravel(), " final loss:", round(losses[-1], 4))
assert np.array_equal(predictions, targets.numpy()), "the 2-layer net must solve XOR"

# %% [markdown]
# The hidden layer bends the boundary: the network's positive region is a band that holds
# $(0,1)$ and $(1,0)$ and leaves out the other two corners.

# %%
g1, g2 = np.meshgrid(np.linspace(-0.5, 1.5, 200), np.linspace(-0.5, 1.5, 200))
with st.no_grad():
    prob = mlp(st.tensor(np.c_[g1.ravel(), g2.ravel()])).sigmoid().numpy().reshape(g1.shape)

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2))
filled = ax1.contourf(g1, g2, prob, levels=20, cmap="RdBu_r", vmin=0, vmax=1)
ax1.contour(g1, g2, prob, levels=[0.5], colors="k")
ax1.scatter(*xor_x[xor_y > 0].T, s=120, c="tab:red", edgecolors="k", label="XOR = 1")
ax1.scatter(*xor_x[xor_y < 0].T, s=120, c="tab:blue", edgecolors="k", label="XOR = 0")
fig.colorbar(filled, ax=ax1, label="P(y = 1)")
ax1.set(xlabel="$x_1$", ylabel="$x_2$")
ax1.set_title("A 2-4-1 tanh network solves XOR")
ax1.legend(loc="upper center", fontsize=8)
ax2.plot(losses)
ax2.set(xlabel="Adam step", ylabel="binary cross-entropy", yscale="log")
ax2.set_title("Training loss on the four XOR points")
lesson.save(fig, "xor-mlp.png")

# %% [markdown]
# ## 4. A scratch neuron is a PyTorch neuron
#
# `dllab.scratch` is meant to be a faithful twin of PyTorch: the same class names, parameter
# shapes and formulas. A sigmoid neuron is `Linear(D, 1)` followed by `Sigmoid()` in both.
# Copy the weights of a PyTorch neuron into a scratch one and both must give the same outputs
# — and the same gradients, which is what lets later lessons trust scratch for from-scratch
# derivations.

# %%
torch.manual_seed(0)
torch_neuron = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Sigmoid()).double()
scratch_neuron = snn.Sequential(snn.Linear(3, 1), snn.Sigmoid())
scratch_neuron.load_state_dict(torch_neuron.state_dict())  # same names: "0.weight", "0.bias"

x = rng.standard_normal((5, 3))
out_torch = torch_neuron(torch.tensor(x))
out_scratch = scratch_neuron(st.tensor(x))
out_torch.sum().backward()
out_scratch.sum().backward()

np.testing.assert_allclose(out_scratch.detach().numpy(), out_torch.detach().numpy(), atol=1e-12)
np.testing.assert_allclose(
    scratch_neuron[0].weight.grad.numpy(), torch_neuron[0].weight.grad.numpy(), atol=1e-12
)
# a sigmoid neuron is logistic regression: by hand, a = 1 / (1 + exp(-(x w^T + b)))
weight, bias = (p.detach().numpy() for p in scratch_neuron[0].parameters())
by_hand = 1 / (1 + np.exp(-(x @ weight.T + bias)))
np.testing.assert_allclose(out_scratch.detach().numpy(), by_hand, atol=1e-12)
print("scratch and torch neurons agree on outputs and weight gradients")

# %% [markdown]
# ## Summary
#
# - A neuron computes $f(w \cdot x + b)$: a weighted vote, then a nonlinearity. Its boundary
#   $w \cdot x + b = 0$ is a hyperplane.
# - The perceptron rule $\tilde w \leftarrow \tilde w + y\tilde x$ on mistakes finds a
#   separating hyperplane whenever one exists, after at most $(R/\gamma)^2$ mistakes.
# - No single neuron can compute XOR; two layers with a nonlinear, differentiable activation
#   can, and gradient descent finds the weights.
#
# ## Exercises
#
# The lab grades what you write (`dllab lab list` shows all exercises; `dllab lab hint NAME`
# gives hints one at a time):
#
# - `dllab lab start mlp_backprop` — the forward and backward pass of the two-layer network
#   you just trained, by hand in NumPy; the next lessons (01-02, 01-03) prepare you for it.
#   Check it with `dllab lab check mlp_backprop`.
#
# To try here (not graded):
#
# 1. Shrink the empty strip (`0.2` above) to `0.05`. How do the number of mistakes and the
#    bound change?
# 2. Remove the bias column from `X`. Which boundaries can the perceptron still learn?
# 3. Train the XOR network with 2 hidden neurons instead of 4, for several seeds. Does it
#    always succeed? Why might it get stuck?
