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
# # 03-01 · From LeNet to ResNet: what each change bought
#
# Four networks mark the road from the first practical CNN to the architectures used today:
#
# | year | network | the change |
# |---|---|---|
# | 1998 | **LeNet-5** (LeCun et al.) | convolution + subsampling + a small classifier, tanh |
# | 2012 | **AlexNet** (Krizhevsky et al.) | ReLU, max-pooling, dropout, much wider — and GPUs |
# | 2014 | **VGG** (Simonyan & Zisserman) | only 3 x 3 convolutions, stacked: deeper for the same field of view |
# | 2015 | **ResNet** (He et al.) | residual shortcuts + BatchNorm: depth that trains; a global-average-pool head |
#
# We build a small version of each for Fashion-MNIST (28 x 28 grey photos of clothes,
# 10 classes), count what each costs — parameters and multiply-adds — and train each for the
# **same short budget**: 3 epochs over 4,000 images. Then we isolate the change that can be
# seen even at this scale: shortcuts and BatchNorm against a plain deep stack.

# %%
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from dllab.data.vision import load_image_dataset
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("03-01-lenet-to-resnet")

# %% [markdown]
# ## 1. The data
#
# `load_image_dataset` finds Fashion-MNIST where dllab looks for data (Debian's
# `dataset-fashion-mnist` installs it under `/usr/share/datasets`), checks its checksums, and
# returns uint8 tensors. We take 4,000 training and 2,000 test images and standardise them
# with the training split's mean and standard deviation.

# %%
data = load_image_dataset("fashion-mnist")
mean, std = data.mean[0], data.std[0]


def prepare(split, n):
    return (split.images[:n].float() / 255 - mean) / std, split.labels[:n]


X_train, Y_train = prepare(data.train, 4000)  # (4000, 1, 28, 28)
X_test, Y_test = prepare(data.test, 2000)
print(f"classes: {data.classes}")
assert X_train.shape == (4000, 1, 28, 28) and torch.bincount(Y_train).min() > 300

# %% [markdown]
# ## 2. Four networks
#
# **LeNet-5** as in 1998: 5 x 5 convolutions with 6 and 16 channels, tanh, average-pool
# subsampling, and three fully connected layers (120, 84, 10).


# %%
def lenet(activation=nn.Tanh, pool=nn.AvgPool2d):
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), activation(), pool(2),  # C1, S2: (B, 6, 14, 14)
        nn.Conv2d(6, 16, 5), activation(), pool(2),  # C3, S4: (B, 16, 5, 5)
        nn.Flatten(),  # (B, 400)
        nn.Linear(400, 120), activation(),  # C5
        nn.Linear(120, 84), activation(),  # F6
        nn.Linear(84, 10),
    )  # fmt: skip


# %% [markdown]
# **AlexNet-style**: LeNet's skeleton with AlexNet's changes — ReLU instead of tanh, max-pooling
# instead of averaging, dropout in the classifier, and more channels (16 and 32). The original
# had 5 convolutions and 60 M parameters for 224 px ImageNet photos; ours keeps the ideas.


# %%
def alexnet_style():
    return nn.Sequential(
        nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # (B, 16, 14, 14)
        nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 7, 7)
        nn.Flatten(), nn.Dropout(0.5),  # (B, 1568)
        nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(128, 10),
    )  # fmt: skip


# %% [markdown]
# **VGG-style**: every 5 x 5 convolution becomes **two 3 x 3** convolutions. Two stacked 3 x 3
# layers see the same 5 x 5 patch of the input as one 5 x 5 layer, with
# $2 \cdot 9C^2 = 18C^2$ weights instead of $25C^2$, and with a ReLU in between — more
# nonlinearity for fewer weights. We check both claims: the weights by counting, the field of
# view by asking autograd which input pixels one output pixel depends on.

