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
# # 03-06 · EfficientNet: accuracy per multiply-add
#
# ResNet (lesson 03-01) made depth trainable. The next question was cost: phones and CPUs
# cannot afford ResNet-50's 4 billion multiply-adds per image. **EfficientNet** (Tan & Le
# 2019) reached better ImageNet accuracy than ResNet-50 with a tenth of the compute, from
# four ideas that this lesson takes apart and checks one by one:
#
# 1. **depthwise separable convolutions** (MobileNet, 2017): a k x k convolution split into a
#    per-channel spatial filter and a 1 x 1 channel mixer;
# 2. the **MBConv** block (MobileNetV2, 2018): expand with 1 x 1, filter depthwise, project
#    back with a *linear* 1 x 1, and add the input;
# 3. **squeeze-and-excitation** (Hu et al. 2018): a tiny side network that reweights
#    channels from a global summary of the image;
# 4. **compound scaling**: grow depth, width and resolution together, by fixed ratios.
#
# We use dllab's `efficientnet-lite0`, the variant made for mobile CPUs (no
# squeeze-and-excitation, ReLU6 instead of swish), with its ImageNet weights.

# %%
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
import torchvision
from skimage import data as photos
from torch import nn
from torchvision.models._meta import _IMAGENET_CATEGORIES as IMAGENET_CLASSES

