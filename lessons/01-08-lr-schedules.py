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
# # 01-08 · Learning-rate schedules
#
# Lesson 01-05 used one learning rate for the whole run. In practice the best rate changes
# during training:
#
# - **Early**, the weights are far from any minimum and big steps make fast progress — but
#   the very first steps are unreliable: Adam's moment estimates are built from a handful of
#   gradients, and a large rate on random weights can throw the network into a bad region.
#   A short **warm-up** from a small rate avoids that.
# - **Late**, big steps keep the weights bouncing around the minimum. With mini-batch noise,
#   SGD never settles closer than a distance that grows with $\eta$; **decaying** the rate lets
#   it settle lower.
#
# A schedule gives $\eta_t$ as a function of the step $t$. This lesson plots the common ones
# with `dllab.scratch.optim.lr_scheduler` (and proves them equal to `torch.optim.lr_scheduler`),
# shows how to pick the peak rate with a **learning-rate range test**, and compares schedules on
# a real network.

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

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("01-08-lr-schedules")

# dllab.scratch multiplies small matrices, for which one BLAS thread is faster than several
# that wait for each other (5-10x faster on a busy 2-core machine).
threadpool_limits(limits=1, user_api="blas")

# %% [markdown]
# ## 1. The schedules
#
# With base rate $\eta_0$, step $t$ and $T$ steps in total:
#
# | schedule | $\eta_t$ | scheduler |
# |---|---|---|
# | step decay | $\eta_0\,\gamma^{\lfloor t/s \rfloor}$ | `StepLR(step_size=s, gamma=γ)` |
# | exponential | $\eta_0\,\gamma^{t}$ | `ExponentialLR(gamma=γ)` |
# | cosine | $\eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})\big(1 + \cos\frac{\pi t}{T}\big)$ | `CosineAnnealingLR(T_max=T)` |
# | warm-up + cosine | linear from $\epsilon\eta_0$ to $\eta_0$ over $W$ steps, then cosine | `SequentialLR([LinearLR, CosineAnnealingLR])` |
# | one-cycle | up from $\eta_{\max}/25$ to $\eta_{\max}$ (30% of $T$), then down to $\eta_{\max}/(25\cdot 10^4)$; momentum the other way | `OneCycleLR(max_lr)` |
#
# Cosine annealing is from Loshchilov & Hutter (2017); one-cycle from Smith & Topin (2017).
# A scheduler wraps an optimiser and overwrites its learning rate; call `scheduler.step()`
# once after every `optimizer.step()`. Each schedule below is built twice, on a scratch
# optimiser and on a torch one, from the same code: `lib` is `dllab.scratch` or `torch`.

# %%
TOTAL, BASE_LR = 1000, 0.1


def schedules(lib, optimizer):
    """Build each schedule on `optimizer`; `lib` is dllab.scratch or torch."""
    S = lib.optim.lr_scheduler
    warm = TOTAL // 10
    return {
        "step (×0.1 every 300)": lambda: S.StepLR(optimizer, step_size=300, gamma=0.1),
        "exponential (γ = 0.997)": lambda: S.ExponentialLR(optimizer, gamma=0.997),
        "cosine": lambda: S.CosineAnnealingLR(optimizer, T_max=TOTAL),
        "warm-up 10% + cosine": lambda: S.SequentialLR(
            optimizer,
            [
                S.LinearLR(optimizer, start_factor=0.01, end_factor=1.0, total_iters=warm),
                S.CosineAnnealingLR(optimizer, T_max=TOTAL - warm),
            ],
            milestones=[warm],
        ),
        "one-cycle": lambda: S.OneCycleLR(optimizer, max_lr=BASE_LR, total_steps=TOTAL),
    }


# %% [markdown]
# `trace` runs a schedule for `TOTAL` steps and records the rate (and the momentum, which
# one-cycle changes too). Both engines must produce the same numbers at every step.


