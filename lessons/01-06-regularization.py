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
# # 01-06 · Regularisation: dropout, BatchNorm, weight decay, L1/L2, early stopping
#
# A network with more parameters than training examples can **memorise** its training set,
# noise and mistakes included. Its training loss then keeps falling while the loss on new
# data rises: it **overfits**. Regularisation is everything we do to prefer solutions that
# generalise:
#
# | method | what it does |
# |---|---|
# | L2 penalty / weight decay | adds $\frac{\lambda}{2}\lVert w\rVert^2$: prefers small weights, smooth functions |
# | L1 penalty | adds $\lambda\lVert w\rVert_1$: pushes weights to exactly zero (sparse) |
# | dropout | zeroes random units while training: no unit can rely on another |
# | batch normalisation | normalises each unit over the batch: mainly faster training, a little noise |
# | early stopping | keeps the weights from the epoch with the best validation loss |
#
# We first look at each mechanism, then run a small real experiment on scikit-learn's digits.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from threadpoolctl import threadpool_limits

import dllab.scratch as st
import dllab.scratch.functional as SF
import dllab.scratch.nn as snn
from dllab.data.digits import load_digits_arrays
from dllab.viz import setup_lesson

# dllab.scratch multiplies small matrices, for which one BLAS thread is faster than several
# that wait for each other (5-10x faster on a busy 2-core machine).
threadpool_limits(limits=1, user_api="blas")

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("01-06-regularization")

rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Weight decay is an L2 penalty (for SGD)
#
# Adding $\frac{\lambda}{2}\lVert w\rVert^2$ to the loss adds $\lambda w$ to the gradient, so
# an SGD step becomes
#
# $$w \leftarrow w - \eta(\nabla L + \lambda w) = (1 - \eta\lambda)\,w - \eta \nabla L:$$
#
# the weights *decay* by a factor $(1-\eta\lambda)$ every step. That is exactly what
# `SGD(weight_decay=λ)` does. For Adam the two differ — the penalty's gradient would be
# rescaled by Adam's per-parameter step size — so **AdamW** (Loshchilov & Hutter 2019) applies
# the decay directly to the weights, decoupled from the adaptive step. We check the SGD
# equivalence on a scratch layer:

# %%
x, target = st.randn(32, 10), st.randn(32, 3)
lam, lr = 0.1, 0.05
st.manual_seed(0)
with_penalty = snn.Linear(10, 3)
st.manual_seed(0)
with_decay = snn.Linear(10, 3)

loss = SF.mse_loss(with_penalty(x), target) + lam / 2 * sum(
    (p**2).sum() for p in with_penalty.parameters()
)
loss.backward()
st.optim.SGD(with_penalty.parameters(), lr=lr).step()

SF.mse_loss(with_decay(x), target).backward()
st.optim.SGD(with_decay.parameters(), lr=lr, weight_decay=lam).step()

for a, b in zip(with_penalty.parameters(), with_decay.parameters(), strict=True):
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=1e-12)
print("SGD on loss + λ/2·||w||²  ==  SGD(weight_decay=λ) on the loss")

# %% [markdown]
# ## 2. Dropout
#
# During training, **dropout** (Srivastava et al. 2014) sets each activation to zero with
# probability $p$ and multiplies the survivors by $\frac{1}{1-p}$ ("inverted" dropout), so
# that the *expected* activation is unchanged:
#
# $$\mathbb{E}[\tilde h] = (1-p)\cdot\frac{h}{1-p} + p \cdot 0 = h.$$
#
# Each step trains a different random sub-network; the full network used at test time is
# like an average of them. In evaluation mode (`model.eval()`) dropout does nothing — forgetting
# `eval()` is a classic bug that makes test accuracy noisy and low.

# %%
st.manual_seed(0)
drop = snn.Dropout(p=0.3)
h = st.ones(200, 500)
dropped = drop(h).numpy()
print(
    f"zeroed: {np.mean(dropped == 0):.3f} (p = 0.3); survivors scaled to {dropped.max():.4f}; "
    f"mean {dropped.mean():.4f}"
)
assert abs(np.mean(dropped == 0) - 0.3) < 0.01 and abs(dropped.mean() - 1) < 0.01
assert set(np.unique(dropped)) == {0.0, 1 / 0.7}
drop.eval()
assert np.array_equal(drop(h).numpy(), h.numpy()), "in eval mode dropout is the identity"

