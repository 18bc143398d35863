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
# # 02-05 · A complete training loop
#
# Every supervised training program, from a digit classifier to a language model, is the
# same loop:
#
# ```
# for epoch in range(max_epochs):
#     model.train()
#     for x, y in train_batches:                 # one step
#         loss = loss_fn(model(x), y)            #   forward
#         optimizer.zero_grad()                  #   forget the last step's gradients
#         loss.backward()                        #   backward: fill every .grad
#         optimizer.step()                       #   update the parameters
#     scheduler.step()                           # adjust the learning rate
#     model.eval(); with torch.no_grad(): validate
#     keep the best weights; stop when validation stops improving
# finally: restore the best weights, evaluate once on the test set
# ```
#
# We write it out in full on the digits, with a validation set for model selection and early
# stopping, and check the details that make it correct: `train()`/`eval()`, `no_grad`,
# gradient accumulation, and that the restored "best" model really is the best one.

# %%
import copy

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from dllab.data.digits import load_digits_arrays
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("02-05-training-loop")
torch.manual_seed(0)

# %% [markdown]
# ## 1. Data: three splits, statistics from the training split only
#
# - **train** (70 %) fits the weights;
# - **validation** (10 %) chooses *when to stop* and which epoch's weights to keep — a
#   decision, so it is part of training;
# - **test** (20 %) is touched once, at the end, to report a number nobody tuned on.
#
# The normalisation (mean and standard deviation) is computed on the training split only:
# computing it on everything would leak information about the test images into training.

# %%
images, labels = load_digits_arrays()
X = torch.from_numpy(images).flatten(1).float() / 255  # (1797, 64)
Y = torch.from_numpy(labels)
order = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))
splits = {"train": order[:1257], "val": order[1257:1437], "test": order[1437:]}
mean, std = X[splits["train"]].mean(0), X[splits["train"]].std(0) + 1e-3
X = (X - mean) / std  # constant pixels (always 0 in training) stay near 0
data = {name: (X[idx], Y[idx]) for name, idx in splits.items()}
print({name: len(idx) for name, idx in splits.items()})
assert sum(len(idx) for idx in splits.values()) == len(X)


def batches(x, y, batch_size, generator=None):
    """Shuffled mini-batches when a generator is given, else in order."""
    order = torch.randperm(len(x), generator=generator) if generator else torch.arange(len(x))
    for idx in order.split(batch_size):
        yield x[idx], y[idx]


# %% [markdown]
# ## 2. Model, loss, optimiser, schedule
#
# An MLP with dropout, so that `train()` and `eval()` matter. AdamW with a cosine schedule
# that decays the learning rate from $10^{-3}$ to almost 0 over the planned epochs
# (lesson 01-08).

# %%
EPOCHS, BATCH = 40, 64


def make_model():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(64, 256), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(256, 256), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(256, 10),
    )  # fmt: skip


model = make_model()
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=EPOCHS)

# %% [markdown]
# `model.train()` turns dropout on: two forward passes of the same input differ. In
# `model.eval()` dropout is the identity and the output is deterministic. Under
# `torch.no_grad()` no graph is built, which saves memory and time during evaluation.

# %%
x_val, y_val = data["val"]
model.train()
assert not torch.equal(model(x_val), model(x_val)), "train mode: dropout is random"
model.eval()
with torch.no_grad():
    out = model(x_val)
assert torch.equal(out, model(x_val).detach()) and not out.requires_grad


# %% [markdown]
# ## 3. One epoch of training, one evaluation
#
# The order inside a step matters: `zero_grad` before `backward` (gradients accumulate,
# lesson 02-02), `step` after it. The loss reported for an epoch is the mean over examples,
# so a smaller last batch counts for what it holds.


