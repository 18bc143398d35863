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
# # 03-05 · Grad-CAM: where did the network look?
#
# A classifier says "cat"; **Grad-CAM** (Selvaraju et al. 2017) says *where in the image* the
# evidence for "cat" was. It needs one convolutional layer's output $A$ — $K$ feature maps
# $A^k$ of size $H \times W$ — and the gradient of the class score $y^c$ (the logit, before
# softmax) with respect to it:
#
# 1. weight each map by the average of its gradient over positions:
#    $\alpha_k^c = \frac{1}{HW}\sum_{i,j} \partial y^c / \partial A^k_{ij}$ — how much channel
#    $k$ as a whole pushes towards class $c$;
# 2. combine and keep the positive evidence:
#    $L^c = \mathrm{ReLU}\big(\sum_k \alpha_k^c A^k\big)$, an $H \times W$ map;
# 3. upsample $L^c$ to the image size and overlay it.
#
# We write it by hand, prove it equal to a closed form that needs no gradient at all (for
# networks that end in global average pooling and one linear layer, Grad-CAM *is* the older
# CAM of Zhou et al. 2016), and use it on EfficientNet-Lite0 with its ImageNet weights on a
# photo that holds two objects: the map must move when we ask about the other class.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from skimage import data as photos
from torchvision.models._meta import _IMAGENET_CATEGORIES as IMAGENET_CLASSES

from dllab.models import create_model
from dllab.models.efficientnet_lite import MEAN, STD
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("03-05-grad-cam")

# %% [markdown]
# ## 1. Grad-CAM by hand
#
# A forward hook keeps the chosen layer's output *with* its graph; `torch.autograd.grad` then
# gives $\partial y^c / \partial A$ without touching any parameter's `.grad`.


# %%
def grad_cam(model, layer, x, target):
    """Grad-CAM of class `target` at `layer` for one image x (1, C, H, W).

    Returns the map (h, w) at the layer's resolution, and the logits (num_classes,).
    """
    kept = {}
    handle = layer.register_forward_hook(lambda m, inp, out: kept.__setitem__("A", out))
    logits = model(x)[0]  # (num_classes,)
    handle.remove()
    (dA,) = torch.autograd.grad(logits[target], kept["A"])  # (1, K, h, w)
    A, dA = kept["A"][0], dA[0]  # (K, h, w)
    alpha = dA.mean(dim=(1, 2))  # (K,): one weight per channel
    cam = F.relu((alpha[:, None, None] * A).sum(0))  # (h, w)
    return cam.detach(), logits.detach()


# %% [markdown]
# ## 2. A two-object photo and a pretrained network
#
# scikit-learn's sibling scikit-image ships a few photographs; we put Chelsea the cat and a cup
# of coffee side by side, 224 x 448 pixels. EfficientNet-Lite0 (lesson 03-06) ends in global
# average pooling, so it accepts this non-square input: its last feature map is 7 x 14. The
# ImageNet weights expect RGB on 0..1, normalised with mean and std 0.5.


# %%
def square(image, side=224):
    """Centre square crop of an (H, W, 3) uint8 array, resized to side x side."""
    img = Image.fromarray(image)
    s = min(img.size)
    left, top = (img.width - s) // 2, (img.height - s) // 2
    return np.asarray(img.crop((left, top, left + s, top + s)).resize((side, side), Image.BICUBIC))


pair = np.concatenate([square(photos.chelsea()), square(photos.coffee())], axis=1)  # (224, 448, 3)
x = torch.from_numpy(pair).permute(2, 0, 1)[None].float() / 255  # (1, 3, 224, 448)
x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)

model = create_model("efficientnet-lite0", pretrained=True).eval()
with torch.no_grad():
    probs = model(x).softmax(1)[0]
top5 = probs.topk(5).indices.tolist()
print("top 5:", [f"{IMAGENET_CLASSES[i]} {probs[i]:.1%}" for i in top5])
CAT = IMAGENET_CLASSES.index("tiger cat")
COFFEE = IMAGENET_CLASSES.index("espresso")
assert CAT in top5 and COFFEE in top5, "the network sees both objects"

# %% [markdown]
# ## 3. Proof: for a GAP + linear head, Grad-CAM equals CAM
#
# EfficientNet's last layers are: `head` (a 1x1 conv, BatchNorm, ReLU6) giving $A$ with
# $K = 1280$ maps, then the mean over positions, then dropout (the identity in eval mode), then
# the linear classifier with weights $W$ and bias $b$:
#
# $$y^c = \sum_k W_{ck}\,\frac{1}{HW}\sum_{i,j} A^k_{ij} + b_c
# \quad\Longrightarrow\quad \frac{\partial y^c}{\partial A^k_{ij}} = \frac{W_{ck}}{HW}
# \quad\Longrightarrow\quad \alpha^c_k = \frac{W_{ck}}{HW}.$$
#
# So Grad-CAM at `head` is $\mathrm{ReLU}(\sum_k W_{ck} A^k) / HW$: the class's classifier
# weights applied at every position — CAM — computed here without any gradient.

# %%
cam_cat, logits = grad_cam(model, model.head, x, CAT)
with torch.no_grad():
    A = model.head(model.feature_maps(x)[-1])[0]  # (1280, 7, 14)
    W = model.classifier.weight  # (1000, 1280)
    by_hand = F.relu(torch.einsum("k,khw->hw", W[CAT], A)) / A[0].numel()
    # The logit itself is the mean of the un-ReLU'd map, plus the bias:
    logit = torch.einsum("k,khw->hw", W[CAT], A).mean() + model.classifier.bias[CAT]
