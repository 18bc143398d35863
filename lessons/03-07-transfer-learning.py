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
# # 03-07 · Transfer learning: frozen features, feature maps, and BatchNorm when fine-tuning
#
# A network trained on ImageNet's 1.3 million photos has learnt, in its convolutional
# **backbone**, features that are useful far beyond ImageNet's 1,000 classes: edges and
# colours in the first layers, textures and parts in the middle, object-like detectors at the
# end. **Transfer learning** keeps that backbone and puts a new classifier on top. There are
# three regimes, and dllab has a recipe for each (`fashion-mnist-probe`, `-finetune`,
# `-scratch`, all on EfficientNet-Lite0, lesson 03-06):
#
# - **linear probe**: freeze the backbone, train only a new linear classifier on its pooled
#   features — cheap, and a direct measure of how good the frozen features are;
# - **fine-tuning**: train everything, the backbone at a smaller learning rate;
# - **from scratch**: random weights, the baseline pretraining is measured against.
#
# This lesson measures what the frozen features are worth (against the same network with
# random weights), looks at the feature maps of a photo, and shows the trap that makes
# fine-tuning with small batches fail: BatchNorm's running statistics.

# %%
from itertools import pairwise

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from skimage import data as photos
from sklearn.linear_model import RidgeClassifierCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torchvision.models._meta import _IMAGENET_CATEGORIES as IMAGENET_CLASSES

from dllab.data.vision import load_image_dataset
from dllab.models import create_model
from dllab.models.efficientnet_lite import imagenet_input
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("03-07-transfer-learning")
torch.set_num_threads(1)  # small batches: one thread is fastest on a busy machine

# %% [markdown]
# ## 1. A linear probe: frozen ImageNet features against frozen random ones
#
# We take 20 Fashion-MNIST images per class — few-shot, like dllab's recipes (10 a class) —
# and 300 test images. Each image is upsampled from 28 to 48 pixels (at stride 32 a 28-pixel
# input would end the backbone at 1 x 1) and normalised as the ImageNet weights expect, with mean
# and std 0.5. `in_channels=1` gives a grey stem: the three RGB filters of the first
# convolution summed, which is exactly the RGB network on a grey image copied to R, G and B.
#
# The backbone runs once, in `eval()` mode and without gradients: `model.features(x)` is the
# pooled `(B, 1280)` vector the classifier would see. The probe is a ridge classifier (a
# linear map fitted in closed form to one-hot targets, its penalty chosen by leave-one-out
# cross-validation on the training images only) — the recipe trains a softmax classifier
# with AdamW instead; both are a linear layer on frozen features.
#
# The control is the same architecture with **random** weights, frozen just the same: any
# gap between the two is what ImageNet taught the backbone. Random weights differ from seed to
# seed, and so does a probe on them: we draw two. A last baseline is the same probe on the
# raw 784 pixels.

# %%
data = load_image_dataset("fashion-mnist")


def per_class(split, n):
    """The first n images of each class of a split: (10 n, 1, 28, 28) uint8, (10 n,)."""
    idx = torch.cat([torch.nonzero(split.labels == c).flatten()[:n] for c in range(10)])
    return split.images[idx], split.labels[idx]


x_train, y_train = per_class(data.train, 20)  # 200 labelled images
x_test, y_test = per_class(data.test, 30)  # 300 test images


def backbone_input(images, size=48):
    """uint8 (B, 1, 28, 28) -> float (B, 1, size, size), (x - 0.5) / 0.5 on the 0..1 scale."""
    x = F.interpolate(images.float() / 255, size=size, mode="bilinear", align_corners=False)
    return ((x - 0.5) / 0.5).contiguous(memory_format=torch.channels_last)  # NHWC: faster here


def probe(train_features, test_features):
    """Test accuracy of a linear classifier fitted on the training features."""
    clf = make_pipeline(StandardScaler(), RidgeClassifierCV(alphas=np.logspace(-1, 4, 11)))
    clf.fit(train_features, y_train.numpy())
    return clf.score(test_features, y_test.numpy())


