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
# # 03-02 · Batch normalisation in CNNs: train vs eval, and why it helps
#
# **BatchNorm** (Ioffe & Szegedy 2015) normalises every channel of a layer's output to mean 0
# and variance 1, then lets the network choose a scale $\gamma$ and shift $\beta$:
#
# $$\hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \varepsilon}}, \qquad y = \gamma \hat x + \beta.$$
#
# In a CNN, `BatchNorm2d` computes one $\mu$ and $\sigma^2$ **per channel**, over the batch
# *and* all positions $(N, H, W)$ — a channel is one feature detector, wherever it looks. The
# catch is that $\mu$ and $\sigma^2$ come from different places in the two modes:
#
# - in **training** (`model.train()`), from the current batch — so an image's output depends
#   on the other images in its batch — while a running average of them is updated;
# - in **evaluation** (`model.eval()`), from that running average — fixed numbers, so each
#   image's output depends on itself only.
#
# We prove each of these against `nn.BatchNorm2d`, then measure what BatchNorm buys (training
# at learning rates that break the same network without it), and what goes wrong when the
# running averages lag behind the weights.

# %%
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from dllab.data.vision import load_image_dataset
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("03-02-batchnorm")
torch.manual_seed(0)

# %% [markdown]
# ## 1. Training mode: statistics of the batch, per channel
#
# For a batch `x` of shape `(N, C, H, W)`, the mean and the **biased** variance (divided by
# $NHW$) over axes 0, 2 and 3 give $C$ numbers each.

# %%
bn = nn.BatchNorm2d(4)
with torch.no_grad():
    bn.weight.copy_(torch.tensor([1.0, 2.0, 0.5, 1.5]))  # gamma, so that it is tested too
    bn.bias.copy_(torch.tensor([0.0, -1.0, 1.0, 0.5]))  # beta
x = torch.randn(8, 4, 5, 5) * 3 + 2  # (N, C, H, W): mean 2, std 3

mu = x.mean(dim=(0, 2, 3), keepdim=True)  # (1, C, 1, 1)
var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
by_hand = bn.weight.view(1, -1, 1, 1) * (x - mu) / torch.sqrt(var + bn.eps) + bn.bias.view(
    1, -1, 1, 1
)
bn.train()
out = bn(x)
assert torch.allclose(out, by_hand, atol=1e-5)
normalised = (out - bn.bias.view(1, -1, 1, 1)) / bn.weight.view(1, -1, 1, 1)
assert torch.allclose(normalised.mean(dim=(0, 2, 3)), torch.zeros(4), atol=1e-5)
print("train mode: per-channel batch statistics, then gamma and beta == nn.BatchNorm2d")

# %% [markdown]
# The same forward pass updated the **running** statistics, with `momentum` 0.1:
#
# $$\text{running} \leftarrow (1 - 0.1)\,\text{running} + 0.1\,\text{batch},$$
#
# starting from mean 0 and variance 1 — and PyTorch updates the running variance with the
# **unbiased** batch variance (divided by $NHW - 1$), although it normalised with the biased
# one.

# %%
n = 8 * 5 * 5
assert torch.allclose(bn.running_mean, 0.9 * 0 + 0.1 * mu.flatten(), atol=1e-6)
assert torch.allclose(bn.running_var, 0.9 * 1 + 0.1 * var.flatten() * n / (n - 1), atol=1e-5)
assert bn.num_batches_tracked == 1

# %% [markdown]
# ## 2. In training mode, an image's output depends on its batch-mates
#
# Change the other seven images of the batch, and the first image's output changes — in
# training mode. In evaluation mode it does not: the statistics are the stored ones.

# %%
other = torch.cat([x[:1], torch.randn(7, 4, 5, 5) * 10])
assert not torch.allclose(bn(x)[0], bn(other)[0], atol=1e-3)
bn.eval()
assert torch.equal(bn(x)[0], bn(other)[0])
assert torch.equal(bn(x[:1])[0], bn(x)[0]), "eval: the same output alone or in a batch"