# %%
C = 32
one_5x5 = nn.Conv2d(C, C, 5, padding=2, bias=False)
two_3x3 = nn.Sequential(
    nn.Conv2d(C, C, 3, padding=1, bias=False), nn.Conv2d(C, C, 3, padding=1, bias=False)
)
n5, n3 = (sum(p.numel() for p in m.parameters()) for m in (one_5x5, two_3x3))
print(f"{C} -> {C} channels: one 5x5 has {n5:,} weights, two 3x3 have {n3:,}")
assert n5 == 25 * C * C and n3 == 18 * C * C


def receptive_field(layers):
    """Side of the input patch that output pixel (8, 8) depends on."""
    x = torch.randn(1, C, 17, 17, requires_grad=True)
    layers(x)[0, :, 8, 8].sum().backward()
    rows, cols = (x.grad[0].abs().sum(0) > 0).nonzero(as_tuple=True)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


assert receptive_field(one_5x5) == receptive_field(two_3x3) == (5, 5)


# %%
def vgg_style():
    def conv(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU()]

    return nn.Sequential(
        *conv(1, 16), *conv(16, 16), nn.MaxPool2d(2),  # (B, 16, 14, 14)
        *conv(16, 32), *conv(32, 32), nn.MaxPool2d(2),  # (B, 32, 7, 7)
        nn.Flatten(), nn.Dropout(0.5),
        nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(128, 10),
    )  # fmt: skip


# %% [markdown]
# **ResNet-style**. Stacking more layers stopped helping around 20 layers: deeper *plain*
# networks trained to a *higher* training error (He et al. 2015, figure 1), an optimisation
# problem, not overfitting. The fix is the **residual block**: it computes $x + F(x)$, so a
# block that has nothing useful to add can stay near the identity, and the gradient has a path
# that skips every block. Each convolution is followed by **BatchNorm** (lesson 03-02), and the
# big fully connected classifier is replaced by **global average pooling**: one number per
# channel, then a single linear layer.
#
# Ours has a 3 x 3 stem, three blocks of 8 channels at 14 x 14 and three of 16 at 7 x 7: 13
# convolutions and a linear layer, "ResNet-14". `plain=True` builds the same network with no
# shortcuts and no BatchNorm — the "plain" network of the paper.


# %%
class Block(nn.Module):
    """ResNet's basic block: relu(x + bn(conv(relu(bn(conv(x)))))), or without x and bn."""

    def __init__(self, cin: int, cout: int, stride: int, plain: bool) -> None:
        super().__init__()
        norm = nn.Identity if plain else nn.BatchNorm2d
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=plain)
        self.bn1 = norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=plain)
        self.bn2 = norm(cout)
        self.plain = plain
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:  # 1x1 projection so the shapes match
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), norm(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y) if self.plain else F.relu(y + self.shortcut(x))


def resnet_style(plain=False, width=8, n=3):
    blocks = [Block(width, width, 1, plain) for _ in range(n)]  # (B, 8, 14, 14)
    blocks += [Block(width, 2 * width, 2, plain)]  # (B, 16, 7, 7)
    blocks += [Block(2 * width, 2 * width, 1, plain) for _ in range(n - 1)]
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1, bias=plain),
        nn.Identity() if plain else nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.MaxPool2d(2),  # (B, 8, 14, 14)
        *blocks,
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # (B, 16): global average pooling
        nn.Linear(2 * width, 10),
    )  # fmt: skip


# %% [markdown]
# ## 3. What each costs
#
# **Parameters** decide memory and how much data a network needs; **multiply-adds** (MACs)
# per image decide compute time. A convolution's MACs are its output size times the weights
# each output uses, $H_{out} W_{out} C_{out} \cdot C_{in} k^2$; we measure them with forward
# hooks. LeNet's count is easy to check by hand: $6(25+1) + 16(6 \cdot 25 + 1) +
# (400 \cdot 120 + 120) + (120 \cdot 84 + 84) + (84 \cdot 10 + 10) = 61{,}706$.