def random_backbone(seed):
    torch.manual_seed(seed)
    return create_model("efficientnet-lite0", in_channels=1, num_classes=10)


backbones = {
    "random weights, seed 0": random_backbone(0),
    "random weights, seed 1": random_backbone(1),
    "ImageNet weights": create_model("efficientnet-lite0", in_channels=1, pretrained=True),
}
accuracy = {"raw pixels": probe(x_train.flatten(1).float(), x_test.flatten(1).float())}
with torch.no_grad():
    for name, model in backbones.items():
        model = model.eval().to(memory_format=torch.channels_last)
        features = [model.features(backbone_input(x)).numpy() for x in (x_train, x_test)]
        accuracy[f"frozen, {name}"] = probe(*features)
for name, acc in accuracy.items():
    print(f"linear probe on {name:33s}: {acc:.1%} test accuracy (20 images per class)")
imagenet = accuracy["frozen, ImageNet weights"]
random_best = max(accuracy[f"frozen, random weights, seed {i}"] for i in (0, 1))
assert imagenet > random_best + 0.08, "pretraining beats random weights, whatever their seed"
assert 0 < imagenet - accuracy["raw pixels"] < 0.08, "... but beat the pixels by little"

# %% [markdown]
# The same network, frozen, classifies over 10 points better with ImageNet's weights than
# with either draw of random weights: that gap is what pretraining put into the features. But
# the probe is only a few points ahead of a linear model on the raw pixels — on 300 test
# images, where one image is a third of a point, not far beyond the noise. Fashion-MNIST is far
# from ImageNet — grey, 28 pixels, every item centred on black — and on such centred
# thumbnails the pixels themselves are already good features. Frozen features carry over as
# far as the new images resemble the old ones; for the rest, the backbone must adapt.
#
# dllab's recipes measured the three regimes on the full test set, with 10 training images per
# class and 100 optimizer steps each (`benchmarks/transfer.py`, three seeded subsets, on a
# shared CPU): fine-tuning **0.714**, the linear probe 0.678, from scratch 0.501; at 50 a class
# 0.802, 0.777 and 0.590; at 500 a class (300 steps) 0.842, 0.830 and 0.698. There the probe
# (a new linear head on frozen features, trained on augmented 64 px batches) is well ahead of
# scratch, and fine-tuning, which lets the backbone adapt to grey thumbnails, is ahead of the
# probe on every seed. What pretraining buys shrinks as labels grow (+0.21 at 10 a class, +0.14
# at 500): the more data of its own a model sees, the less a prior matters. Those are the
# recipes' numbers, not computed here.

# %%
fig, ax = plt.subplots(figsize=(9.5, 3.8))
names = list(accuracy)
bars = ax.barh(names, [accuracy[n] for n in names], color=["0.6", "C3", "C3", "C0"])
ax.bar_label(bars, labels=[f"{accuracy[n]:.1%}" for n in names], padding=3)
ax.axvline(0.1, color="k", ls=":", lw=1, label="chance (10 classes)")
ax.set(xlim=(0, 1), xlabel="test accuracy (300 Fashion-MNIST images)")
ax.legend(loc="lower right", fontsize=8)
ax.set_title("Linear probe on 20 images a class: ImageNet features beat random ones by far")
lesson.save(fig, "linear-probe.png")

# %% [markdown]
# ## 2. What the features tell apart
#
# Another way to see what pretraining bought: the pooled features of a few photographs, and
# how similar they are (cosine similarity of the 1280-vectors). `imagenet_input` resizes and
# centre-crops a photo to 224 x 224 and normalises it as the weights expect. A useful feature
# space puts the same cat, mirrored, next to itself and far from a coffee cup.