# %% [markdown]
# ## 3. Batch normalisation
#
# **BatchNorm** (Ioffe & Szegedy 2015) normalises every unit over the batch, then lets the
# network rescale it with learned $\gamma, \beta$:
#
# $$\hat h = \frac{h - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}}, \qquad y = \gamma \hat h + \beta.$$
#
# In training mode $\mu_B, \sigma^2_B$ are the current batch's mean and (biased) variance, and
# running averages are updated; in evaluation mode the running averages are used, so a
# prediction does not depend on the other examples in the batch. Its main effect is to make
# deep networks much easier to train (lesson 01-07); the batch-to-batch noise in $\mu_B,
# \sigma_B$ also regularises a little. The scratch layer must match PyTorch's in both modes:

# %%
torch.manual_seed(0)
bn_torch = torch.nn.BatchNorm1d(4).double()
bn_scratch = snn.BatchNorm1d(4)
batch = rng.normal(3.0, 2.0, size=(16, 4))  # far from mean 0, variance 1
out_scratch = bn_scratch(st.tensor(batch)).detach().numpy()
out_torch = bn_torch(torch.tensor(batch)).detach().numpy()
np.testing.assert_allclose(out_scratch, out_torch, atol=1e-12)
np.testing.assert_allclose(out_scratch.mean(0), 0, atol=1e-12)  # normalised per unit
np.testing.assert_allclose(out_scratch.std(0), 1, atol=1e-4)
np.testing.assert_allclose(bn_scratch.running_var.numpy(), bn_torch.running_var.numpy(), atol=1e-12)

bn_scratch.eval()
bn_torch.eval()
test_batch = rng.normal(3.0, 2.0, size=(5, 4))
np.testing.assert_allclose(
    bn_scratch(st.tensor(test_batch)).detach().numpy(),
    bn_torch(torch.tensor(test_batch)).detach().numpy(),
    atol=1e-12,
)
print("BatchNorm1d: train mode (batch statistics, running averages) and eval mode == torch")

# %% [markdown]
# ## 4. An experiment on digits
#
# scikit-learn's 1,797 digits are 8×8 images, clean enough that a small network barely
# overfits. Real data sets are not that clean: a few percent of their labels are wrong. To
# make overfitting visible in seconds we **corrupt 30% of the training labels** (each replaced
# by a random digit) and keep validation and test labels clean. A network that memorises the
# corrupted labels will do worse on clean data; a regularised one should learn the real
# pattern and ignore the noise.
#
# Split: 300 training images, 400 for validation (choosing the epoch and the settings), the
# remaining 1,097 for the final test. Model: a 64-128-128-10 MLP with ReLU (26,122
# parameters for 300 examples), AdamW with learning rate $10^{-3}$, batches of 50, 100
# epochs, all in `dllab.scratch`.

# %%
images, labels = load_digits_arrays()
features = images.reshape(len(images), -1) / 255.0  # (1797, 64) in [0, 1]
order = rng.permutation(len(features))
train_idx, val_idx, test_idx = order[:300], order[300:700], order[700:]
noisy_labels = labels.copy()
corrupt = train_idx[rng.random(len(train_idx)) < 0.3]
noisy_labels[corrupt] = rng.integers(0, 10, len(corrupt))
wrong = np.mean(noisy_labels[train_idx] != labels[train_idx])
print(f"{len(corrupt)} training labels replaced at random; {wrong:.0%} of all 300 are now wrong")


# %% [markdown]
# The model: two hidden layers of 128 ReLU units, optionally with dropout after each ReLU
# or BatchNorm before it. `evaluate` scores a model on clean labels in eval mode, so dropout
# is off and BatchNorm uses its running averages.


# %%
def make_model(dropout=0.0, batchnorm=False):
    st.manual_seed(0)
    layers, width = [], 64
    for _ in range(2):
        layers.append(snn.Linear(width, 128))
        if batchnorm:
            layers.append(snn.BatchNorm1d(128))
        layers.append(snn.ReLU())
        if dropout:
            layers.append(snn.Dropout(dropout))
        width = 128
    return snn.Sequential(*layers, snn.Linear(width, 10))


def evaluate(model, idx):
    """(loss, accuracy) on the clean labels of `idx`, in eval mode."""
    model.eval()
    with st.no_grad():
        logits = model(st.tensor(features[idx]))
        loss = SF.cross_entropy(logits, st.tensor(labels[idx])).item()
        accuracy = float(np.mean(logits.argmax(1).numpy() == labels[idx]))
    model.train()
    return loss, accuracy


# %% [markdown]
# The training loop records, after every epoch, the mean training loss and the validation
# loss and accuracy, and keeps a copy of the weights whenever the validation loss reaches a
# new minimum: that copy is what early stopping returns. The optional L1 penalty is added to
# the loss; weight decay is AdamW's `weight_decay`.