from dllab.models import create_model
from dllab.models.efficientnet_lite import STAGES, MBConv, imagenet_input
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("03-06-efficientnet")
torch.manual_seed(0)


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def count_macs(model, x):
    """Multiply-adds of one forward pass through conv and linear layers (forward hooks)."""
    total = []

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            total.append(output.numel() * module.in_channels // module.groups * k)
        else:
            total.append(output.numel() * module.in_features)

    layers = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    handles = [m.register_forward_hook(hook) for m in layers]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return sum(total)


# %% [markdown]
# ## 1. Depthwise separable convolution
#
# A standard k x k convolution from $C_{in}$ to $C_{out}$ channels mixes space and channels at
# once: $k^2 C_{in} C_{out}$ weights. A **depthwise** convolution (`groups=C_in`) filters each
# channel on its own ($k^2 C_{in}$ weights); a **pointwise** 1 x 1 convolution then mixes
# channels ($C_{in} C_{out}$). Together they cost
#
# $$\frac{k^2 C_{in} + C_{in} C_{out}}{k^2 C_{in} C_{out}} = \frac{1}{C_{out}} + \frac{1}{k^2}$$
#
# of the standard convolution — about 1/9 for 3 x 3 kernels and many channels. The price: the
# pair can only express standard convolutions whose weight factorises as
# $W_{oi}(u, v) = P_{oi}\,D_i(u, v)$. We check the counts, and that the pair equals a standard
# convolution with exactly that weight.

# %%
C_in, C_out, k = 64, 128, 3
standard = nn.Conv2d(C_in, C_out, k, padding=1, bias=False)
depthwise = nn.Conv2d(C_in, C_in, k, padding=1, groups=C_in, bias=False)
pointwise = nn.Conv2d(C_in, C_out, 1, bias=False)
separable = nn.Sequential(depthwise, pointwise)

x = torch.randn(1, C_in, 28, 28)
costs = {
    "standard 3x3": (n_params(standard), count_macs(standard, x)),
    "depthwise + pointwise": (n_params(separable), count_macs(separable, x)),
}
for name, (p, m) in costs.items():
    print(f"{name:22s} {p:7,} weights {m / 1e6:6.2f} M multiply-adds at 28 x 28")
ratio = costs["depthwise + pointwise"][0] / costs["standard 3x3"][0]
assert costs["standard 3x3"][0] == k * k * C_in * C_out
assert abs(ratio - (1 / C_out + 1 / k**2)) < 1e-12
assert costs["depthwise + pointwise"][1] / costs["standard 3x3"][1] == ratio  # MACs: same ratio

D = depthwise.weight[:, 0]  # (C_in, k, k)
P = pointwise.weight[:, :, 0, 0]  # (C_out, C_in)
factorised = P[:, :, None, None] * D[None]  # (C_out, C_in, k, k): W_oi(u, v) = P_oi D_i(u, v)
with torch.no_grad():
    assert torch.allclose(separable(x), F.conv2d(x, factorised, padding=1), atol=1e-5)
print(f"separable = a standard conv with a factorised weight, at {ratio:.1%} of the weights")

# %% [markdown]
# ## 2. The MBConv block
#
# MobileNetV2's **inverted residual**: a 1 x 1 convolution *expands* $C$ channels to $6C$,
# a depthwise k x k filters them cheaply in that wide space, and a 1 x 1 convolution
# *projects* back to few channels — with **no activation** after it (a "linear bottleneck":
# a ReLU on a narrow representation destroys information). When the shape is unchanged the
# input is added, as in ResNet, but between the *narrow* ends. We count one of Lite0's blocks
# by hand (each convolution has a BatchNorm: 2 parameters per channel) and check that a block
# whose projection is zero is the identity.

# %%
block = MBConv(40, 40, kernel=5, stride=1, expand=6).eval()
hidden = 40 * 6
by_hand = (
    40 * hidden + 2 * hidden  # expand 1x1 + BN
    + 5 * 5 * hidden + 2 * hidden  # depthwise 5x5 + BN
    + hidden * 40 + 2 * 40  # project 1x1 + BN
)  # fmt: skip
assert n_params(block) == by_hand and block.residual
x40 = torch.randn(2, 40, 14, 14)
with torch.no_grad():
    block.project.bn.weight.zero_()  # the projection's BatchNorm scale: output 0 + shift 0
    assert torch.equal(block(x40), x40), "residual MBConv with a zero branch is the identity"
plain_pair = 2 * 9 * 40 * 40  # two standard 3x3 convs at 40 channels, ResNet's basic block
print(f"MBConv(40, k=5, expand 6): {by_hand:,} parameters; a ResNet basic block: {plain_pair:,}")

# %% [markdown]
# ## 3. Squeeze-and-excitation
#
# EfficientNet-B0's blocks (not the Lite variants, which drop it to stay quantisation-friendly)
# end with **squeeze-and-excitation**: average each channel over the whole image (*squeeze*:
# a $C$-vector that summarises the image), pass it through a small bottleneck MLP with a
# sigmoid (*excitation*: one gate in (0, 1) per channel), and multiply each channel by its
# gate. Every channel can now be turned up or down depending on what is in the *whole* image,
# which a convolution, seeing only its window, cannot do. We write it and check the three
# properties: the output is the input times a per-channel gate, the gate is in (0, 1), and it
# costs almost nothing next to the convolutions.


# %%
class SqueezeExcitation(nn.Module):
    """x * sigmoid(W2 act(W1 mean_hw(x))): a gate per (image, channel)."""

    def __init__(self, channels: int, squeezed: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, squeezed, 1)  # 1x1 conv on (B, C, 1, 1) = linear
        self.expand = nn.Conv2d(squeezed, channels, 1)

    def gates(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)  # (B, C, 1, 1): squeeze
        return torch.sigmoid(self.expand(F.silu(self.reduce(s))))  # (B, C, 1, 1): excite

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gates(x)


se = SqueezeExcitation(hidden, squeezed=10)  # B0 squeezes to 1/4 of the block's input: 40/4
h = torch.randn(2, hidden, 14, 14)
with torch.no_grad():
    g = se.gates(h)
    assert g.shape == (2, hidden, 1, 1) and bool(((g > 0) & (g < 1)).all())
    assert torch.allclose(se(h), h * g)
    assert not torch.allclose(se.gates(h[:1]), se.gates(h[1:])), "gates depend on the image"
se_macs = count_macs(se, h[:1])
conv_macs = count_macs(MBConv(40, 40, kernel=5, stride=1, expand=6), torch.randn(1, 40, 14, 14))
print(f"SE: {n_params(se):,} parameters, {se_macs:,} MACs = {se_macs / conv_macs:.2%} of the block")
assert se_macs < 0.01 * conv_macs

# %% [markdown]
# ## 4. Compound scaling
#
# To make a network more accurate one can make it deeper ($d$), wider ($w$) or feed it larger
# images ($r$). Scaling only one saturates quickly; EfficientNet scales all three together:
# $d = \alpha^\phi$, $w = \beta^\phi$, $r = \gamma^\phi$, with $\alpha = 1.2$, $\beta = 1.1$,
# $\gamma = 1.15$ found by a small grid search on B0. A convolution's cost grows with depth,
# with the *square* of width (input and output channels) and the square of resolution, so
# FLOPs grow by $(\alpha \beta^2 \gamma^2)^\phi \approx 2^\phi$: each step of $\phi$ doubles
# the compute. We check the resolution part on Lite0 itself: twice the side, four times the
# multiply-adds (from 160 to 320 px; at 112 px the fixed cost of the classifier and maps that
# round up to 4 x 4 make the ratio a little smaller).

# %%
alpha, beta, gamma = 1.2, 1.1, 1.15
assert abs(alpha * beta**2 * gamma**2 - 1.92) < 0.01
model = create_model("efficientnet-lite0", pretrained=True).eval()
sides = [112, 160, 224, 288, 320]
macs = {s: count_macs(model, torch.zeros(1, 3, s, s)) for s in sides}
for s in sides:
    print(f"{s} px: {macs[s] / 1e9:.3f} G multiply-adds")
assert 0.38e9 < macs[224] < 0.41e9, "the paper's 0.39 G"
assert abs(macs[320] / macs[160] - 4) < 0.1, "cost grows with the square of the side"

# %% [markdown]
# ## 5. What it buys: Lite0 against ResNet-18
#
# ResNet-18 (torchvision, random weights — only its size matters here) reaches 69.8 % top-1 on
# ImageNet; EfficientNet-Lite0 reaches 75.1 % (the reference numbers of the two weight
# releases). We count both, time both on one CPU thread — and find the second lesson of
# efficient networks: multiply-adds are not time. A depthwise convolution does $k^2$
# multiply-adds per value it reads, a standard one $k^2 C_{in}$, so depthwise layers are
# limited by memory traffic, and the speed-up is smaller than the MAC ratio.

# %%
resnet18 = torchvision.models.resnet18(weights=None).eval()
x224 = torch.zeros(1, 3, 224, 224)
sizes = {
    "EfficientNet-Lite0": (n_params(model), macs[224]),
    "ResNet-18": (n_params(resnet18), count_macs(resnet18, x224)),
}


def seconds(net, repeats=5):
    with torch.no_grad():
        net(x224)  # warm up
        start = time.perf_counter()
        for _ in range(repeats):
            net(x224)
    return (time.perf_counter() - start) / repeats


times = {"EfficientNet-Lite0": seconds(model), "ResNet-18": seconds(resnet18)}
for name, (p, m) in sizes.items():
    print(
        f"{name:18s} {p / 1e6:5.2f} M parameters {m / 1e9:5.2f} G MACs {times[name] * 1e3:6.1f} ms"
    )
mac_ratio = sizes["ResNet-18"][1] / sizes["EfficientNet-Lite0"][1]
speed_ratio = times["ResNet-18"] / times["EfficientNet-Lite0"]
assert sizes["EfficientNet-Lite0"][0] == 4_652_008 and sizes["ResNet-18"][0] == 11_689_512
assert mac_ratio > 4, "Lite0 needs less than a quarter of ResNet-18's multiply-adds"
assert speed_ratio < mac_ratio, "but it is not that much faster: depthwise convs are memory-bound"

# %% [markdown]
# And the weights work: the photograph of Chelsea the cat, preprocessed as the weights expect
# (`imagenet_input`: resize, centre crop, normalise), is a cat.

# %%
with torch.no_grad():
    probs = model(imagenet_input(photos.chelsea())).softmax(1)[0]
top3 = probs.topk(3)
print("Chelsea:", [f"{IMAGENET_CLASSES[i]} {p:.0%}" for p, i in zip(*top3, strict=True)])
assert IMAGENET_CLASSES[int(probs.argmax())] in {"tabby", "tiger cat", "Egyptian cat"}

# %%
stage_macs = []
with torch.no_grad():
    y = model.stem(x224)
    for stage in model.stages:
        stage_macs.append(count_macs(stage, y) / 1e6)
        y = stage(y)
fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 4.3))
names = list(costs)
ax1.bar(names, [costs[n][0] / 1e3 for n in names], color=["C3", "C0"])
ax1.set(ylabel="thousand weights (64 -> 128 channels)")
ax1.set_title(f"Depthwise separable: {ratio:.1%} of a 3x3 conv's weights")
ax2.plot(sides, [macs[s] / 1e9 for s in sides], "o-", label="measured")
ax2.plot(sides, [macs[224] / 1e9 * (s / 224) ** 2 for s in sides], "k:", label="∝ side²")
ax2.set(xlabel="input side (px)", ylabel="G multiply-adds")
ax2.set_title("Lite0's cost grows with resolution squared")
ax2.legend(fontsize=8)
labels = [f"{i + 1}\n{s[4]}ch" for i, s in enumerate(STAGES)]
ax3.bar(labels, stage_macs, color="C2")
ax3.set(xlabel="stage (output channels)", ylabel="M multiply-adds at 224 px")
ax3.set_title(f"Lite0 per stage: {sizes['EfficientNet-Lite0'][1] / 1e9:.2f} G in all; ResNet-18: "
              f"{sizes['ResNet-18'][1] / 1e9:.2f} G")  # fmt: skip
