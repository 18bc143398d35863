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
# # 02-02 · Autograd and `requires_grad`
#
# In lesson 01-03 we derived gradients by hand. PyTorch's **autograd** does it for any
# program: while the forward pass runs, every operation on a tensor with
# `requires_grad=True` records itself in a **graph** (each result's `grad_fn` points to the
# operation that made it and, through it, to its inputs). `loss.backward()` walks that graph
# from the loss back to the **leaves** — the tensors you created, usually the parameters —
# and adds $\partial\,\text{loss}/\partial\,\text{leaf}$ into each leaf's `.grad`.
#
# This lesson proves the rules that trip people up: gradients **accumulate**, the graph is
# **freed** after `backward`, `no_grad` and `detach` cut it, `backward` of a non-scalar is a
# **vector-Jacobian product**, and in-place changes to saved tensors are caught. It ends by
# fitting a linear model to a real data set with autograd, and checking its gradient
# against the formula.

# %%
import matplotlib.pyplot as plt
import torch
from sklearn.datasets import load_diabetes

from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("02-02-autograd")
torch.manual_seed(0)

# %% [markdown]
# ## 1. Leaves, `grad_fn` and `backward`
#
# Take $f(x) = x^2 \sin x$, so $f'(x) = 2x\sin x + x^2\cos x$. Marking `x` with
# `requires_grad=True` makes it a leaf that autograd tracks; `y` is not a leaf, it has a
# `grad_fn`. After `y.backward()`, `x.grad` holds $f'(x)$.

# %%
x = torch.tensor(1.5, requires_grad=True)
y = x**2 * torch.sin(x)
print("y.grad_fn:", y.grad_fn, "-> inputs:", [f[0] for f in y.grad_fn.next_functions])
assert x.is_leaf and not y.is_leaf and y.grad_fn is not None and x.grad is None

y.backward()
exact = 2 * 1.5 * torch.sin(torch.tensor(1.5)) + 1.5**2 * torch.cos(torch.tensor(1.5))
assert torch.allclose(x.grad, exact)
print(f"autograd f'(1.5) = {x.grad:.6f}, formula = {exact:.6f}")

# %% [markdown]
# The same works elementwise over a whole grid of points: `y.sum().backward()` gives each
# $x_i$ its own derivative, because $\partial \sum_j y_j / \partial x_i = f'(x_i)$.

# %%
grid = torch.linspace(-6, 6, 400, requires_grad=True)
values = grid**2 * torch.sin(grid)
values.sum().backward()
formula = 2 * grid * torch.sin(grid) + grid**2 * torch.cos(grid)
assert torch.allclose(grid.grad, formula.detach(), atol=1e-4)

fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(grid.detach(), values.detach(), label="f(x) = x² sin x")
ax.plot(grid.detach(), grid.grad, label="autograd: x.grad")
ax.plot(grid.detach()[::20], formula.detach()[::20], "k.", label="formula 2x sin x + x² cos x")
ax.axhline(0, color="grey", lw=0.5)
ax.set(xlabel="x", ylabel="value")
ax.set_title("One backward pass gives the derivative at all 400 points")
ax.legend(fontsize=8)
lesson.save(fig, "derivative.png")

# %% [markdown]
# ## 2. Gradients accumulate — hence `zero_grad()`
#
# `backward` **adds** into `.grad`, it does not overwrite. That is deliberate (a loss made of
# several parts can call `backward` on each, and gradient accumulation over micro-batches
# relies on it), and it is why every training step starts with `optimizer.zero_grad()`.
# Forget it, and each step uses the sum of all gradients so far.

# %%
w = torch.tensor([1.0, -2.0], requires_grad=True)
for step in range(3):
    (w**2).sum().backward()  # d/dw = 2w each time
    print(f"after backward #{step + 1}: w.grad = {w.grad.tolist()}")
assert torch.equal(w.grad, 3 * 2 * w.detach()), "three backward calls: three times 2w"
w.grad = None  # what optimizer.zero_grad() does (set_to_none=True is its default)
(w**2).sum().backward()
assert torch.equal(w.grad, 2 * w.detach())

# %% [markdown]
# ## 3. The graph is freed after `backward`
#
# To save memory, `backward` frees the tensors the graph saved for it (here $x$, needed for
# the derivative of `sin`). A second `backward` through the same graph fails unless the first
# one passed `retain_graph=True`.

# %%
x = torch.tensor(0.5, requires_grad=True)
y = torch.sin(x) * x
y.backward(retain_graph=True)
y.backward()  # works: the graph was kept
try:
    y.backward()
    raise AssertionError("a third backward through a freed graph should fail")
except RuntimeError as err:
    print("third backward ->", str(err).split(".")[0])
assert torch.allclose(x.grad, 2 * (torch.cos(x) * x + torch.sin(x)).detach())

