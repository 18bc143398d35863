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
# # 01-04 · Loss functions
#
# The loss turns "how wrong is the network?" into one number whose gradient training follows.
# Choosing it is choosing what "wrong" means: how much a large error costs compared with a
# small one, and — through its gradient — how hard the network is pushed in each case. This
# lesson covers the losses of almost every supervised model:
#
# - regression: **mean squared error**, **mean absolute error** and **Huber**;
# - classification: **binary cross-entropy** and **softmax cross-entropy**, with label
#   smoothing;
#
# and the two practical points that trip people up: why classification does not use squared
# error, and how to compute cross-entropy without overflow. Lesson 01-10 shows where these
# losses come from (maximum likelihood).

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

import dllab.scratch as st
import dllab.scratch.functional as SF
import dllab.scratch.nn as snn
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("01-04-loss-functions")

rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Regression: squared, absolute and Huber
#
# With residual $r = \hat y - y$, averaged over the batch:
#
# | loss | per example | gradient $\partial/\partial \hat y$ |
# |---|---|---|
# | MSE | $r^2$ | $2r$ |
# | MAE (L1) | $\lvert r\rvert$ | $\operatorname{sign}(r)$ |
# | Huber ($\delta$) | $\tfrac12 r^2$ if $\lvert r\rvert \le \delta$, else $\delta(\lvert r\rvert - \tfrac12\delta)$ | $\operatorname{clip}(r, -\delta, \delta)$ |
#
# MSE's gradient grows with the error, so one outlier with a huge residual can dominate a
# whole batch. MAE pushes every example equally hard, however wrong. Huber (1964) is MSE near
# zero and MAE far away: smooth where it matters, robust to outliers.
#
# `dllab.scratch` has `mse_loss`; L1 and Huber are two lines of scratch tensor operations.
# We check all three, values and gradients, against PyTorch.


# %%
def l1_loss(pred, target):
    return (pred - target).abs().mean()


def huber_loss(pred, target, delta=1.0):
    r = (pred - target).abs()
    return st.where(r <= delta, 0.5 * r * r, delta * (r - 0.5 * delta)).mean()


pred_np, target_np = rng.standard_normal(50) * 3, rng.standard_normal(50)
scratch_losses = {"MSE": SF.mse_loss, "MAE (L1)": l1_loss, "Huber (δ=1)": huber_loss}
torch_losses = {"MSE": F.mse_loss, "MAE (L1)": F.l1_loss, "Huber (δ=1)": F.huber_loss}
for name in scratch_losses:
    p_s, p_t = st.tensor(pred_np, requires_grad=True), torch.tensor(pred_np, requires_grad=True)
    value_s = scratch_losses[name](p_s, st.tensor(target_np))
    value_t = torch_losses[name](p_t, torch.tensor(target_np))
    value_s.backward()
    value_t.backward()
    assert abs(value_s.item() - value_t.item()) < 1e-12, name
    np.testing.assert_allclose(p_s.grad.numpy(), p_t.grad.numpy(), atol=1e-12, err_msg=name)
print("MSE, L1 and Huber in scratch == torch (values and gradients)")

# %%
residual = np.linspace(-3, 3, 601)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
for name, fn in scratch_losses.items():
    r = st.tensor(residual, requires_grad=True)
    per_example = fn(r, st.zeros(len(residual))) * len(residual)  # undo the mean
    per_example.backward()
    curve = [fn(st.tensor([v]), st.zeros(1)).item() for v in residual]
    ax1.plot(residual, curve, label=name)
    ax2.plot(residual, r.grad.numpy(), label=name)
ax1.set(xlabel="residual r = prediction - target", ylabel="loss of one example")
ax1.set_title("Regression losses")
ax2.set(xlabel="residual r = prediction - target", ylabel="d loss / d prediction")
ax2.set_title("Their gradients: how hard each error pushes")
for ax in (ax1, ax2):
    ax.legend(fontsize=8)
    ax.axhline(0, color="grey", lw=0.5)
lesson.save(fig, "regression-losses.png")

# %% [markdown]
# ### Mean versus median
#
# What a loss "wants" shows most clearly when the model is a single constant $c$. Setting
# the derivative to zero: $\sum_n 2(c - y_n) = 0$ gives the **mean** for MSE, and
# $\sum_n \operatorname{sign}(c - y_n) = 0$ — as many points above as below — gives the
# **median** for MAE. One outlier drags the mean; the median does not move.