# %%
def count_macs(model, shape=(1, 1, 28, 28)):
    """Multiply-adds of one forward pass, from the conv and linear layers."""
    total = []

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            per_output = module.in_channels // module.groups * module.kernel_size[0] ** 2
            total.append(output[0].numel() * per_output)
        else:
            total.append(module.in_features * module.out_features)

    layers = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    handles = [m.register_forward_hook(hook) for m in layers]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(shape))
    for h in handles:
        h.remove()
    return sum(total)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


NETS = {
    "LeNet-5 (1998)": lenet,
    "AlexNet-style (2012)": alexnet_style,
    "VGG-style (2014)": vgg_style,
    "ResNet-14 (2015)": resnet_style,
}
costs = {name: (n_params(make()), count_macs(make())) for name, make in NETS.items()}
for name, (p, m) in costs.items():
    print(f"{name:22s} {p:8,} parameters {m / 1e6:6.2f} M multiply-adds per image")
assert costs["LeNet-5 (1998)"][0] == 6 * 26 + 16 * 151 + 48120 + 10164 + 850 == 61_706
assert count_macs(nn.Conv2d(1, 6, 5, padding=2)) == 28 * 28 * 6 * 25
# The classifier holds most of AlexNet's and VGG's weights; pooling away the map removes it.
fc = 32 * 7 * 7 * 128 + 128
assert fc / costs["VGG-style (2014)"][0] > 0.9
assert costs["ResNet-14 (2015)"][0] < costs["VGG-style (2014)"][0] / 10

# %% [markdown]
# ## 4. The same budget for each
#
# Each network trains for 3 epochs with Adam (learning rate $3 \times 10^{-3}$, batches of
# 128: 96 steps), from the same seed, on the same batches, and is then tested on 2,000
# unseen images. We keep the training loss of every step.