# %%
def train(model, weight_decay=0.0, l1=0.0, epochs=100, batch_size=50):
    """Train on the noisy labels; return per-epoch history and the best-validation weights."""
    optimizer = st.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=weight_decay)
    weights = [p for name, p in model.named_parameters() if name.endswith("weight") and p.ndim == 2]
    order_rng = np.random.default_rng(1)
    history = {"train_loss": [], "val_loss": [], "val_acc": []}
    best = (np.inf, None, -1)  # (val loss, state dict, epoch): what early stopping keeps
    for epoch in range(epochs):
        losses, perm = [], order_rng.permutation(train_idx)
        for i in range(0, len(perm), batch_size):
            batch = perm[i : i + batch_size]
            loss = SF.cross_entropy(
                model(st.tensor(features[batch])), st.tensor(noisy_labels[batch])
            )
            if l1:
                loss = loss + l1 * sum(w.abs().sum() for w in weights)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        val_loss, val_acc = evaluate(model, val_idx)
        history["train_loss"].append(np.mean(losses))
        history["val_loss"].append(val_loss)
        history["val_acc"].append(val_acc)
        if val_loss < best[0]:
            best = (val_loss, {k: v.numpy().copy() for k, v in model.state_dict().items()}, epoch)
    return history, best


# %% [markdown]
# ### The baseline overfits; early stopping rescues it
#
# First the unregularised network. Watch the two curves: the training loss (on the noisy
# labels) keeps falling as the network memorises, while the validation loss (clean labels)
# reaches a minimum and then climbs. **Early stopping** simply keeps the weights from the
# epoch with the lowest validation loss — the `best` that `train` returns.

# %%
baseline = make_model()
base_history, (best_loss, best_state, best_epoch) = train(baseline)
final_test = evaluate(baseline, test_idx)
baseline.load_state_dict(best_state)
early_test = evaluate(baseline, test_idx)
print(f"baseline after 100 epochs: test accuracy {final_test[1]:.3f}")
print(f"early stopping (epoch {best_epoch + 1}): test accuracy {early_test[1]:.3f}")
assert base_history["val_loss"][-1] > 1.3 * best_loss, "the baseline should overfit visibly"
assert early_test[1] > final_test[1] + 0.05

# %%
epochs = np.arange(1, len(base_history["val_loss"]) + 1)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
ax1.plot(epochs, base_history["train_loss"], label="training loss (30% wrong labels)")
ax1.plot(epochs, base_history["val_loss"], label="validation loss (clean labels)")
ax1.axvline(best_epoch + 1, color="k", ls="--", lw=1, label=f"early stop: epoch {best_epoch + 1}")
ax1.set(xlabel="epoch", ylabel="cross-entropy")
ax1.set_title("Unregularised MLP: memorising the noise")
ax1.legend(fontsize=8)
ax2.plot(epochs, base_history["val_acc"], color="tab:orange")
ax2.axvline(best_epoch + 1, color="k", ls="--", lw=1)
ax2.set(xlabel="epoch", ylabel="validation accuracy")
ax2.set_title("Validation accuracy falls as the network overfits")
lesson.save(fig, "overfitting.png")

# %% [markdown]
# ### Each regulariser, trained for the full 100 epochs
#
# Now the same network and budget with one regulariser at a time, with strengths chosen on
# the validation set: AdamW's weight decay $\lambda = 3$ (large, because AdamW multiplies it
# by the learning rate, $10^{-3}$), an L1 penalty $10^{-3}\sum\lvert w\rvert$ on the weight
# matrices, dropout $p = 0.5$ after each hidden layer, and BatchNorm before each ReLU. No early
# stopping here: we look at where each run *ends*.

# %%
variants = {
    "weight decay 3": (make_model(), {"weight_decay": 3.0}),
    "L1 1e-3": (make_model(), {"l1": 1e-3}),
    "dropout 0.5": (make_model(dropout=0.5), {}),
    "BatchNorm": (make_model(batchnorm=True), {}),
}
histories = {"none": base_history}
test_accuracy = {"none (100 epochs)": final_test[1], "early stopping": early_test[1]}
models = {"none": baseline}
for name, (model, options) in variants.items():
    histories[name], _ = train(model, **options)
    test_accuracy[name] = evaluate(model, test_idx)[1]
    models[name] = model
print({k: round(v, 3) for k, v in test_accuracy.items()})
for name in ("weight decay 3", "L1 1e-3", "dropout 0.5"):
    assert test_accuracy[name] > test_accuracy["none (100 epochs)"] + 0.03, name

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
for name, history in histories.items():
    ax1.plot(epochs, history["val_loss"], label=name)