fig.suptitle("Where EfficientNet-Lite0's efficiency comes from")
lesson.save(fig, "efficientnet-costs.png")

# %% [markdown]
# ## Summary
#
# - Depthwise separable convolution = depthwise k x k + pointwise 1 x 1: $1/C_{out} + 1/k^2$
#   of the weights and multiply-adds, for factorised filters.
# - MBConv: expand, depthwise, *linear* project, residual between the narrow ends.
# - Squeeze-and-excitation gates channels from a global summary, for under 1 % of the
#   compute; Lite drops it (and swish) for mobile CPUs and quantisation.
# - Compound scaling grows depth, width and resolution together: FLOPs double per step of
#   $\phi$. Resolution alone costs its square.
# - Lite0: 4.65 M parameters and 0.39 G MACs, 75.1 % ImageNet top-1, against ResNet-18's
#   11.7 M, 1.8 G and 69.8 %. Fewer MACs is not proportionally less time: measure.
#
# Fine-tune it from its ImageNet weights with `dllab run fashion-mnist-finetune` (the recipe
# shows the model's `pretrained`, `regime` and `backbone_lr_mult` settings).
#
# ## Exercises
#
# - `dllab lab start conv2d` — the standard convolution; afterwards, in your own copy, add
#   `groups` (a depthwise convolution is `groups == C_in`).
# - `dllab lab start residual_block` — the same shortcut logic MBConv uses.
#
# To try here (not graded):
#
# 1. Build the standard convolution `factorised` for a *random* (C_out, C_in, 3, 3) weight
#    instead. Can any depthwise + pointwise pair reproduce it? Count the degrees of freedom.
# 2. Time `depthwise` and `standard` from section 1 on a 56 x 56 input. Which one does more
#    multiply-adds per millisecond?