assert cam_cat.shape == (7, 14)
assert torch.allclose(cam_cat, by_hand, rtol=1e-4, atol=1e-6)
assert torch.allclose(logit, logits[CAT], atol=1e-3)
print("Grad-CAM at the head == ReLU(W_c · A) / HW (CAM), and the logit is that map's mean + b")

# %% [markdown]
# ## 4. The map follows the question
#
# Asked "where is the tiger cat?", the map should light up the left half; asked "where is the
# espresso?", the right half. We measure the share of each map's total that falls in the left
# half. We also compute Grad-CAM two stages earlier (`stages[4]`, stride 16, a 14 x 28 map):
# twice as fine, and no longer equal to CAM — the gradient there passes through two stages.


# %%
def left_share(cam):
    half = cam.shape[1] // 2
    return (cam[:, :half].sum() / cam.sum()).item()


cams = {}
for name, target in [("tiger cat", CAT), ("espresso", COFFEE)]:
    for layer_name, layer in [("head, 7 x 14", model.head), ("stage 5, 14 x 28", model.stages[4])]:
        cams[name, layer_name] = grad_cam(model, layer, x, target)[0]
        print(
            f"{name:9s} at {layer_name:16s}: {left_share(cams[name, layer_name]):.0%} on the left"
        )
assert left_share(cams["tiger cat", "head, 7 x 14"]) > 0.75
assert left_share(cams["espresso", "head, 7 x 14"]) < 0.25


def separation(layer_name):
    return left_share(cams["tiger cat", layer_name]) - left_share(cams["espresso", layer_name])


assert separation("stage 5, 14 x 28") < separation("head, 7 x 14") / 2

# %% [markdown]
# At the head the two maps split cleanly: the cat's evidence on the left, the coffee's on the
# right. Two stages earlier the maps are finer but hardly depend on the class any more: stage
# 5 ends in MBConv's *linear* projection, its channels are generic parts and textures that
# many classes share, and the class is decided only in the layers after it. This is why the
# Grad-CAM paper uses the last convolutional layer: the best compromise between resolution and
# class specificity.

# %%
fig, axes = plt.subplots(2, 2, figsize=(12, 6.4))
for row, name in enumerate(("tiger cat", "espresso")):
    for col, layer_name in enumerate(("head, 7 x 14", "stage 5, 14 x 28")):
        cam = cams[name, layer_name]
        up = F.interpolate(cam[None, None], size=pair.shape[:2], mode="bilinear")[0, 0]
        ax = axes[row, col]
        ax.imshow(pair)
        ax.imshow(up / up.max(), cmap="jet", alpha=0.45, vmin=0, vmax=1)
        ax.set_title(f"Grad-CAM for '{name}' at {layer_name}", fontsize=10)
        ax.axis("off")
fig.suptitle("EfficientNet-Lite0 (ImageNet): at the head, each class's evidence is on its object")
lesson.save(fig, "grad-cam.png")

# %% [markdown]
# ## 5. Why the ReLU, and why the logit
#
# Without the ReLU the map would also show *negative* evidence: positions whose features argue
# against the class. They exist here; the ReLU removes them, so the map shows only where the
# class is.
#
# And Grad-CAM differentiates the **logit** $y^c$, not the probability $p^c$. By the softmax
# derivative, $\partial p^c / \partial A = p^c\,(\partial y^c/\partial A - \sum_j p^j\,
# \partial y^j / \partial A)$: the probability's gradient subtracts every other class's
# evidence, weighted by its probability, so its map mixes the classes. For the GAP head we can
# check this formula exactly: the channel weights become
# $p^c (W_{ck} - \sum_j p^j W_{jk}) / HW$.

# %%
with torch.no_grad():
    signed = torch.einsum("k,khw->hw", W[CAT], A)  # CAM before the ReLU
print(f"cat map before the ReLU: {int((signed < 0).sum())} of {signed.numel()} positions negative")
assert (signed < 0).any() and torch.allclose(F.relu(signed) / signed.numel(), cam_cat, atol=1e-5)

features = A.clone().requires_grad_(True)  # (1280, 7, 14): differentiate from here on
p = model.classifier(features.mean((1, 2))).softmax(0)  # (1000,)
(d_prob,) = torch.autograd.grad(p[CAT], features)
alpha_prob = d_prob.mean((1, 2))  # (1280,)
with torch.no_grad():
    formula = p[CAT] * (W[CAT] - p @ W) / signed.numel()
assert torch.allclose(alpha_prob, formula, rtol=1e-3, atol=1e-9)
print("probability gradient == p_c (W_c - sum_j p_j W_j) / HW: other classes subtract")

# %% [markdown]
# ## Summary
#
# - Grad-CAM: $\alpha_k^c$ = spatial mean of $\partial y^c / \partial A^k$; map =
#   $\mathrm{ReLU}(\sum_k \alpha_k^c A^k)$, upsampled. One forward, one backward.
# - For a global-average-pool + linear head it equals CAM, $\mathrm{ReLU}(\sum_k W_{ck} A^k)
#   / HW$, which we checked exactly.
# - At the last convolutional layer it is class-discriminative: the map moves with the class
#   asked about. Earlier layers give finer maps that no longer separate the classes.
# - It explains one prediction of one model; it is evidence to look at, not proof that the
#   model is right for the right reasons.
#
# ## Exercises
#
# - `dllab lab start conv2d` — the convolution whose outputs Grad-CAM weighs.
# - `dllab lab start residual_block` — a block like the ones whose outputs Grad-CAM reads.
#
# To try here (not graded):
#
# 1. Compute Grad-CAM for "tiger cat" at `model.stages[2]` (stride 8). Is it still on the cat?
# 2. Replace `logits[target]` by `logits.softmax(0)[target]`. How does the espresso map change?
