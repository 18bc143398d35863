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
# # 03-04 · Filters and feature maps of a trained CNN
#
# What has a CNN learned? Two things can be looked at directly:
#
# - its **filters** — the weights of each convolution. Those of the first layer act on
#   pixels, so they can be drawn as small images;
# - its **feature maps** — the output of each layer for one image: one map per channel,
#   showing *where* in the image that channel's pattern was found.
#
# Deeper layers combine the patterns of earlier ones over larger windows of the image, so
# their channels respond to larger, more specific things. We train a small CNN on
# Fashion-MNIST and check this with numbers, not only pictures: how large a window each layer
# sees, how well each layer's features alone predict the class, and which images excite a
# channel most.

# %%
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from torch import nn

from dllab.data.vision import load_image_dataset
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("03-04-feature-maps-filters")

# %% [markdown]
# ## 1. Train a small CNN
#
# Three conv-BatchNorm-ReLU-pool stages: a 5 x 5 first layer with 16 filters (large enough to
# see a shape in), then 3 x 3 layers with 32 and 64 channels. Two epochs on 6,000 images.

# %%
data = load_image_dataset("fashion-mnist")
mean, std = data.mean[0], data.std[0]
X_train = (data.train.images[:6000].float() / 255 - mean) / std  # (6000, 1, 28, 28)
Y_train = data.train.labels[:6000]
X_test = (data.test.images[:2000].float() / 255 - mean) / std
Y_test = data.test.labels[:2000]


def stage(cin, cout, k):
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, padding=k // 2), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)
    )