# %%
def trace(lib, name):
    """The learning rate (and momentum) used at each of TOTAL steps."""
    if lib is st:
        params = [st.zeros(1, requires_grad=True)]
    else:
        params = [torch.zeros(1, dtype=torch.float64, requires_grad=True)]
    optimizer = lib.optim.SGD(params, lr=BASE_LR, momentum=0.9)
    scheduler = schedules(lib, optimizer)[name]()
    lrs, momenta = [], []
    for _ in range(TOTAL):
        lrs.append(optimizer.param_groups[0]["lr"])
        momenta.append(optimizer.param_groups[0]["momentum"])
        optimizer.step()  # (no gradients here: it only advances the optimiser)
        scheduler.step()
    return np.array(lrs), np.array(momenta)


NAMES = list(schedules(st, st.optim.SGD([st.zeros(1, requires_grad=True)], lr=BASE_LR)))
traces = {name: trace(st, name) for name in NAMES}
for name in NAMES:
    torch_lrs, torch_momenta = trace(torch, name)
    np.testing.assert_allclose(traces[name][0], torch_lrs, rtol=1e-12, err_msg=name)
    np.testing.assert_allclose(traces[name][1], torch_momenta, rtol=1e-12, err_msg=name)
print("scratch schedules == torch schedules at all", TOTAL, "steps:", ", ".join(NAMES))

# %% [markdown]
# Some values we can predict from the formulas:

# %%
cosine = traces["cosine"][0]
assert cosine[0] == BASE_LR and abs(cosine[TOTAL // 2] - BASE_LR / 2) < 1e-15  # halfway: half
step_decay = traces["step (×0.1 every 300)"][0]
np.testing.assert_allclose(step_decay[[0, 299, 300, 600, 999]], [0.1, 0.1, 0.01, 0.001, 0.0001])
warm = traces["warm-up 10% + cosine"][0]
assert abs(warm[0] - 0.01 * BASE_LR) < 1e-15 and abs(warm[TOTAL // 10] - BASE_LR) < 1e-15
one_cycle, one_cycle_momentum = traces["one-cycle"]
peak = int(np.argmax(one_cycle))
assert peak == int(0.3 * TOTAL) - 1 and abs(one_cycle[peak] - BASE_LR) < 1e-15
assert abs(one_cycle[0] - BASE_LR / 25) < 1e-15 and one_cycle_momentum[peak] == 0.85
print(f"one-cycle: starts at {one_cycle[0]:.4f}, peaks at step {peak}, ends at {one_cycle[-1]:.1e}")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
for name in NAMES:
    ax1.plot(traces[name][0], label=name)
ax1.set(xlabel="optimiser step", ylabel="learning rate")
ax1.set_title(f"Learning-rate schedules (base rate {BASE_LR}, {TOTAL} steps)")
ax1.legend(fontsize=8)
ax2.plot(one_cycle / BASE_LR, label="learning rate / max_lr")
ax2.plot(one_cycle_momentum, label="momentum")
ax2.set(xlabel="optimiser step", ylabel="value")
ax2.set_title("One-cycle moves momentum against the learning rate")
ax2.legend(fontsize=8)
lesson.save(fig, "schedules.png")

# %% [markdown]
# Step decay is the classic ImageNet recipe (×0.1 at fixed epochs). Cosine decays smoothly
# and has one parameter, the length of the run; with a warm-up in front it is the default for
# Transformers. One-cycle climbs to a high peak — high rates act as a regulariser — and then
# anneals far below its start; when the rate is high, momentum is lowered so that the two do
# not add up to too large an effective step.
#
# ## 2. Choosing the peak: the learning-rate range test
#
# Every schedule needs a base (peak) rate. Smith's **range test** (2017) finds it in one short
# run: start tiny, multiply the rate by a constant factor every step, and record the loss. The
# loss first does not move (rate too small), then falls faster and faster, then blows up. A
# good peak rate is a little below the point where the loss is lowest — typically a factor
# of 3 to 10 below it.

# %%
images, labels = load_digits_arrays()
features = images.reshape(len(images), -1) / 255.0
order = np.random.default_rng(0).permutation(len(features))
train_idx, test_idx = order[:1400], order[1400:]


def make_model(seed=0):
    st.manual_seed(seed)
    return snn.Sequential(snn.Linear(64, 128), snn.ReLU(), snn.Linear(128, 10))


# %% [markdown]
# The range test itself: `ExponentialLR` with a factor slightly above 1 multiplies the rate
# at every step, from $10^{-4}$ to 10 in 120 steps. We stop once the loss has clearly blown
# up.

# %%
model = make_model()
optimizer = st.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
n_steps = 120
factor = (10 / 1e-4) ** (1 / (n_steps - 1))  # from 1e-4 to 10
sweep = st.optim.lr_scheduler.ExponentialLR(optimizer, gamma=factor)
picks = np.random.default_rng(1)
range_lrs, range_losses = [], []
for _ in range(n_steps):
    batch = picks.choice(train_idx, 64)
    loss = SF.cross_entropy(model(st.tensor(features[batch])), st.tensor(labels[batch]))
    value = loss.item()
    if range_losses and (not np.isfinite(value) or value > 4 * range_losses[0]):
        break  # diverged: the test is over
    range_lrs.append(optimizer.param_groups[0]["lr"])
    range_losses.append(value)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    sweep.step()

smoothed = np.convolve(range_losses, np.ones(5) / 5, mode="valid")  # centred on steps 2..-3
smoothed_lrs = range_lrs[2:-2]
best_lr = smoothed_lrs[int(np.argmin(smoothed))]
print(f"range test: lowest loss at lr ≈ {best_lr:.2g}; stopped at lr {range_lrs[-1]:.2g}")
assert 0.01 < best_lr < 5

fig, ax = plt.subplots(figsize=(7, 4.5))
ax.semilogx(range_lrs, range_losses, alpha=0.4, label="loss at each step")
ax.semilogx(smoothed_lrs, smoothed, label="smoothed (5 steps)")
ax.axvline(best_lr, color="k", ls="--", lw=1, label=f"lowest loss: lr {best_lr:.2g}")
ax.axvline(best_lr / 5, color="tab:green", ls=":", label=f"a good peak: lr {best_lr / 5:.2g}")
ax.set(xlabel="learning rate (log scale, grows every step)", ylabel="training cross-entropy")
ax.set_title("Learning-rate range test: SGD with momentum, 64-128-10 MLP on digits")
ax.legend(fontsize=8)
lesson.save(fig, "range-test.png")

# %% [markdown]
# ## 3. Schedules on a real network
#
# The same MLP, SGD with momentum 0.9, 8 epochs of batches of 50 (224 steps), and a peak rate
# of 0.5 — at the top of the range test, deliberately too high to *end* with. One run per
# schedule, with the same initial weights and the same order of batches.

# %%
PEAK, EPOCHS, BATCH = 0.5, 8, 50
steps_per_epoch = int(np.ceil(len(train_idx) / BATCH))
total = EPOCHS * steps_per_epoch


def make_schedule(name, optimizer):
    S = st.optim.lr_scheduler
    warm = total // 10
    return {
        "constant": lambda: None,
        "step": lambda: S.StepLR(optimizer, step_size=3 * steps_per_epoch, gamma=0.1),
        "cosine": lambda: S.CosineAnnealingLR(optimizer, T_max=total),
        "warm-up + cosine": lambda: S.SequentialLR(
            optimizer,
            [
                S.LinearLR(optimizer, 0.01, 1.0, total_iters=warm),
                S.CosineAnnealingLR(optimizer, total - warm),
            ],
            milestones=[warm],
        ),
        "one-cycle": lambda: S.OneCycleLR(optimizer, max_lr=PEAK, total_steps=total),
    }[name]()


# %% [markdown]
# Every run uses the same loop; only the scheduler differs ("constant" has none). At the end
# we measure the loss on the whole training set and the accuracy on the 397 held-out digits.


# %%
def train(name):
    model = make_model()
    optimizer = st.optim.SGD(model.parameters(), lr=PEAK, momentum=0.9)
    scheduler = make_schedule(name, optimizer)
    batches = np.random.default_rng(2)
    losses = []
    for _ in range(EPOCHS):
        perm = batches.permutation(train_idx)
        for i in range(0, len(perm), BATCH):
            batch = perm[i : i + BATCH]
            loss = SF.cross_entropy(model(st.tensor(features[batch])), st.tensor(labels[batch]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            losses.append(loss.item())
    model.eval()
    with st.no_grad():
        logits = model(st.tensor(features[train_idx]))
        train_loss = SF.cross_entropy(logits, st.tensor(labels[train_idx])).item()
        accuracy = float(
            np.mean(model(st.tensor(features[test_idx])).argmax(1).numpy() == labels[test_idx])
        )
    return np.array(losses), train_loss, accuracy


runs = {
    name: train(name) for name in ["constant", "step", "cosine", "warm-up + cosine", "one-cycle"]
}
for name, (_, train_loss, accuracy) in runs.items():
    print(f"{name:17s} final training loss {train_loss:.4f}, test accuracy {accuracy:.3f}")
for name in ["step", "cosine", "warm-up + cosine", "one-cycle"]:
    assert runs[name][1] < runs["constant"][1] / 3, name
    assert runs[name][2] > runs["constant"][2], name

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
for name, (losses, _, _) in runs.items():
    ax1.semilogy(np.convolve(losses, np.ones(8) / 8, mode="valid"), label=name)
ax1.set(xlabel="optimiser step", ylabel="training cross-entropy (mean of 8 steps)")
ax1.set_title(f"SGD + momentum, peak rate {PEAK}: training loss")
ax1.legend(fontsize=8)
names = list(runs)
bars = ax2.barh(names, [runs[n][1] for n in names], color="tab:purple")
ax2.bar_label(bars, fmt="%.4f", padding=3, fontsize=8)
ax2.set(xlabel="training loss after the last step (whole training set)")
ax2.set_title("Where each schedule ends")
ax2.invert_yaxis()
lesson.save(fig, "schedules-on-digits.png")

# %% [markdown]
# With a constant rate of 0.5 the loss stops improving and stays noisy: the steps are too
# large to settle, and test accuracy suffers too. Every decaying schedule starts with the
# same large steps but ends with small ones, and ends far lower. That is the practical value
# of a schedule: it lets you use a peak rate that would be too high for the whole run. On a
# problem this small the differences between the decaying schedules are minor; on long runs
# (hundreds of epochs, large batches, Transformers) warm-up and the shape of the decay matter
# much more.
#
# ## Summary
#
# - Decay the learning rate towards the end of training: the final steps should be small.
# - Warm up for the first few percent of steps when using large rates, Adam, or large batches.
# - Cosine (with warm-up) and one-cycle need only the run length and a peak rate; find the
#   peak with a range test, a few times below where the loss is lowest.
# - Step the scheduler once per optimiser step (or per epoch, if it was built in epochs), after
#   `optimizer.step()`.
#
# ## Exercises
#
# The lab has no exercise on schedules themselves; these use them:
#
# - `dllab lab start training_loop` — a complete training loop; add a scheduler to your `fit`
#   and check that it still passes.
# - `dllab lab start loss_curves` — tell a diverging run (rate too high) from over- and
#   under-fitting.
#
# To try here (not graded):
#
# 1. Write warm-up + cosine as a single `LambdaLR` and check it against the `SequentialLR`
#    version step by step.
# 2. Run the range test with Adam instead of SGD. Where is its lowest-loss rate?
# 3. Train with a constant rate of 0.05 — ten times smaller. Does it end better or worse than
#    cosine from 0.5?