ax1.set(xlabel="epoch", ylabel="validation cross-entropy (clean labels)")
ax1.set_title("Validation loss with each regulariser")
ax1.legend(fontsize=8)
names = list(test_accuracy)
bars = ax2.barh(names, [test_accuracy[n] for n in names], color="tab:blue")
ax2.bar_label(bars, fmt="%.3f", padding=3, fontsize=8)
ax2.set(xlim=(0.6, 1.0), xlabel="test accuracy (1,097 clean images)")
ax2.set_title("Test accuracy, 30% label noise in training")
ax2.invert_yaxis()
lesson.save(fig, "regularisers.png")

# %% [markdown]
# What the experiment shows:
#
# - The penalties and dropout keep the network from fitting the corrupted labels: validation
#   loss stays close to its minimum and test accuracy ends well above the baseline's.
# - Early stopping, the cheapest method, does about as well: it needs only a validation set
#   and a saved checkpoint.
# - BatchNorm is *not* primarily a regulariser: it makes the network learn faster — including
#   the noise. Its place is lesson 01-07, where it makes deep networks trainable.
#
# ### What L1 and L2 do to the weights
#
# The penalties' gradients explain their different effects. L2's gradient $\lambda w$ shrinks
# a weight in proportion to its size, so weights get small but rarely zero. L1's gradient
# $\lambda\operatorname{sign}(w)$ pulls every weight towards zero with the same force, so weights
# that the loss does not need end up (near) exactly zero: **sparsity**. For the first layer
# that means ignoring input pixels — the border pixels of the digits carry no information.

# %%
first_layer = {
    name: models[name][0].weight.detach().numpy().ravel()
    for name in ("none", "weight decay 3", "L1 1e-3")
}
near_zero = {name: float(np.mean(np.abs(w) < 1e-3)) for name, w in first_layer.items()}
norms = {name: float(np.linalg.norm(w)) for name, w in first_layer.items()}
print("fraction |w| < 1e-3:", {k: round(v, 3) for k, v in near_zero.items()})
print("first-layer norm:   ", {k: round(v, 2) for k, v in norms.items()})
assert (
    near_zero["L1 1e-3"] > 3 * near_zero["none"]
    and near_zero["L1 1e-3"] > near_zero["weight decay 3"]
)
assert norms["weight decay 3"] < 0.7 * norms["none"]

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
bins = np.linspace(-0.4, 0.4, 81)
for name, w in first_layer.items():
    ax1.hist(w, bins=bins, histtype="step", lw=1.5, label=f"{name} (norm {norms[name]:.1f})")
ax1.set(xlabel="first-layer weight", ylabel="count (log scale)", yscale="log")
ax1.set_title("First-layer weights after training")
ax1.legend(fontsize=8)
pixel_use = np.abs(models["L1 1e-3"][0].weight.detach().numpy()).sum(0).reshape(8, 8)
shown = ax2.imshow(pixel_use, cmap="viridis")
fig.colorbar(shown, ax=ax2, label="sum of |weights| from the pixel")
ax2.set(xlabel="pixel column", ylabel="pixel row")
ax2.set_title("With L1: how much each input pixel is used")
lesson.save(fig, "weights.png")

# %% [markdown]
# ## Summary
#
# - Overfitting shows as a training loss that keeps falling while the validation loss turns
#   up. Always watch both curves (the `loss_curves` exercise trains your eye).
# - L2 penalty = weight decay for SGD; for Adam use AdamW's decoupled decay. L1 makes weights
#   sparse.
# - Dropout zeroes units with probability $p$ and rescales by $1/(1-p)$ in training; it is
#   the identity in `eval()` mode.
# - BatchNorm uses batch statistics in training and running averages in evaluation; it mostly
#   speeds up training rather than regularising.
# - Early stopping keeps the best-validation checkpoint, and is often the first thing to try.
#   More data (or data augmentation) beats them all.
#
# ## Exercises
#
# - `dllab lab start dropout` — inverted dropout, forward and backward, train and eval modes.
# - `dllab lab start weight_decay` — SGD with L2 weight decay and AdamW's decoupled decay,
#   step for step equal to `torch.optim`.
# - `dllab lab start batchnorm` — BatchNorm forward in train and eval mode, and its backward.
# - `dllab lab start loss_curves` — diagnose over- and under-fitting from a run's curves, and
#   find the epoch early stopping would keep.
# - `dllab lab start augmentation` — random flips and crops, the regulariser that adds data.
#
# Check each with `dllab lab check NAME`.
#
# To try here (not graded):
#
# 1. Remove the label noise. How large are the differences between the regularisers now?
# 2. Use `Adam(weight_decay=3)` (L2 through the gradient) instead of AdamW. What happens, and
#    why?
# 3. Combine dropout with early stopping. Is the best epoch later or earlier than without?