# %%
y_data = np.r_[rng.normal(0, 1, 40), 30.0]  # 40 ordinary values and one outlier
candidates = np.linspace(-2, 3, 2001)  # steps of 0.0025
best = {
    name: candidates[
        np.argmin([fn(st.full((len(y_data),), c), st.tensor(y_data)).item() for c in candidates])
    ]
    for name, fn in scratch_losses.items()
}
print(
    {k: round(float(v), 3) for k, v in best.items()},
    "| mean",
    round(y_data.mean(), 3),
    "median",
    round(float(np.median(y_data)), 3),
)
assert abs(best["MSE"] - y_data.mean()) < 2e-3
assert abs(best["MAE (L1)"] - np.median(y_data)) < 2e-3

# %% [markdown]
# The same happens when fitting a line to data with a few gross outliers: we fit
# $\hat y = a x + b$ with each loss, by gradient descent in `dllab.scratch`.

# %%
x_line = np.linspace(0, 10, 60)
y_line = 2 * x_line + 1 + rng.normal(0, 1, 60)
y_line[[5, 12, 50]] += [-40, -35, -45]  # three corrupted measurements


def fit_line(loss_fn, steps=3000):
    ab = st.tensor([0.0, 0.0], requires_grad=True)
    optimizer = st.optim.Adam([ab], lr=0.05)
    inputs, targets = st.tensor(x_line), st.tensor(y_line)
    for _ in range(steps):
        loss = loss_fn(ab[0] * inputs + ab[1], targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return ab.detach().numpy()


lines = {name: fit_line(fn) for name, fn in scratch_losses.items()}
print(
    {name: np.round(ab, 2).tolist() for name, ab in lines.items()},
    "<- (slope, intercept); true (2, 1)",
)
assert abs(lines["Huber (δ=1)"][0] - 2) < abs(lines["MSE"][0] - 2)

fig, ax = plt.subplots(figsize=(7, 4.5))
ax.scatter(x_line, y_line, s=12, c="grey", label="data (3 outliers)")
for name, (a, b) in lines.items():
    sign = "+" if b >= 0 else "-"
    ax.plot(x_line, a * x_line + b, label=f"{name}: y = {a:.2f}x {sign} {abs(b):.2f}")
ax.plot(x_line, 2 * x_line + 1, "k:", label="true: y = 2x + 1")
ax.set(xlabel="x", ylabel="y")
ax.set_title("Line fits with outliers: MSE is dragged, L1 and Huber are not")
ax.legend(fontsize=8)
lesson.save(fig, "robust-fit.png")

# %% [markdown]
# ## 2. Classification: cross-entropy
#
# A classifier outputs one **logit** $z_k$ per class; softmax turns them into probabilities,
#
# $$p_k = \frac{e^{z_k}}{\sum_j e^{z_j}},$$
#
# and **cross-entropy** charges $-\log p_t$, the surprise at the true class $t$:
# nothing when the network is sure and right, without bound when it is sure and wrong. For two
# classes with one logit, $p = \sigma(z)$, this is the binary cross-entropy
# $-[y\log p + (1-y)\log(1-p)]$. The gradient with respect to the logits is the cleanest in
# deep learning:
#
# $$\frac{\partial}{\partial z_k}\big(-\log p_t\big) = p_k - [k = t],$$
#
# *probabilities minus one-hot target* — the $(P - y)$ of lesson 01-03, for $C$ classes.
# We check it with scratch's autograd and compare the loss with PyTorch:

# %%
N, C = 6, 4
logits_np, labels_np = rng.standard_normal((N, C)) * 2, rng.integers(0, C, N)
logits = st.tensor(logits_np, requires_grad=True)
loss = snn.CrossEntropyLoss()(logits, st.tensor(labels_np))
loss.backward()

probs = np.exp(logits_np) / np.exp(logits_np).sum(1, keepdims=True)
one_hot = np.eye(C)[labels_np]
np.testing.assert_allclose(logits.grad.numpy(), (probs - one_hot) / N, atol=1e-12)
assert (
    abs(loss.item() - F.cross_entropy(torch.tensor(logits_np), torch.tensor(labels_np)).item())
    < 1e-12
)
assert abs(loss.item() - np.mean(-np.log(probs[np.arange(N), labels_np]))) < 1e-12
print(f"cross-entropy {loss.item():.4f}; gradient == (softmax - one_hot) / N")

# %% [markdown]
# ### Why not squared error on probabilities?
#
# Take one example with label $y = 1$ and a sigmoid output $p = \sigma(z)$. The gradients
# with respect to the logit are
#
# $$\text{BCE: } \frac{\partial}{\partial z} = p - 1, \qquad \text{MSE on } p: \frac{\partial}{\partial z} = 2(p - 1)\,p(1-p).$$
#
# The extra factor $p(1-p)$ is the sigmoid's slope. When the network is confidently *wrong*
# ($z \ll 0$, $p \approx 0$) it is nearly zero: squared error hardly pushes exactly when the
# mistake is worst, and training stalls. Cross-entropy's $-\log$ cancels the sigmoid's
# flattening, and the push stays near its maximum of 1.

# %%
z_grid = np.linspace(-10, 10, 400)
grads = {}
for name in ("BCE", "MSE on p"):
    z = st.tensor(z_grid, requires_grad=True)
    ones = st.ones(len(z_grid))
    if name == "BCE":
        per_example = SF.binary_cross_entropy_with_logits(z, ones, reduction="sum")
    else:
        per_example = ((z.sigmoid() - ones) ** 2).sum()
    per_example.backward()
    grads[name] = z.grad.numpy()

sigma = 1 / (1 + np.exp(-z_grid))
np.testing.assert_allclose(grads["BCE"], sigma - 1, atol=1e-12)
np.testing.assert_allclose(grads["MSE on p"], 2 * (sigma - 1) * sigma * (1 - sigma), atol=1e-12)
assert abs(grads["BCE"][0]) > 0.99 and abs(grads["MSE on p"][0]) < 1e-3  # at z = -10: very wrong
p_grid = np.linspace(1e-3, 1, 500)

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
ax1.plot(p_grid, -np.log(p_grid), label="cross-entropy  -log p")
ax1.plot(p_grid, (1 - p_grid) ** 2, label="squared error  (1 - p)²")
ax1.set(xlabel="predicted probability p of the true class", ylabel="loss", ylim=(0, 5))
ax1.set_title("Loss of one example whose label is 1")
ax2.plot(z_grid, np.abs(grads["BCE"]), label="BCE")
ax2.plot(z_grid, np.abs(grads["MSE on p"]), label="MSE on p = σ(z)")
ax2.set(xlabel="logit z (label 1: z < 0 is wrong)", ylabel="|d loss / d z|")
ax2.set_title("Gradient at the logit: MSE vanishes when very wrong")
for ax in (ax1, ax2):
    ax.legend(fontsize=8)
lesson.save(fig, "classification-losses.png")

# %% [markdown]
# ## 3. Computing cross-entropy without overflow
#
# $e^{z}$ overflows float64 for $z > 709$, and $\log$ of a probability that rounded to 0 is
# $-\infty$. The fix is the **log-sum-exp trick**: for any constant $m$,
#
# $$\log\sum_j e^{z_j} = m + \log\sum_j e^{z_j - m},$$
#
# and with $m = \max_j z_j$ every exponent is $\le 0$. So $\log p_t = z_t - \operatorname{logsumexp}(z)$
# is computed directly, never through $p_t$. This is why `CrossEntropyLoss` takes **logits**
# (not probabilities) and `BCEWithLogitsLoss` exists.

# %%
big = np.array([[1000.0, 0.0, -1000.0]])
with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
    naive = -np.log(np.exp(big[0, 0]) / np.exp(big).sum())
stable = SF.cross_entropy(st.tensor(big), st.tensor([0])).item()
print(f"naive: {naive}, stable: {stable}")
assert np.isnan(naive) and stable == 0.0

with np.errstate(over="ignore", divide="ignore"):
    naive_bce = -np.log(1 / (1 + np.exp(800.0)))  # label 1, logit -800
stable_bce = SF.binary_cross_entropy_with_logits(st.tensor([-800.0]), st.tensor([1.0])).item()
print(f"BCE at logit -800: naive {naive_bce}, with logits {stable_bce}")
assert np.isinf(naive_bce) and stable_bce == 800.0

# %% [markdown]
# A common bug is the opposite mistake: applying softmax yourself and then passing the
# probabilities to `CrossEntropyLoss`, which applies log-softmax again. The loss still
# decreases — but it is a different, badly scaled loss. Its inputs now lie in $[0, 1]$, so
# it can never fall below $\log(C - 1 + e) - 1$ (reached only when $p_t = 1$ exactly) nor
# rise above $\log(C - 1 + e)$: it can no longer tell a confident mistake from a mild one.

# %%
double_softmax = SF.cross_entropy(st.tensor(logits_np).softmax(1), st.tensor(labels_np)).item()
print(f"correct {loss.item():.3f}, softmax applied twice {double_softmax:.3f}")
assert np.log(C - 1 + np.e) - 1 < double_softmax < np.log(C - 1 + np.e)

# %% [markdown]
# ## 4. Label smoothing
#
# Cross-entropy is minimised only by $p_t \to 1$, i.e. infinitely large logit gaps, which
# encourages over-confident networks. **Label smoothing** (Szegedy et al. 2016) trains on a
# softened target: $1 - \varepsilon + \varepsilon/C$ for the true class and $\varepsilon/C$
# for each other one,
#
# $$L_\varepsilon = (1-\varepsilon)\,(-\log p_t) + \varepsilon\,\frac{1}{C}\sum_k (-\log p_k).$$
#
# Now the best logit gap $g = z_t - z_{\text{other}}$ is finite:
# $g^\ast = \log\frac{1-\varepsilon+\varepsilon/C}{\varepsilon/C}$.

# %%
eps = 0.1
smoothed = snn.CrossEntropyLoss(label_smoothing=eps)(
    st.tensor(logits_np), st.tensor(labels_np)
).item()
log_p = np.log(probs)
by_formula = np.mean((1 - eps) * -log_p[np.arange(N), labels_np] + eps * -log_p.mean(1))
torch_smoothed = F.cross_entropy(
    torch.tensor(logits_np), torch.tensor(labels_np), label_smoothing=eps
).item()
assert abs(smoothed - by_formula) < 1e-12 and abs(smoothed - torch_smoothed) < 1e-12

gaps = np.linspace(0, 12, 1201)
gap_logits = np.zeros((len(gaps), C))
gap_logits[:, 0] = gaps  # class 0 is the true one; the others stay at 0
targets = st.zeros(len(gaps), dtype=np.int64)
curves = {
    e: snn.CrossEntropyLoss(reduction="none", label_smoothing=e)(
        st.tensor(gap_logits), targets
    ).numpy()
    for e in (0.0, 0.1, 0.3)
}
for e in (0.1, 0.3):
    predicted = np.log((1 - e + e / C) / (e / C))
    found = gaps[np.argmin(curves[e])]
    assert abs(found - predicted) < 0.02, (e, found, predicted)

fig, ax = plt.subplots(figsize=(7, 4.5))
for e, curve in curves.items():
    label = f"ε = {e}" + ("" if e == 0 else f", best gap {np.log((1 - e + e / C) / (e / C)):.2f}")
    ax.plot(gaps, curve, label=label)
ax.set(xlabel="logit gap z_true - z_other", ylabel="cross-entropy with label smoothing")
ax.set_title(f"Label smoothing ({C} classes) stops the logits from growing forever")
ax.legend(fontsize=8)
lesson.save(fig, "label-smoothing.png")

# %% [markdown]
# ## Summary
#
# | task | output layer | loss (PyTorch / dllab.scratch) |
# |---|---|---|
# | regression | linear | `MSELoss`; L1 or Huber when there are outliers |
# | binary / multi-label | one logit per label | `BCEWithLogitsLoss` |
# | multi-class | one logit per class | `CrossEntropyLoss` (logits in, optional `label_smoothing`) |
#
# - The gradient tells you what a loss does: MSE pushes in proportion to the error, L1 with
#   constant force, Huber both.
# - Cross-entropy with softmax (or sigmoid) gives the gradient $p - y$; squared error on
#   probabilities does not, and stalls on confident mistakes.
# - Never compute $\log(\text{softmax})$ in two steps: pass logits to the loss.
#
# ## Exercises
#
# - `dllab lab start softmax_xent` — softmax cross-entropy and its gradient in NumPy, stable
#   for logits of size 1000. `dllab lab check softmax_xent` grades it against PyTorch.
#
# To try here (not graded):
#
# 1. Set Huber's $\delta$ to 0.1 and to 10 in the line fit. Which loss does it resemble in
#    each case?
# 2. Show that `BCEWithLogitsLoss` on one logit equals `CrossEntropyLoss` on the two logits
#    $(0, z)$.