# %% [markdown]
# ## 4. Cutting the graph: `no_grad`, `detach`, `requires_grad_(False)`
#
# - Inside `with torch.no_grad():` nothing is recorded: evaluation and the optimiser's own
#   update `w -= lr * w.grad` run there (the update must not become part of the graph).
# - `t.detach()` returns the same numbers, sharing memory, with no history: a constant as far
#   as autograd is concerned. Use it for targets made from the model's own output (as in
#   reinforcement learning) and to log values.
# - `p.requires_grad_(False)` **freezes** a parameter: no gradient is computed for it.

# %%
w = torch.randn(3, requires_grad=True)
with torch.no_grad():
    evaluated = (w * 2).sum()
assert not evaluated.requires_grad and evaluated.grad_fn is None

d = w.detach()
assert not d.requires_grad and d.data_ptr() == w.data_ptr()

frozen = torch.nn.Linear(3, 3)
head = torch.nn.Linear(3, 1)
frozen.requires_grad_(False)
head(frozen(torch.randn(4, 3))).sum().backward()
assert frozen.weight.grad is None and head.weight.grad is not None
print("frozen layer: no .grad; trainable head: has .grad")

# %% [markdown]
# `detach` makes a term a constant, which changes the gradient. For $y = x \cdot x$ the
# gradient is $2x$; for $y = x \cdot \text{detach}(x)$ it is $x$ — only one factor is seen as
# depending on $x$.

# %%
x = torch.tensor(3.0, requires_grad=True)
(x * x).backward()
assert x.grad == 6.0
x.grad = None
(x * x.detach()).backward()
assert x.grad == 3.0

# %% [markdown]
# ## 5. `backward` of a vector is a vector-Jacobian product
#
# For $y = f(x)$ with $x \in \mathbb{R}^n$, $y \in \mathbb{R}^m$, autograd never builds the
# $m \times n$ Jacobian $J$. Given a vector $v$ of the shape of $y$, `y.backward(v)` computes
# $v^\top J$ — the gradient of the scalar $v \cdot y$. A scalar loss is the case $v = 1$,
# which is why `backward()` needs no argument only for scalars. We compare with the full
# Jacobian from `torch.autograd.functional.jacobian`.


# %%
def f(x):
    return torch.stack([x[0] * x[1], x[1] ** 3, torch.exp(x[2]) + x[0]])


x = torch.tensor([1.0, 2.0, 0.5], requires_grad=True)
v = torch.tensor([1.0, -1.0, 2.0])
y = f(x)
try:
    y.backward()
    raise AssertionError("backward of a non-scalar needs a gradient argument")
except RuntimeError as err:
    print("y.backward() ->", err)
y.backward(v)
J = torch.autograd.functional.jacobian(f, x.detach())  # (3, 3)
assert torch.allclose(x.grad, v @ J)
print("y.backward(v) == v @ J:", x.grad.tolist())

# %% [markdown]
# ## 6. In-place operations and the version counter
#
# Some operations save their *output* for backward: $\sigma'(z) = \sigma(z)(1 - \sigma(z))$
# needs $\sigma(z)$. If you overwrite that output in place, the gradient would silently be
# wrong. Autograd keeps a version counter on every tensor and refuses instead.

# %%
z = torch.randn(4, requires_grad=True)
s = torch.sigmoid(z)
s.mul_(2)  # in place: s's version goes up
try:
    s.sum().backward()
    raise AssertionError("backward through an overwritten saved tensor should fail")
except RuntimeError as err:
    print("in-place ->", str(err).split(";")[0][:90])
s = torch.sigmoid(z) * 2  # out of place: a new tensor, the saved one is intact
s.sum().backward()
assert torch.allclose(z.grad, 2 * torch.sigmoid(z) * (1 - torch.sigmoid(z)).detach())

# %% [markdown]
# ## 7. Your own operation: `torch.autograd.Function`
#
# When an operation has no autograd formula (or you want a cheaper or more stable one), write
# `forward` and `backward` yourself. `ctx.save_for_backward` keeps what `backward` needs.
# `torch.autograd.gradcheck` compares your `backward` with central finite differences in
# float64, as `dllab.scratch.gradcheck` did in lesson 01-03.