# %% [markdown]
# ## 3. Evaluation mode uses the running statistics
#
# In `eval()` BatchNorm is a fixed per-channel affine map, computed from `running_mean` and
# `running_var`, and the forward pass changes nothing. (Because it is affine, it can be folded
# into the preceding convolution's weights for deployment.)

# %%
running = bn.running_mean.clone(), bn.running_var.clone()
expected = bn.weight.view(1, -1, 1, 1) * (x - running[0].view(1, -1, 1, 1)) / torch.sqrt(
    running[1].view(1, -1, 1, 1) + bn.eps
) + bn.bias.view(1, -1, 1, 1)
assert torch.allclose(bn(x), expected, atol=1e-5)
assert torch.equal(bn.running_mean, running[0]) and torch.equal(bn.running_var, running[1])
print("eval mode: (x - running_mean) / sqrt(running_var + eps) * gamma + beta, nothing updated")

# %% [markdown]
# ## 4. What BatchNorm buys: large learning rates
#
# Without normalisation, the scale of each layer's output depends on all the weights before
# it; a large step in early layers changes the inputs of every later layer, and with a large
# learning rate the activations blow up. BatchNorm resets every channel to a fixed scale after
# each convolution, and makes a layer's output **invariant to the scale of its weights**: the
# loss surface becomes much better conditioned in practice (Santurkar et al. 2018), and plain
# SGD tolerates much larger steps.
#
# We train the same small CNN on 4,000 Fashion-MNIST images, with and without BatchNorm, at
# three learning rates of SGD with momentum, for 2 epochs each.

# %%
data = load_image_dataset("fashion-mnist")
mean, std = data.mean[0], data.std[0]
X_train = (data.train.images[:4000].float() / 255 - mean) / std  # (4000, 1, 28, 28)
Y_train = data.train.labels[:4000]
X_test = (data.test.images[:2000].float() / 255 - mean) / std
Y_test = data.test.labels[:2000]


def cnn(batchnorm: bool):
    def block(cin, cout):
        norm = nn.BatchNorm2d(cout) if batchnorm else nn.Identity()
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=not batchnorm), norm, nn.ReLU()]

    return nn.Sequential(
        *block(1, 16), nn.MaxPool2d(2),  # (B, 16, 14, 14)
        *block(16, 32), nn.MaxPool2d(2),  # (B, 32, 7, 7)
        *block(32, 32), nn.MaxPool2d(2),  # (B, 32, 3, 3)
        nn.Flatten(), nn.Linear(32 * 9, 10),
    )  # fmt: skip


def train(batchnorm, lr, epochs=2, max_steps=None):
    torch.manual_seed(0)
    model = cnn(batchnorm)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    generator, losses = torch.Generator().manual_seed(0), []
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(X_train), generator=generator).split(64)[:max_steps]:
            loss = F.cross_entropy(model(X_train[idx]), Y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item() if torch.isfinite(loss) else float("nan"))
    return model, losses


def accuracy(model, x=X_test, y=Y_test):
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


RATES = (0.01, 0.1, 0.5)
runs = {(bn_on, lr): train(bn_on, lr) for bn_on in (False, True) for lr in RATES}
scores = {}
for (bn_on, lr), (model, _) in runs.items():
    scores[bn_on, lr] = accuracy(model.eval())
    print(f"BatchNorm {'on ' if bn_on else 'off'} lr {lr:<5} test accuracy {scores[bn_on, lr]:.1%}")


def final_loss(bn_on, lr):
    """Mean training loss over the last 20 steps (NaN once the run has blown up)."""
    return torch.tensor(runs[bn_on, lr][1][-20:]).mean().item()


for lr in RATES:
    print(f"lr {lr}: final training loss {final_loss(False, lr):.3f} without, "
          f"{final_loss(True, lr):.3f} with BatchNorm")  # fmt: skip
    assert final_loss(True, lr) < final_loss(False, lr), "BatchNorm trains faster at every rate"