torch.manual_seed(0)
model = nn.Sequential(
    stage(1, 16, 5),  # (B, 16, 14, 14)
    stage(16, 32, 3),  # (B, 32, 7, 7)
    stage(32, 64, 3),  # (B, 64, 3, 3)
    nn.Flatten(),
    nn.Linear(64 * 9, 10),
)
initial_filters = model[0][0].weight.detach().clone()  # (16, 1, 5, 5)
optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
generator = torch.Generator().manual_seed(0)
for _ in range(2):
    model.train()
    for idx in torch.randperm(len(X_train), generator=generator).split(64):
        loss = F.cross_entropy(model(X_train[idx]), Y_train[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
model.eval()
with torch.no_grad():
    test_accuracy = (model(X_test).argmax(1) == Y_test).float().mean().item()
print(f"test accuracy {test_accuracy:.1%}")
assert test_accuracy > 0.8

# %% [markdown]
# ## 2. First-layer filters
#
# A first-layer filter is a 5 x 5 template. The feature map is the **cross-correlation** of the
# image with it: at each position, the sum of the template times the pixels under it, plus a
# bias. Where the image looks like the template, the response is large. We verify this
# definition at one position against `F.conv2d`.

# %%
conv1 = model[0][0]
image = X_test[:1]  # (1, 1, 28, 28)
maps = conv1(image).detach()  # (1, 16, 28, 28): before BatchNorm
c, r, q = 3, 10, 12  # channel, row, column
window = F.pad(image, [2, 2, 2, 2])[0, 0, r : r + 5, q : q + 5]  # padding 2: same size out
by_hand = (window * conv1.weight[c, 0]).sum() + conv1.bias[c]
assert torch.allclose(by_hand, maps[0, c, r, q], atol=1e-5)
print(f"map[{c}, {r}, {q}] = sum(window x filter) + bias = {by_hand.item():.4f}")

# %% [markdown]
# Two short epochs move the first-layer filters only a little away from their random start:
# a few have become clear bright-dark transitions, most still look noisy. (The famous
# Gabor-like edge detectors of AlexNet's first layer come from 90 epochs on ImageNet.) We can
# still measure the direction of the change: the energy of the differences between
# neighbouring weights, relative to the filter's own energy, is about 2 per direction for
# white noise and smaller for a smooth template — and training lowers it. The clearer view is
# the *change*, trained minus initial: what training added is smooth — bright-to-dark ramps in
# one direction, blobs — the templates the filters are moving towards.


# %%
def roughness(filters):
    """Mean over filters of (|horizontal diffs|² + |vertical diffs|²) / |filter|²."""
    f = filters[:, 0]  # (16, 5, 5)
    dx, dy = f[:, :, 1:] - f[:, :, :-1], f[:, 1:] - f[:, :-1]
    return ((dx**2).sum((1, 2)) + (dy**2).sum((1, 2))) / (f**2).sum((1, 2))


trained_filters = conv1.weight.detach()
print(f"roughness: initial {roughness(initial_filters).mean():.2f}, "
      f"trained {roughness(trained_filters).mean():.2f}")  # fmt: skip
assert roughness(trained_filters).mean() < 0.98 * roughness(initial_filters).mean()
change = trained_filters - initial_filters  # what training added
print(f"roughness of the change itself: {roughness(change).mean():.2f}")
assert roughness(change).mean() < 0.75 * roughness(initial_filters).mean()

fig, axes = plt.subplots(3, 16, figsize=(14, 3.4))
for k in range(16):
    for row, filters in enumerate((initial_filters, trained_filters, change)):
        w = filters[k, 0]
        axes[row, k].imshow(w, cmap="RdBu_r", vmin=-w.abs().max(), vmax=w.abs().max())
        axes[row, k].set_xticks([])
        axes[row, k].set_yticks([])
axes[0, 0].set_ylabel("initial", fontsize=8)
axes[1, 0].set_ylabel("trained", fontsize=8)
axes[2, 0].set_ylabel("change", fontsize=8)
fig.suptitle(
    "The 16 first-layer 5x5 filters before and after training, and the change (red +, blue -)"
)
lesson.save(fig, "filters.png")

# %% [markdown]
# ## 3. Feature maps, layer by layer
#
# A forward hook on each stage keeps its output. For one coat, the first stage's maps still
# look like the coat, each highlighting edges of one orientation or regions of one
# brightness; later maps are smaller (each pool halves them) and more abstract.

# %%
outputs = {}
hooks = [
    model[i].register_forward_hook(lambda m, inp, out, i=i: outputs.__setitem__(i, out.detach()))
    for i in range(3)
]
coat = int((Y_test == data.classes.index("Coat")).nonzero()[0])
with torch.no_grad():
    model(X_test[coat : coat + 1])
for h in hooks:
    h.remove()
assert [tuple(outputs[i].shape[1:]) for i in range(3)] == [(16, 14, 14), (32, 7, 7), (64, 3, 3)]

fig = plt.figure(figsize=(14, 4.4))
panels = fig.subfigures(1, 4, width_ratios=[1.1, 1, 1, 1])
ax = panels[0].subplots()
ax.imshow(X_test[coat, 0], cmap="gray_r")
ax.set_title(f"Feature maps of one {data.classes[int(Y_test[coat])].lower()}", fontsize=10)
ax.axis("off")
for layer in range(3):
    axes = panels[layer + 1].subplots(4, 4)
    for k, ax in enumerate(axes.flat):
        ax.imshow(outputs[layer][0, k], cmap="viridis")
        ax.axis("off")
    side = outputs[layer].shape[-1]
    panels[layer + 1].suptitle(
        f"stage {layer + 1}: 16 of {outputs[layer].shape[1]} maps, {side} x {side}", fontsize=10
    )
lesson.save(fig, "feature-maps.png")

# %% [markdown]
# ## 4. How much of the image each layer sees
#
# One value of a stage-3 map depends on a window of the input: its **receptive field**. Each
# 5 x 5 or 3 x 3 convolution widens the window by (kernel - 1) steps of the current *jump*
# (the input distance between neighbouring units), and each pool doubles the jump:
#
# | layer | receptive field | jump |
# |---|---|---|
# | conv 5x5 | 5 | 1 |
# | pool 2 | 6 | 2 |
# | conv 3x3 | 6 + 2·2 = 10 | 2 |
# | pool 2 | 12 | 4 |
# | conv 3x3 | 12 + 2·4 = 20 | 4 |
#
# Autograd checks the table: the gradient of one unit with respect to the input is nonzero
# exactly on its window. We probe a copy of the network's geometry with positive weights and
# *average* pools: a max-pool passes the gradient to one input only, the one that happened
# to be largest, while the window is every input it could have chosen from.


# %%
def field(layers):
    x = torch.ones(1, 1, 28, 28, requires_grad=True)
    y = layers(x)
    y[0, :, y.shape[2] // 2, y.shape[3] // 2].sum().backward()
    rows = (x.grad[0, 0].abs().sum(1) > 0).nonzero()
    return int(rows.max() - rows.min() + 1)


probe = nn.Sequential(
    nn.Conv2d(1, 4, 5, padding=2), nn.AvgPool2d(2),
    nn.Conv2d(4, 4, 3, padding=1), nn.AvgPool2d(2),
    nn.Conv2d(4, 4, 3, padding=1),
)  # fmt: skip
with torch.no_grad():
    for m in probe:
        if isinstance(m, nn.Conv2d):
            m.weight.fill_(1.0)
sizes = [field(probe[:n]) for n in (1, 3, 5)]
print("receptive fields of conv 1, 2, 3:", sizes)
assert sizes == [5, 10, 20]

# %% [markdown]
# ## 5. Deeper features are more about the class
#
# If deeper layers respond to more specific, class-relevant patterns, then a *linear*
# classifier on a deeper layer's features should do better. We average each channel's map
# over positions (one number per channel) and fit a logistic regression on 2,000 training
# images' features of each stage, tested on 1,000 others. Stage 3 has more channels, so for a
# fair comparison we also keep only 16 of its channels.


# %%
def pooled_features(x):
    feats = {}
    hs = [
        model[i].register_forward_hook(
            lambda m, inp, out, i=i: feats.__setitem__(i, out.mean((2, 3)))
        )
        for i in range(3)
    ]
    with torch.no_grad():
        model(x)
    for h in hs:
        h.remove()
    return feats


train_feats, test_feats = pooled_features(X_train[:2000]), pooled_features(X_test[:1000])
probe_acc = {}
for name, layer, keep in [("stage 1", 0, 16), ("stage 2", 1, 16), ("stage 3", 2, 16),
                          ("stage 3, all 64", 2, 64)]:  # fmt: skip
    clf = LogisticRegression(max_iter=2000).fit(train_feats[layer][:, :keep], Y_train[:2000])
    probe_acc[name] = clf.score(test_feats[layer][:, :keep], Y_test[:1000])
    print(f"linear probe on {name:16s}: {probe_acc[name]:.1%}")
assert probe_acc["stage 1"] < probe_acc["stage 2"] < probe_acc["stage 3"]
assert probe_acc["stage 3, all 64"] > probe_acc["stage 1"] + 0.15

# %% [markdown]
# ## 6. What excites one channel
#
# For each of stage 3's 64 channels, rank the 2,000 test images by the channel's mean
# activation. A channel that detects a class-specific pattern has top images from one class;
# a first-stage channel, which detects an edge or a brightness, should not. We compare the
# two stages and show the most class-pure stage-3 channels' top 8 images.


# %%
def top_images(acts, k=8):
    """Per channel: its k most exciting images (k, C), and the share of the commonest class."""
    top = acts.topk(k, dim=0).indices  # (k, C)
    counts = [torch.bincount(Y_test[top[:, c]], minlength=10).max() for c in range(acts.shape[1])]
    return top, torch.stack(counts) / k


all_acts = pooled_features(X_test)
top, purity = top_images(all_acts[2])  # stage 3: 64 channels
_, purity1 = top_images(all_acts[0])  # stage 1: 16 channels
best = purity.argsort(descending=True)[:5]
print(f"top-8 images from one class: {int((purity == 1).sum())} of 64 stage-3 channels, "
      f"{int((purity1 == 1).sum())} of 16 stage-1 channels; mean purity "
      f"{purity.mean():.2f} (stage 3) vs {purity1.mean():.2f} (stage 1)")  # fmt: skip
assert (purity == 1).sum() >= 4 and purity.mean() > purity1.mean() + 0.1

fig, axes = plt.subplots(5, 8, figsize=(9, 6.2))
for row, c in enumerate(best.tolist()):
    for col in range(8):
        i = int(top[col, c])
        axes[row, col].imshow(X_test[i, 0], cmap="gray_r")
        axes[row, col].set_xticks([])
        axes[row, col].set_yticks([])
    majority = int(torch.bincount(Y_test[top[:, c]]).argmax())
    axes[row, 0].set_ylabel(f"ch {c}\n{data.classes[majority]}", fontsize=8)
fig.suptitle("Stage 3: the 8 test images that excite each of five channels most")
lesson.save(fig, "top-images.png")

# %% [markdown]
# ## Summary
#
# - First-layer filters are templates on pixels; training makes them smoother, towards edge
#   and blob detectors. A feature map is the image cross-correlated with one filter.
# - Forward hooks read every layer's maps; each pool halves them.
# - The receptive field grows by (kernel - 1) x jump per conv, and the jump doubles per pool:
#   5, 10, 20 pixels here.
# - Deeper features are more linearly separable by class, and single deep channels respond
#   to images of one class.
#
# ## Exercises
#
# - `dllab lab start conv2d` — the convolution (cross-correlation) of section 2, in NumPy.
# - `dllab lab start maxpool` — max-pooling and its gradient, which passes only through the
#   maximum.
#
# To try here (not graded):
#
# 1. Draw the stage-1 filters after 10 epochs instead of 2. Do they keep changing?
# 2. Make a stage-3 channel's input image by gradient ascent: start from noise and follow the
#    gradient of that channel's mean activation with respect to the image.