# %%
CATS = {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat"}
names = ["chelsea", "chelsea mirrored", "coffee", "astronaut", "rocket"]
cat = imagenet_input(photos.chelsea())  # (1, 3, 224, 224)
images = torch.cat(
    [cat, cat.flip(-1), *(imagenet_input(getattr(photos, n)()) for n in names[2:])]
)  # (5, 3, 224, 224)
rgb = {"ImageNet weights": create_model("efficientnet-lite0", pretrained=True).eval()}
torch.manual_seed(0)
rgb["random weights"] = create_model("efficientnet-lite0").eval()
similarity, pooled = {}, {}
with torch.no_grad():
    for name, model in rgb.items():
        maps = model.feature_maps(images)  # the seven stages' outputs
        pooled[name] = model.head(maps[-1]).mean((2, 3))  # (5, 1280) == model.features(images)
        unit = F.normalize(pooled[name], dim=1)
        similarity[name] = unit @ unit.T  # (5, 5) cosine similarities
        if name == "ImageNet weights":
            stage_maps = [m[0] for m in maps]  # Chelsea's, for section 3
    logits = rgb["ImageNet weights"].classifier(pooled["ImageNet weights"])  # (5, 1000)
labels = [IMAGENET_CLASSES[i] for i in logits.argmax(1)]
top = logits[0].argmax().item()  # the class the pretrained net gives Chelsea
print("ImageNet top-1 for each photo:", labels)
for name, s in similarity.items():
    print(f"{name:16s}: cat vs its mirror {s[0, 1]:.2f}, cat vs the others {s[0, 2:].max():.2f}")
assert IMAGENET_CLASSES[top] in CATS and labels[2] == "espresso"
good, rand = similarity["ImageNet weights"], similarity["random weights"]
assert good[0, 1] > 0.9 and good[0, 2:].max() < 0.4, "pretrained: same cat close, others far"
assert rand[0, 2:].min() > 0.9, "random: every photo looks alike"

# %% [markdown]
# With ImageNet's weights the cat and its mirror image are near-identical vectors (0.98),
# while a cup, a person and a rocket point elsewhere (0.13 at most from the cat). With random weights
# **every** photo looks alike (0.98 or more): a random network's pooled features mostly
# record global statistics — brightness, colour balance — which is why a probe on them is
# poor.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
for ax, (name, s) in zip(axes, similarity.items(), strict=True):
    im = ax.imshow(s.numpy(), vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(5), names, rotation=30, ha="right")
    ax.set_yticks(range(5), names)
    for i in range(5):
        for j in range(5):
            ax.text(j, i, f"{s[i, j]:.2f}", ha="center", va="center", fontsize=8, color="w")
    ax.set_title(f"EfficientNet-Lite0, {name}")
fig.colorbar(im, ax=axes[1], label="cosine similarity of pooled features")
fig.suptitle("What frozen features tell apart: pretrained features separate photos, random do not")
lesson.save(fig, "feature-similarity.png")

# %% [markdown]
# ## 3. Feature maps of a photo
#
# Before pooling, each stage outputs a stack of **feature maps**: one channel is one
# detector, and its map says where in the image it fires. `model.feature_maps(x)` returns the
# seven stages' outputs; each stride-2 stage halves the resolution while the number of
# channels grows — from 16 maps of 112 x 112 to 320 maps of 7 x 7 for a 224-pixel photo. We
# show, at four depths, the four channels that respond most strongly (largest mean absolute
# value) to Chelsea.

# %%
shapes = [tuple(m.shape) for m in stage_maps]
print("stage outputs (C, H, W):", shapes)
assert shapes[0] == (16, 112, 112) and shapes[-1] == (320, 7, 7)
assert all(a[1] >= b[1] and a[0] <= b[0] for a, b in pairwise(shapes)), "coarser, wider"

picked = [(1, "stage 2, stride 4"), (2, "stage 3, stride 8"), (3, "stage 4, stride 16")]
picked.append((5, "stage 6, stride 32"))
fig, axes = plt.subplots(len(picked), 5, figsize=(12, 10))
photo = (cat[0].permute(1, 2, 0) * 0.5 + 0.5).clamp(0, 1).numpy()
for row, (stage, title) in zip(axes, picked, strict=True):
    fmap = stage_maps[stage]  # (C, H, W)
    strongest = fmap.abs().mean((1, 2)).topk(4).indices
    row[0].imshow(photo)
    label = f"{title}\n{fmap.shape[0]} maps of {fmap.shape[1]} x {fmap.shape[2]}"
    row[0].text(-0.08, 0.5, label, transform=row[0].transAxes, ha="right", va="center")
    for ax, c in zip(row[1:], strongest.tolist(), strict=True):
        ax.imshow(fmap[c].numpy(), cmap="magma")
        ax.set_title(f"channel {c}", fontsize=9)
    for ax in row:
        ax.axis("off")
fig.suptitle("EfficientNet-Lite0 (ImageNet) on Chelsea: each stage's 4 strongest feature maps")
lesson.save(fig, "feature-maps.png")

# %% [markdown]
# The early maps look like the photo filtered: edges, fur texture, the rims of the eyes.
# Deeper, each position covers more of the image (lesson 01-09's receptive field) and the
# maps get coarse: a value no longer answers "is there an edge here?" but something about a
# whole region, which we can no longer read off the photo. The classifier sees only the
# average of the last maps over positions.
#
# ## 4. Fine-tuning and BatchNorm: the running statistics drift
#
# Fine-tuning trains the backbone in `train()` mode, and in train mode every BatchNorm layer
# (lesson 03-02) normalises with the statistics of the current batch **and** moves its
# running statistics 10 % of the way towards them at every forward pass. Those running
# statistics are what evaluation uses; for a pretrained network they are ImageNet's, and
# every later layer's weights were trained for inputs normalised by them.
#
# Fine-tune on a few dozen Fashion-MNIST images in batches of 4, and ten forward passes are
# enough to replace most of those statistics by ones measured on grey thumbnails (after $k$
# passes ImageNet's keep only $0.9^k$ of their weight, 35 % after ten) — without a single
# gradient step. We run ten such passes, change no weight at all, and after each one measure
# in `eval()` mode what the network now makes of Chelsea. The images are 64 pixels, the
# recipe's size.

# %%
tiny = backbone_input(data.train.images[:40], size=64).repeat(1, 3, 1, 1)  # 10 batches of 4
print(f"ImageNet statistics keep {0.9**10:.0%} of their weight after 10 passes")


def drift(freeze_bn):
    """Train-mode forward passes on tiny batches (no weight update); after each, Chelsea's
    feature similarity to the start and the probability of the class first predicted."""
    model = create_model("efficientnet-lite0", pretrained=True, freeze_bn=freeze_bn).eval()
    weights = [p.clone() for p in model.parameters()]
    with torch.no_grad():
        start = model.features(cat)
        p_start = model.classifier(start).softmax(1)[0, top].item()
        history = [(1.0, p_start, IMAGENET_CLASSES[top])]
        for batch in tiny.split(4):
            model.train()(batch)  # what one step of fine-tuning does before its backward
            f = model.eval().features(cat)
            p = model.classifier(f).softmax(1)[0]
            label = IMAGENET_CLASSES[p.argmax().item()]
            history.append((F.cosine_similarity(f, start).item(), p[top].item(), label))
    unchanged = zip(weights, model.parameters(), strict=True)
    assert all(torch.equal(w, p) for w, p in unchanged), "no weight moved"
    return history


moving, frozen = drift(freeze_bn=False), drift(freeze_bn=True)
for k in (0, 1, 5, 10):
    cos, p, label = moving[k]
    print(f"after {k:2d} passes: feature similarity {cos:.2f}, p({IMAGENET_CLASSES[top]}) "
          f"{p:.1%}, top-1 {label}")  # fmt: skip
assert moving[10][0] < 0.5 and moving[10][2] not in CATS, "no cat any more"
assert all(b[0] < a[0] for a, b in pairwise(moving)), "further from the start at every pass"
assert all(abs(cos - 1) < 1e-5 and p == frozen[0][1] for cos, p, _ in frozen), "nothing moves"

# %% [markdown]
# No weight changed, yet after ten forward passes the features of the same photo are barely
# related to what they were and the network no longer sees a cat: every layer after a
# BatchNorm now receives inputs scaled and shifted differently from those its weights were
# trained on, and a head fitted on the old features (LP-FT's probe phase) finds its inputs
# changed under it. Statistics of the new domain are not wrong in themselves — AdaBN adapts
# them on purpose, estimated on all the target data at once — but a few dozen images in
# batches of 4 give noisy estimates: the same image gets a different output depending on its
# batch-mates, and training (batch statistics) and evaluation (running statistics) compute
# different functions.
#
# That is why dllab's `finetune` regime **freezes BatchNorm statistics** (`freeze_bn: true`
# in `fashion-mnist-finetune.yaml`): `EfficientNetLite.train()` keeps every BatchNorm layer
# in eval mode, so the ImageNet statistics are used and never updated, while the BatchNorm
# scale and shift $(\gamma, \beta)$ still learn. The second curve below is that model under
# the same ten passes: nothing moves. (The recipe also trains the new head alone for its
# first 100 steps — LP-FT — so that a random head's large gradients do not wreck the
# features before it is any good.)

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
steps = range(len(moving))
for ax, i, ylabel in [
    (axes[0], 0, "cosine similarity to the features before"),
    (axes[1], 1, f"p('{IMAGENET_CLASSES[top]}') for Chelsea"),
]:
    ax.plot(steps, [h[i] for h in moving], "o-", color="C3", label="BatchNorm statistics update")
    ax.plot(steps, [h[i] for h in frozen], "s--", color="C0", label="frozen (freeze_bn=True)")
    ax.set(xlabel="train-mode forward passes on batches of 4 (no weight update)", ylabel=ylabel)
    ax.set_ylim(0, 1.05 if i == 0 else None)
    ax.legend(fontsize=8)
axes[0].set_title("Chelsea's features drift as running statistics move")
axes[1].set_title("... and the pretrained prediction goes with them")
lesson.save(fig, "batchnorm-drift.png")

# %% [markdown]
# ## Summary
#
# - A frozen pretrained backbone is a feature extractor; a linear probe on its pooled
#   features measures how good they are. ImageNet's features beat the same network's random
#   features by over 10 points on 20 Fashion-MNIST images a class — but raw pixels by only a
#   few, because grey centred thumbnails are far from ImageNet's photos.
# - Pretrained features separate photos (a cat and its mirror: 0.98; a cup: 0.09); random
#   features make every photo look alike.
# - Feature maps go from few sharp maps that look like filtered photos to many coarse ones.
# - In `train()` mode BatchNorm's running statistics follow the batches: ten forward passes
#   on tiny batches erase most of ImageNet's statistics and the prediction, with no weight
#   change. Fine-tune with the statistics frozen (`freeze_bn`), as dllab's recipe does; the
#   recipes measured fine-tuning 0.714 against the probe's 0.678 and scratch's 0.501 (10 a
#   class, three seeds).
#
# ## Exercises
#
# - `dllab lab start batchnorm` — BatchNorm's forward in train and eval mode, with the
#   running statistics this lesson watched drift.
# - `dllab lab start residual_block` — a block of the kind a pretrained backbone stacks.
#
# To try here (not graded):
#
# 1. Probe with 100 images per class instead of 20. Does the ImageNet probe pull ahead of the
#    pixels? Of the random features?
# 2. Run `drift` with batches of 32 instead of 4 (`tiny.split(32)`, more images). Is the
#    drift smaller? What does that tell you about *why* it happens?