assert final_loss(True, 0.5) < 2.0, "with BatchNorm the largest rate still learns"
assert not final_loss(False, 0.5) < 2.2, "without it, it stays at chance (log 10 = 2.30) or NaN"
assert scores[False, 0.5] < 0.2 and scores[True, 0.1] > scores[False, 0.1]

# %% [markdown]
# With BatchNorm the loss falls faster at every rate, and at 0.5 — an effective step of 5 with
# momentum 0.9 — the network still learns, while without BatchNorm it never leaves chance
# level. Still, 0.5 is too large even with BatchNorm (43 % after two epochs): BatchNorm widens
# the range of learning rates that work, it does not remove the limit.

# %% [markdown]
# ## 5. When the running statistics lag
#
# The running averages are a trailing average of past batches, computed with *past* weights,
# and they start from mean 0 and variance 1: after $k$ steps those initial values still
# weigh $0.9^k$. While the weights move fast — early in training, in short runs, at a high
# learning rate — the averages lag behind, and evaluation mode normalises with statistics
# the current network no longer produces. The test accuracy then drops below what the same
# weights achieve with fresh statistics. The fix is cheap: after training, recompute the
# statistics with the final weights in one pass over training data, with `momentum=None` (a
# plain cumulative average) — what `torch.optim.swa_utils.update_bn` does for weight
# averaging.


# %%
def recalibrate(model, x, batch=256):
    """Replace every BatchNorm's running statistics by their average over `x`."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average instead of exponential
    model.train()
    with torch.no_grad():
        for chunk in x.split(batch):
            model(chunk)
    return model.eval()


model, _ = train(True, 0.1, epochs=1, max_steps=15)  # 15 steps: weights still move fast
before = accuracy(model.eval())
stale = 0.9**15  # the weight the initial statistics (mean 0, variance 1) still carry
after = accuracy(recalibrate(model, X_train))
print(f"after 15 steps the running statistics are {stale:.0%} their initial values; "
      f"test accuracy {before:.1%} -> {after:.1%} after recalibration")  # fmt: skip
assert after > before + 0.1

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), sharey=True)
for ax, lr in zip(axes, RATES, strict=True):
    for bn_on, color in [(False, "C3"), (True, "C0")]:
        losses = runs[bn_on, lr][1]
        label = f"{'with' if bn_on else 'without'} BatchNorm: {scores[bn_on, lr]:.0%} test"
        ax.plot(losses, color=color, lw=0.8, label=label)
    ax.set(xlabel="step (batch of 64)", title=f"SGD + momentum, lr = {lr}", ylim=(0, 3))
    ax.legend(fontsize=8)
axes[0].set_ylabel("training loss (gaps: not a number)")
fig.suptitle(
    "Fashion-MNIST CNN: BatchNorm trains faster at every rate, and survives one that stalls the plain net"
)
lesson.save(fig, "batchnorm-learning-rates.png")

# %% [markdown]
# ## Summary
#
# - `BatchNorm2d` normalises each channel over $(N, H, W)$, then applies $\gamma, \beta$.
# - Training mode: batch statistics (biased variance), and a running average updated with
#   momentum 0.1 (unbiased variance). An image's output depends on its batch.
# - Evaluation mode: the running statistics, a fixed affine map; nothing is updated.
#   Forgetting `model.eval()` makes predictions depend on the batch they come in.
# - BatchNorm lets plain SGD train at learning rates that make the same network diverge.
# - Running statistics lag fast-moving weights; recompute them after training when it
#   matters. With tiny batches (detection, segmentation) they are noisy: freeze them, or use
#   GroupNorm/LayerNorm, which do not depend on the batch.
#
# ## Exercises
#
# - `dllab lab start batchnorm` — BatchNorm's forward (train and eval) and backward in NumPy,
#   graded against `F.batch_norm`.
#
# To try here (not graded):
#
# 1. Evaluate a trained BatchNorm model in training mode, on test batches of 2, 16 and 256.
#    How does its accuracy depend on the batch size?
# 2. Put BatchNorm *after* the ReLU instead of before it. Does anything change at lr 0.5?