# %%
class Softplus(torch.autograd.Function):
    """softplus(x) = log(1 + e^x), computed stably; d/dx = sigmoid(x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.clamp(x, min=0) + torch.log1p(torch.exp(-x.abs()))

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return grad_out * torch.sigmoid(x)  # chain rule: upstream gradient x local derivative


xs = torch.randn(10, dtype=torch.float64, requires_grad=True)
assert torch.autograd.gradcheck(Softplus.apply, (xs,))
big = torch.tensor([1000.0])
assert torch.isinf(torch.log(1 + torch.exp(big))) and Softplus.apply(big) == 1000.0
print("custom Softplus: gradcheck passes; no overflow at x = 1000")

# %% [markdown]
# ## 8. Autograd fits a model to real data
#
# scikit-learn ships the **diabetes** data set: 442 patients, 10 measurements (age, BMI,
# blood pressure, six blood serum values…), and a measure of disease progression a year
# later. We standardise everything and fit $\hat y = Xw + b$ by gradient descent on the mean
# squared error, with autograd computing the gradient. For this loss the gradient is known
# in closed form, $\nabla_w = \tfrac{2}{N} X^\top (Xw + b - y)$, so we can check autograd
# along the way, and the end point must be the least-squares solution of `torch.linalg.lstsq`.
# The Hessian is $H = \tfrac{2}{N}X^\top X$; as in lesson 01-05 the learning rate must stay
# below $2/\lambda_{\max}(H)$.

# %%
data = load_diabetes()
X = torch.tensor(data.data, dtype=torch.float32)  # (442, 10)
X = (X - X.mean(0)) / X.std(0)
target = torch.tensor(data.target, dtype=torch.float32)
target = (target - target.mean()) / target.std()
N = len(X)
hessian_max = torch.linalg.eigvalsh(2 / N * X.T @ X).max().item()

w = torch.zeros(10, requires_grad=True)
b = torch.zeros(1, requires_grad=True)
lr, losses = 1.9 / hessian_max, []
for step in range(5000):
    residual = X @ w + b - target  # (N,)
    loss = (residual**2).mean()
    w.grad, b.grad = None, None
    loss.backward()
    if step in (0, 10, 1000):  # check autograd against the closed form along the way
        closed = 2 / N * X.T @ residual.detach()
        assert torch.allclose(w.grad, closed, atol=1e-5), step
    with torch.no_grad():  # the update itself is not part of the model
        w -= lr * w.grad
        b -= lr * b.grad
    losses.append(loss.item())

design = torch.cat([X, torch.ones(N, 1)], dim=1).double()
exact = torch.linalg.lstsq(design, target.double()[:, None]).solution.squeeze(1)
exact_loss = ((design @ exact - target.double()) ** 2).mean().item()
print(f"gradient descent MSE {losses[-1]:.5f}, least squares MSE {exact_loss:.5f}")
assert abs(losses[-1] - exact_loss) < 1e-4
assert torch.allclose(w.detach().double(), exact[:10], atol=2e-2)
r2 = 1 - losses[-1] / target.var(unbiased=False).item()
print(f"R² = {r2:.3f} (the fraction of the variance the linear model explains)")
assert 0.45 < r2 < 0.55

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
ax1.plot(losses, label="gradient descent (autograd)")
ax1.axhline(exact_loss, color="k", ls="--", label="least squares (lstsq)")
ax1.set(xlabel="step", ylabel="mean squared error (standardised)", xscale="log")
ax1.set_title("Diabetes: autograd's gradient descent reaches least squares")
ax1.legend(fontsize=8)
ax2.bar(data.feature_names, w.detach(), color="C0", label="gradient descent")
ax2.plot(data.feature_names, exact[:10], "k_", ms=20, mew=2, label="least squares")
ax2.set(xlabel="feature", ylabel="weight")
ax2.set_title("Learned weights: the same solution")
ax2.legend(fontsize=8)
lesson.save(fig, "diabetes-fit.png")

# %% [markdown]
# ## Summary
#
# - `requires_grad=True` makes a leaf; each result records its `grad_fn`; `backward()` adds
#   $\partial\,\text{loss}/\partial\,\text{leaf}$ into every leaf's `.grad`.
# - Gradients accumulate: zero them each step. The graph is freed after `backward` unless
#   `retain_graph=True`.
# - `no_grad` (evaluation, optimiser updates), `detach` (constants), `requires_grad_(False)`
#   (freezing) keep things out of the graph.
# - `y.backward(v)` is the vector-Jacobian product $v^\top J$; a scalar loss is $v = 1$.
# - In-place changes to saved tensors are detected; custom operations subclass
#   `torch.autograd.Function` and are verified with `gradcheck`.
#
# ## Exercises
#
# - `dllab lab start mlp_backprop` — write the backward pass that autograd computes here, by
#   hand, and have it graded against PyTorch's.
# - `dllab lab start gradient_norms` — read `.grad` layer by layer to see gradients vanish.
#
# To try here (not graded):
#
# 1. Remove `w.grad, b.grad = None, None` from the diabetes loop. What happens to the loss,
#    and why does it happen quickly?
# 2. Write `Softplus.backward` with `1 / (1 + torch.exp(-x))` written out. Does `gradcheck`
#    still pass? What happens for x = -1000?