# %%
def train_epoch(model, optimizer, x, y, generator):
    model.train()
    total, count = 0.0, 0
    for xb, yb in batches(x, y, BATCH, generator):
        loss = F.cross_entropy(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total, count = total + loss.item() * len(yb), count + len(yb)
    return total / count


@torch.no_grad()
def evaluate(model, x, y):
    model.eval()
    logits = model(x)
    return F.cross_entropy(logits, y).item(), (logits.argmax(1) == y).float().mean().item()


# %% [markdown]
# ## 4. `fit`: the loop, best-model selection and early stopping
#
# After each epoch we evaluate on the validation set. If the validation loss improved, we keep
# a **copy** of the weights (`copy.deepcopy(model.state_dict())`: `state_dict()` alone
# returns references to the live tensors, which the next step would overwrite). If it has not
# improved for `patience` epochs, we stop. At the end the best weights are restored.


# %%
def fit(model, optimizer, scheduler, patience=8, seed=0):
    generator = torch.Generator().manual_seed(seed)  # the batch order
    torch.manual_seed(seed)  # the global generator: dropout's masks
    history = {"train_loss": [], "val_loss": [], "val_acc": [], "lr": []}
    best = {"loss": float("inf"), "epoch": -1, "state": None}
    for epoch in range(EPOCHS):
        history["lr"].append(optimizer.param_groups[0]["lr"])
        history["train_loss"].append(train_epoch(model, optimizer, *data["train"], generator))
        scheduler.step()
        val_loss, val_acc = evaluate(model, *data["val"])
        history["val_loss"].append(val_loss)
        history["val_acc"].append(val_acc)
        if val_loss < best["loss"]:
            best = {"loss": val_loss, "epoch": epoch, "state": copy.deepcopy(model.state_dict())}
        elif epoch - best["epoch"] >= patience:
            print(f"early stop after epoch {epoch + 1}: best was epoch {best['epoch'] + 1}")
            break
    model.load_state_dict(best["state"])
    return history, best


history, best = fit(model, optimizer, scheduler)
test_loss, test_acc = evaluate(model, *data["test"])
print(f"best epoch {best['epoch'] + 1}: val loss {best['loss']:.4f}; test accuracy {test_acc:.1%}")
assert history["train_loss"][-1] < history["train_loss"][0] / 10
assert evaluate(model, *data["val"])[0] == best["loss"], "the restored weights are the best"
assert min(history["val_loss"]) == best["loss"]
assert test_acc > 0.95

# %% [markdown]
# The schedule did what it says: the cosine rate starts at $10^{-3}$ and follows
# $\eta_t = \tfrac{\eta_0}{2}(1 + \cos(\pi t / T))$ per epoch.

# %%
import math

expected = [1e-3 / 2 * (1 + math.cos(math.pi * t / EPOCHS)) for t in range(len(history["lr"]))]
assert all(abs(a - b) < 1e-9 for a, b in zip(history["lr"], expected, strict=True))

# %%
epochs = range(1, len(history["train_loss"]) + 1)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
ax1.plot(epochs, history["train_loss"], label="train (dropout on)")
ax1.plot(epochs, history["val_loss"], label="validation")
ax1.axvline(best["epoch"] + 1, color="k", ls=":", label=f"best epoch ({best['epoch'] + 1})")
ax1.set(xlabel="epoch", ylabel="cross-entropy", yscale="log")
ax1.set_title(f"Digits MLP: test accuracy {test_acc:.1%} with the best weights")
ax1.legend(fontsize=8)
ax2.plot(epochs, history["val_acc"], color="C1", label="validation accuracy")
ax2.set(xlabel="epoch", ylabel="accuracy")
twin = ax2.twinx()
twin.plot(epochs, history["lr"], color="C2", ls="--", label="learning rate")
twin.set_ylabel("learning rate")
ax2.set_title("Validation accuracy and the cosine learning rate")
ax2.legend(loc="center right", fontsize=8)
twin.legend(loc="lower right", fontsize=8)
lesson.save(fig, "training-curves.png")

# %% [markdown]
# ## 5. Reproducibility
#
# Same seeds for the weights, the batch order and the dropout masks (`fit` seeds all of them):
# the run repeats exactly, to the last bit. (On a GPU some kernels are non-deterministic unless
# `torch.use_deterministic_algorithms(True)` is set.)

# %%
again = make_model()
opt2 = torch.optim.AdamW(again.parameters(), lr=1e-3, weight_decay=1e-2)
history2, best2 = fit(again, opt2, torch.optim.lr_scheduler.CosineAnnealingLR(opt2, EPOCHS))
assert history2 == history and best2["epoch"] == best["epoch"]
assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters(), strict=True))
print("a second run with the same seeds is identical")

# %% [markdown]
# ## 6. Gradient accumulation: a large batch in small pieces
#
# When a batch does not fit in memory, split it into $k$ micro-batches, call `backward` on
# each loss divided by $k$, and step once. Because gradients accumulate, the sum of the $k$
# gradients of $\text{loss}_i / k$ equals the gradient of the mean loss over the whole batch
# (for equal micro-batches, and a model without batch statistics).

# %%
net = make_model().eval()  # eval: no dropout, so both computations see the same network
xb, yb = data["train"][0][:256], data["train"][1][:256]
net.zero_grad()
F.cross_entropy(net(xb), yb).backward()
full = [p.grad.clone() for p in net.parameters()]

net.zero_grad()
for x_part, y_part in zip(xb.split(64), yb.split(64), strict=True):
    (F.cross_entropy(net(x_part), y_part) / 4).backward()  # accumulate, do not zero
accumulated = [p.grad for p in net.parameters()]
assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(full, accumulated, strict=True))
print("4 micro-batches of 64, loss / 4 each == one batch of 256")

# %% [markdown]
# ## Summary
#
# - A step is forward, `zero_grad`, `backward`, `step`; an epoch ends with a scheduler step
#   and a validation pass in `eval()` mode under `no_grad`.
# - Fit normalisation on the training split; select the epoch on validation; test once.
# - Keep the best weights with `copy.deepcopy(model.state_dict())` and restore them.
# - Seeds for weights and batch order make a run exactly repeatable.
# - Gradient accumulation: `(loss / k).backward()` over k micro-batches, then one `step`.
#
# dllab's `Trainer` (`src/dllab/train/trainer.py`) is this loop, plus checkpoints, mixed
# precision and logging, in one place for every project.
#
# ## Exercises
#
# - `dllab lab start training_loop` — write `train_epoch`, `evaluate` and `fit`; graded step
#   for step against a reference, with hooks that record the mode and whether autograd was on.
# - `dllab lab start loss_curves` — read curves like the ones above: overfitting,
#   underfitting, a good fit or divergence.
#
# To try here (not graded):
#
# 1. Move `optimizer.zero_grad()` after `loss.backward()`. What does the model learn?
# 2. Remove `copy.deepcopy`. Which assertion fails, and why?