# %%
def train(make, epochs=3, lr=3e-3):
    torch.manual_seed(0)
    model = make()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator, losses = torch.Generator().manual_seed(0), []
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(X_train), generator=generator).split(128):
            loss = F.cross_entropy(model(X_train[idx]), Y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        accuracy = (model(X_test).argmax(1) == Y_test).float().mean().item()
    return losses, accuracy


results = {name: train(make) for name, make in NETS.items()}
for name, (losses, accuracy) in results.items():
    print(f"{name:22s} test accuracy {accuracy:.1%}, last-epoch loss {sum(losses[-32:]) / 32:.3f}")
assert all(accuracy > 0.6 for _, accuracy in results.values())

accuracies = [accuracy for _, accuracy in results.values()]
assert max(accuracies) - min(accuracies) < 0.15
assert results["LeNet-5 (1998)"][1] > max(accuracies) - 0.03

# %% [markdown]
# At this budget the four are within a few points of each other, the oldest, smallest network
# is among the best, and ResNet-14 — with a thirteenth of VGG's weights, whose 16 averaged
# features and BatchNorm statistics need more than 96 steps to settle — comes last. That is
# the honest result, and the first lesson of the comparison: the later designs did not win on
# 4,000 small images and 96 steps. They won on ImageNet — 1.2 M photos of 224 px in 1,000
# classes — where a network needs depth and width to have the capacity, and where what
# matters is whether such a network can be **trained** at all.
#
# The same goes for ReLU. AlexNet's paper reports that its ReLU network reached 25 % training
# error six times faster than with tanh, because tanh saturates: for $|z| > 2$ its slope is
# below 0.07, while ReLU's is 1 wherever it is active. That was a deeper network trained with
# plain SGD; swap the activation in our 5-layer LeNet, trained with Adam, and you will find
# no such gap (try it: `lenet(nn.ReLU, nn.MaxPool2d)`). Adam rescales every weight's step,
# which hides small gradients, and 5 layers are too few for them to compound.

# %% [markdown]
# ## 5. What shortcuts and BatchNorm bought: depth that trains
#
# The same 14-layer network, once with shortcuts and BatchNorm and once plain: the same number
# of weights (up to BatchNorm's), the same data and optimiser. This change is visible even at
# our scale.

# %%
plain = train(lambda: resnet_style(plain=True))
residual = results["ResNet-14 (2015)"]
print(f"14 layers: plain {plain[1]:.1%}, residual + BatchNorm {residual[1]:.1%}")
assert abs(n_params(resnet_style(plain=True)) - n_params(resnet_style())) < 500
assert plain[1] < 0.5 and residual[1] > plain[1] + 0.25

# %% [markdown]
# The plain stack barely moves: its signal and gradient shrink through 13 layers of default
# initialisation (lesson 01-07 measured this layer by layer), so the first layers learn
# almost nothing in 96 steps. With shortcuts and BatchNorm, the same depth trains from the
# first step. That is what let ResNet go to 152 layers — and what every later network, from
# EfficientNet (lesson 03-06) to the Transformer, kept.

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
for i, (name, (p, m)) in enumerate(costs.items()):
    accuracy = results[name][1]
    ax1.scatter(p, accuracy, s=40 + m / 2e4, color=f"C{i}", label=f"{name}: {m / 1e6:.1f} M MACs")
    offset = (6, 6) if i % 2 == 0 else (6, -14)  # AlexNet and VGG sit on top of each other
    ax1.annotate(name.split(" ")[0], (p, accuracy), textcoords="offset points", xytext=offset)
ax1.scatter(n_params(resnet_style(plain=True)), plain[1], marker="x", color="k", label="plain-14")
ax1.set(xscale="log", xlabel="parameters (log scale)", ylabel="test accuracy", ylim=(0, 1))
ax1.set_title("Same budget (96 steps): parameters vs test accuracy")
ax1.legend(fontsize=7, loc="lower right", title="marker area ~ multiply-adds", title_fontsize=7)


def smooth(values, k=8):
    return [sum(values[max(0, i - k + 1) : i + 1]) / len(values[max(0, i - k + 1) : i + 1]) for i in range(len(values))]  # fmt: skip


curves = {n: r[0] for n, r in results.items()}
curves["plain-14 (no shortcuts, no BN)"] = plain[0]
for i, (name, losses) in enumerate(curves.items()):
    style = {"color": "k", "ls": "--"} if name.startswith("plain") else {"color": f"C{i}"}
    ax2.plot(smooth(losses), label=name, **style)
ax2.set(xlabel="step (batch of 128)", ylabel="training loss (8-step mean)")
ax2.set_title("Training curves: four designs learn alike; plain depth stalls")
ax2.legend(fontsize=7)
lesson.save(fig, "lenet-to-resnet.png")

# %% [markdown]
# ## Summary
#
# | change | what it bought | seen here |
# |---|---|---|
# | ReLU (AlexNet) | non-saturating gradients: faster training of deep nets with SGD | — at this depth, with Adam |
# | max-pool, dropout, width (AlexNet) | capacity with regularisation, for large data | — at this scale |
# | stacked 3 x 3 (VGG) | the same field of view with 28 % fewer weights and more nonlinearity | counted |
# | shortcuts + BatchNorm (ResNet) | depth that trains | plain-14 stalls, ResNet-14 trains |
# | global average pooling (ResNet) | a classifier with few weights | 10x fewer parameters than VGG |
#
# dllab's registry has full-size versions of these networks (`lenet5`, `alexnet-small`,
# `vgg11`…`vgg19-bn`, `resnet20`, `resnet18`…), built for 28-32 px images:
# `dllab.models.create_model("resnet20")`.
#
# ## Exercises
#
# - `dllab lab start residual_block` — ResNet's basic block with its shortcut, checked in
#   train and eval mode.
# - `dllab lab start conv2d` — the convolution itself, in NumPy.
#
# To try here (not graded):
#
# 1. Train every network for 15 epochs on all 54,000 training images (on a GPU, or with
#    patience). Which order do they finish in now?
# 2. Give `plain-14` BatchNorm but no shortcuts. How much of the gap does BatchNorm close?
