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
# # 03-10 · Segmentation: up-sampling, skips, atrous convolution, IoU and Dice, sliding windows
#
# A detector draws boxes; a **segmentation** model labels every pixel. Its network must end at
# the input's resolution, and that shapes everything:
#
# 1. **up-sampling** back to full size — transposed convolutions or resize + convolution;
# 2. **skip connections** (U-Net) — the fine detail the encoder had before it down-sampled;
# 3. **atrous (dilated) convolution and ASPP** (DeepLab) — a large receptive field without
#    down-sampling at all;
# 4. **IoU and Dice** — metrics and losses that do not let the road outvote a lane marking;
# 5. **sliding-window inference** — predicting an image larger than the network was trained on.
#
# We work on tiny tensors and on dllab's road scenes (`dllab.data.driving_scenes`: seeded
# scenes with an exact class per pixel, Cityscapes' class names), and prove each piece against
# PyTorch, torchmetrics and MONAI.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from monai.inferers import sliding_window_inference
from monai.losses import DiceLoss
from torch import nn
from torchmetrics.classification import MulticlassConfusionMatrix, MulticlassJaccardIndex
from torchvision.models.segmentation.deeplabv3 import ASPP

from dllab.data.driving_scenes import CLASSES, IGNORE, colorize, render_driving_scenes
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("03-10-segmentation")
torch.set_num_threads(1)  # small tensors: one thread is fastest on a busy machine
torch.manual_seed(0)
NAMES = [c.name for c in CLASSES]
LANE, ROAD = NAMES.index("lane marking"), NAMES.index("road")

# Four road scenes at 128 x 256: images (4, 128, 256, 3) uint8, masks (4, 128, 256) train ids.
images, masks = render_driving_scenes(4, height=128, width=256, seed=0)
print(images.shape, masks.shape, "classes:", ", ".join(NAMES))

# %% [markdown]
# ## 1. Transposed convolution: up-sampling that learns
#
# A convolution with stride 2 halves the size. Its **transpose** doubles it: each input pixel
# *scatters* a copy of the kernel, scaled by its value, into the output, `stride` pixels
# apart, and overlapping copies add up. Then `padding` **crops** the border (it undoes the
# padding of the convolution being transposed), and `output_padding` adds a row and column
# at the end to choose between the output sizes a stride allows:
#
# $$H_\text{out} = (H - 1)\,s - 2p + d\,(k - 1) + \text{output\_padding} + 1.$$
#
# It is called "transposed" because it is exactly that: as a matrix, it is the transpose of
# the convolution with the same weights — so it is also the convolution's gradient with
# respect to its input. We check both facts.


# %%
def conv_transpose_by_hand(x, w, stride, padding):
    """(H, W) input, (k, k) kernel -> the scattered sum, cropped by `padding`."""
    h, k = x.shape[0], w.shape[0]
    full = torch.zeros((h - 1) * stride + k, (x.shape[1] - 1) * stride + k, dtype=x.dtype)
    for i in range(h):
        for j in range(x.shape[1]):
            full[i * stride : i * stride + k, j * stride : j * stride + k] += x[i, j] * w
    return full[padding : full.shape[0] - padding, padding : full.shape[1] - padding]


x = torch.randn(4, 4, dtype=torch.float64)
w = torch.randn(4, 4, dtype=torch.float64)
ours = conv_transpose_by_hand(x, w, stride=2, padding=1)
theirs = F.conv_transpose2d(x[None, None], w[None, None], stride=2, padding=1)[0, 0]
assert ours.shape == (8, 8) and torch.allclose(ours, theirs)  # 4 -> 8: k 4, s 2, p 1
print("scatter by hand == F.conv_transpose2d; 4x4 -> 8x8 with k=4, s=2, p=1")

# The adjoint: <conv(y), x> == <y, conv_transpose(x)> for every y and x, same weights.
y = torch.randn(1, 1, 8, 8, dtype=torch.float64)
left = (F.conv2d(y, w[None, None], stride=2, padding=1) * x[None, None]).sum()
right = (y * theirs).sum()
assert torch.allclose(left, right)
# ... so it is the gradient of the strided convolution with respect to its input.
y.requires_grad_(True)
F.conv2d(y, w[None, None], stride=2, padding=1).backward(x[None, None])
assert torch.allclose(y.grad[0, 0], theirs)
print(f"<conv(y), x> = {left:.6f} = <y, conv_transpose(x)>; and it is conv2d's input gradient")

# %% [markdown]
# ### Checkerboard artefacts
#
# When the kernel size is not a multiple of the stride, the scattered copies overlap
# **unevenly**: with k = 3 and s = 2, some output pixels receive 1 copy, some 2, some 4. A
# constant input then gives a checkerboard — the network must learn weights that cancel it,
# and often does not quite (Odena, Dumoulin & Olah 2016, "Deconvolution and Checkerboard
# Artifacts"). Even with k = 4 the overlap is even but each output pixel still uses a
# different **subset** of the taps, so random weights make a period-2 pattern too. The cure
# they propose: **resize** (nearest or bilinear), then an ordinary convolution — every output
# pixel sees the same taps, and a constant input stays constant.

# %%
flat = torch.ones(1, 1, 8, 8)
coverage = {k: F.conv_transpose2d(flat, torch.ones(1, 1, k, k), stride=2) for k in (3, 4)}
inner3, inner4 = coverage[3][0, 0, 3:-3, 3:-3], coverage[4][0, 0, 3:-3, 3:-3]
print("copies per output pixel, k=3 s=2:", inner3[0, :6].tolist())
print("copies per output pixel, k=4 s=2:", inner4[0, :6].tolist())
assert set(inner3.unique().tolist()) == {1.0, 2.0, 4.0}  # uneven overlap
assert set(inner4.unique().tolist()) == {4.0}  # even overlap

deconv = nn.ConvTranspose2d(1, 1, 4, stride=2, padding=1, bias=False)  # random weights
resize_conv = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(1, 1, 3, padding=1, bias=False))
with torch.no_grad():
    out_deconv = deconv(flat)[0, 0, 2:-2, 2:-2]
    out_resize = resize_conv(flat)[0, 0, 2:-2, 2:-2]
assert out_deconv.std() > 1e-3  # a period-2 pattern on a constant input
assert torch.allclose(out_deconv[:-2], out_deconv[2:])  # ... with period 2
assert out_resize.std() < 1e-6  # constant in, constant out
print(f"constant input: spread of the output {out_deconv.std():.3f} (transposed conv) "
      f"vs {out_resize.std():.1e} (resize + conv)")  # fmt: skip

fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
panels = [
    (coverage[3][0, 0], "copies per pixel, k=3, s=2"),
    (deconv(flat)[0, 0].detach(), "random k=4, s=2 on a constant"),
    (resize_conv(flat)[0, 0].detach(), "nearest x2 + 3x3 conv on a constant"),
]
for ax, (image, title) in zip(axes, panels, strict=True):
    shown = ax.imshow(image, cmap="viridis")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    fig.colorbar(shown, ax=ax, fraction=0.046)
fig.suptitle("Up-sampling a constant image: checkerboards come from the transposed convolution")
fig.tight_layout()
lesson.save(fig, "checkerboard.png")

# %% [markdown]
# ## 2. Skip connections: what the encoder knew before it down-sampled
#
# An encoder halves the resolution four or five times to see the whole scene. Whatever the
# decoder does, it cannot invent the exact position of an edge that the coarse map no longer
# holds. We measure that **upper bound**: take the *true* masks, average their one-hot maps
# over `f x f` blocks (a perfect encoder at 1/f resolution), up-sample bilinearly and take the
# argmax. Large regions survive; a lane marking a few pixels wide, or a pole, does not.
#
# A U-Net (Ronneberger et al. 2015) concatenates the encoder's feature map of each
# resolution to the decoder's map of the same size: the decoder gets the coarse *what* from
# below and the full-resolution *where* (edges, thin lines) from the skip.

# %%
truth = torch.from_numpy(masks.astype(np.int64))  # (4, H, W)
onehot = F.one_hot(truth, len(CLASSES)).permute(0, 3, 1, 2).float()  # (4, C, H, W)
miou = MulticlassJaccardIndex(num_classes=len(CLASSES), average="none", ignore_index=IGNORE)
factors = [1, 2, 4, 8, 16]
oracle = {}
for f in factors:
    coarse = F.avg_pool2d(onehot, f)  # what a perfect 1/f-resolution map can hold
    back = F.interpolate(coarse, size=truth.shape[1:], mode="bilinear", align_corners=False)
    oracle[f] = miou(back.argmax(1), truth)
    print(f"1/{f:<2d} resolution: lane marking IoU {oracle[f][LANE]:.2f}, road "
          f"{oracle[f][ROAD]:.2f}, mIoU {oracle[f].mean():.2f}")  # fmt: skip
assert oracle[1].min() == 1.0  # full resolution: perfect
assert oracle[16][ROAD] > 0.9  # a large region survives 1/16
assert oracle[4][LANE] < 0.05  # the thin class does not survive 1/4

# The edges a skip connection carries: the image gradient at full resolution, and after a
# round trip through 1/8 resolution.
gray = torch.from_numpy(images.astype(np.float32)).mean(-1)[:, None] / 255  # (4, 1, H, W)
sobel = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])[None, None]


def edges(img):
    return (F.conv2d(img, sobel, padding=1) ** 2 + F.conv2d(img, sobel.mT, padding=1) ** 2).sqrt()


blurred = F.interpolate(F.avg_pool2d(gray, 8), scale_factor=8, mode="bilinear")
boundary = (truth[:, 1:, :] != truth[:, :-1, :])[:, None, :, 1:-1]  # label changes down a column
full_e, coarse_e = edges(gray)[:, :, 1:, 1:-1], edges(blurred)[:, :, 1:, 1:-1]
share_full = full_e[boundary].mean() / full_e.mean()
share_coarse = coarse_e[boundary].mean() / coarse_e.mean()
print(f"edge strength on class boundaries / on average: {share_full:.2f} at full resolution, "
      f"{share_coarse:.2f} after 1/8")  # fmt: skip
assert share_full > share_coarse

fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [1.2, 2]})
for c in (ROAD, NAMES.index("car"), NAMES.index("pole"), LANE):
    axes[0].plot(factors, [oracle[f][c] for f in factors], "o-", label=NAMES[c])
axes[0].set_xscale("log", base=2)
axes[0].set_xlabel("down-sampling factor f")
axes[0].set_ylabel("best possible IoU")
axes[0].set_title("What survives 1/f resolution")
axes[0].legend()
coarse8 = F.interpolate(F.avg_pool2d(onehot[:1], 8), size=truth.shape[1:], mode="bilinear")
axes[1].imshow(
    np.concatenate([colorize(masks[0]), colorize(coarse8.argmax(1)[0].numpy().astype(np.uint8))], 1)
)
axes[1].set_title("truth | best decoder from 1/8 resolution, without skips")
axes[1].axis("off")
fig.tight_layout()
lesson.save(fig, "skip-connections.png")

# %% [markdown]
# ## 3. Atrous convolution and ASPP: a large view at full resolution
#
# A 3x3 convolution with **dilation** d places its taps d pixels apart: the same 9 weights
# cover `2d + 1` pixels. Stacking dilations 1, 2, 4 grows the receptive field to 15 pixels in
# three layers, against 7 for three ordinary 3x3 layers — and with `padding = d` the map keeps
# its size. DeepLab (Chen et al. 2017) replaces the last down-sampling stages of its backbone
# by dilated convolutions for this reason. We measure a receptive field as the input pixels
# whose gradient reaches the centre output.


# %%
def receptive_field(layers, size=33):
    """Width of the input region that the centre output pixel depends on."""
    x = torch.zeros(1, 1, size, size, requires_grad=True)
    out = x
    for layer in layers:
        out = layer(out)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    cols = x.grad[0, 0].abs().sum(0).nonzero()
    return int(cols.max() - cols.min() + 1), tuple(out.shape[2:])


def conv(d=1, stride=1):
    layer = nn.Conv2d(1, 1, 3, stride=stride, padding=d, dilation=d, bias=False)
    nn.init.constant_(layer.weight, 1.0)
    return layer


plain = receptive_field([conv(), conv(), conv()])
atrous = receptive_field([conv(1), conv(2), conv(4)])
strided = receptive_field([conv(stride=2), conv(stride=2), conv()])
print(f"three 3x3 convs: receptive field {plain[0]}, output {plain[1]}")
print(f"dilations 1, 2, 4: receptive field {atrous[0]}, output {atrous[1]}")
print(f"stride 2, 2, 1: receptive field {strided[0]}, output {strided[1]}")
assert plain == (7, (33, 33)) and atrous == (15, (33, 33))
assert strided[0] == 15 and strided[1] == (9, 9)  # the same view, at a quarter of the size

# %% [markdown]
# **ASPP** (atrous spatial pyramid pooling) runs several dilated 3x3 convolutions in
# parallel — rates 12, 24 and 36 in DeepLabV3 — beside a 1x1 convolution and a global
# average, and concatenates them: one layer that looks at several scales at once. The
# DeepLabV3 paper notes a catch that we can check: when the rate approaches the map's size,
# the outer taps fall on the zero padding, and a dilated 3x3 convolution degenerates into a
# 1x1 convolution with its centre weight. On a 16x16 map, rate 24 sees nothing but the
# centre — which is why the image-level (global average) branch is there.

# %%
aspp = ASPP(in_channels=8, atrous_rates=[6, 12, 24], out_channels=16).eval()
features = torch.randn(1, 8, 16, 16)
with torch.no_grad():
    pyramid = aspp(features)
branches = [type(b).__name__ for b in aspp.convs]
print("ASPP branches:", branches, "->", tuple(pyramid.shape))
assert pyramid.shape == (1, 16, 16, 16)  # the resolution is kept

wide = aspp.convs[3][0]  # the rate-24 branch's 3x3 convolution
assert wide.dilation == (24, 24)
with torch.no_grad():
    as_3x3 = wide(features)
    as_1x1 = F.conv2d(features, wide.weight[:, :, 1:2, 1:2])  # its centre taps only
assert torch.allclose(as_3x3, as_1x1, atol=1e-6)
print("on a 16x16 map, the rate-24 3x3 convolution == a 1x1 convolution with its centre")

# %% [markdown]
# ## 4. IoU and Dice, and why Dice for thin structures
#
# For one class, with TP, FP and FN counted over pixels:
#
# $$\mathrm{IoU} = \frac{TP}{TP + FP + FN}, \qquad
# \mathrm{Dice} = \frac{2\,TP}{2\,TP + FP + FN} = \frac{2\,\mathrm{IoU}}{1 + \mathrm{IoU}}.$$
#
# The **mIoU** averages IoU over the classes, so each class weighs the same, however few
# pixels it has. **Pixel accuracy** weighs each pixel the same — and lane markings are about
# 1 % of a road scene. A model that never predicts a lane marking (it paints them as road)
# scores 99 % pixel accuracy and IoU 0 on the lanes.

# %%
blind = truth.clone()
blind[blind == LANE] = ROAD  # "perfect", except that lane markings are painted as road
lane_share = (truth == LANE).float().mean().item()
accuracy = (blind == truth).float().mean().item()
confusion = MulticlassConfusionMatrix(num_classes=len(CLASSES))(blind, truth)  # rows: truth
tp = confusion.diag().double()
iou = tp / (confusion.sum(0) + confusion.sum(1) - tp)
dice = 2 * tp / (confusion.sum(0) + confusion.sum(1))
print(f"lane markings: {lane_share:.1%} of the pixels; pixel accuracy {accuracy:.1%}")
print(f"IoU  lane {iou[LANE]:.2f}, road {iou[ROAD]:.3f}; mIoU {iou.mean():.3f}")
assert accuracy > 0.98 and iou[LANE] == 0 and dice[LANE] == 0
assert torch.allclose(dice, 2 * iou / (1 + iou))
assert torch.allclose(iou.float(), miou(blind, truth))  # by hand == torchmetrics

# %% [markdown]
# The same imbalance shapes the **loss**. Cross-entropy is a mean over pixels: missing a
# class of 0.4 % of the pixels costs about 0.4 % of what a bad pixel everywhere would. The soft
# **Dice loss** (Milletari et al. 2016, V-Net) computes one Dice per image and class from the
# softmax probabilities and averages them, so each class weighs about the same whatever its
# size. We score three confident predictions (logits 6 on the predicted class): perfect, all
# lane markings painted as road, all road painted as sidewalk.


# %%
def confident(pred):
    return 6.0 * F.one_hot(pred, len(CLASSES)).permute(0, 3, 1, 2).float()  # (4, C, H, W)


no_road = truth.clone()
no_road[no_road == ROAD] = NAMES.index("sidewalk")
dice_loss = DiceLoss(softmax=True, to_onehot_y=True)  # MONAI: mean over images and classes
cost = {}
for name, loss_fn in [
    ("cross-entropy", lambda z: F.cross_entropy(z, truth)),
    ("Dice", lambda z: dice_loss(z, truth[:, None])),
]:
    base = loss_fn(confident(truth)).item()
    lane_cost = loss_fn(confident(blind)).item() - base
    road_cost = loss_fn(confident(no_road)).item() - base
    cost[name] = lane_cost / road_cost
    print(f"{name:13s}: missing the lanes adds {lane_cost:.4f}, missing the road "
          f"{road_cost:.4f} -> ratio {cost[name]:.3f}")  # fmt: skip
assert cost["Dice"] > 10 * cost["cross-entropy"]


# %% [markdown]
# Segmentation projects usually **add** the two (MONAI's `DiceCELoss`): cross-entropy gives
# smooth, well-scaled gradients per pixel from the start, Dice keeps the small classes in
# view. dllab's segmentation task does that, with class weights on the cross-entropy.
#
# ## 5. Sliding-window inference
#
# A fully convolutional network accepts any size, but memory grows with the image (a CT
# volume of 512 x 512 x 300 voxels does not fit through a 3D U-Net at once), and a network
# trained on 96³ crops has only ever seen that context. **Sliding-window inference** runs the
# network on overlapping windows of the training size and stitches the outputs. Where windows
# overlap, MONAI's `sliding_window_inference` averages them — uniformly (`mode="constant"`)
# or with a Gaussian that trusts each window's centre more (`mode="gaussian"`).
#
# Why blend at all? Inside a window the network pads with zeros at the window's border, where
# the whole image had real pixels: outputs near a window's edge are wrong. We take a small
# random fully convolutional network (its receptive field is 13 pixels), run it once on the
# whole image and by windows, and compare.

# %%
net = nn.Sequential(
    nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
    nn.Conv2d(16, 16, 3, padding=2, dilation=2), nn.ReLU(),
    nn.Conv2d(16, 16, 3, padding=2, dilation=2), nn.ReLU(),
    nn.Conv2d(16, len(CLASSES), 3, padding=1),
).eval()  # fmt: skip
scene = torch.from_numpy(images[:1].astype(np.float32)).permute(0, 3, 1, 2) / 255  # (1, 3, H, W)


def windows_by_hand(image, roi, predictor):
    """Non-overlapping windows (overlap 0), the last one in each axis flush with the border."""
    out = torch.zeros(image.shape[0], len(CLASSES), *image.shape[2:])
    for top in sorted({*range(0, image.shape[2] - roi, roi), image.shape[2] - roi}):
        for left in sorted({*range(0, image.shape[3] - roi, roi), image.shape[3] - roi}):
            tile = image[:, :, top : top + roi, left : left + roi]
            out[:, :, top : top + roi, left : left + roi] = predictor(tile)
    return out


with torch.no_grad():
    whole = net(scene)
    by_hand = windows_by_hand(scene, 64, net)
    runs = {
        (overlap, mode): sliding_window_inference(scene, 64, 4, net, overlap=overlap, mode=mode)
        for overlap in (0.0, 0.5)
        for mode in ("constant", "gaussian")
    }
assert torch.allclose(by_hand, runs[0.0, "constant"], atol=1e-6)  # by hand == MONAI
errors = {key: (out - whole).abs() for key, out in runs.items()}
for (overlap, mode), err in errors.items():
    print(f"overlap {overlap:.1f}, {mode:8s}: |windows - whole image| mean {err.mean():.5f}, "
          f"largest {err.max():.3f}")  # fmt: skip
mean_error = {key: err.mean().item() for key, err in errors.items()}
assert torch.allclose(runs[0.0, "gaussian"], runs[0.0, "constant"], atol=1e-5)  # 1 window/pixel
assert errors[0.5, "constant"].max() < errors[0.0, "constant"].max()  # each border halved...
assert mean_error[0.5, "constant"] > 0.5 * mean_error[0.0, "constant"]  # ... but twice as many
assert mean_error[0.5, "gaussian"] < 0.2 * mean_error[0.5, "constant"]

fig, axes = plt.subplots(1, 3, figsize=(13, 2.9))
for ax, key in zip(axes, [(0.0, "constant"), (0.5, "constant"), (0.5, "gaussian")], strict=True):
    shown = ax.imshow((runs[key] - whole).abs().sum(1)[0], cmap="magma", vmin=0, vmax=0.3)
    ax.set_title(f"|windows - whole|, overlap {key[0]}, {key[1]}", fontsize=10)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    fig.colorbar(shown, ax=ax, fraction=0.025)
fig.suptitle("Sliding windows of 64 x 64: errors sit on the window borders; overlapping windows "
             "blended by a Gaussian hide them")  # fmt: skip
lesson.save(fig, "sliding-window.png")

# %% [markdown]
# With overlap 0 the errors draw the window grid (and a Gaussian changes nothing: each pixel
# has one window). Overlap 0.5 with a uniform average halves each border's error — it is
# averaged with the centre of a neighbouring window — but there are now twice as many window
# borders, so the mean error hardly moves. A Gaussian weight, near 0 at a window's border,
# takes each pixel from the window that has it nearest its centre: the errors all but vanish.
# That is why MONAI's tutorials use `overlap=0.5, mode="gaussian"`. The price is time: at
# overlap 0.5 every pixel is computed about four times in 2-D (eight in 3-D).
#
# ## Summary
#
# - A transposed convolution scatters the kernel: it is the transpose (and the input
#   gradient) of a strided convolution; `padding` crops, `output_padding` adds. Uneven
#   overlaps and per-position tap subsets make checkerboards; resize + convolution does not.
# - Down-sampling loses thin structures for good: from 1/16 resolution, even a perfect
#   decoder cannot recover the lane markings. Skip connections bring back full-resolution
#   edges.
# - Dilated convolutions grow the receptive field (15 pixels in three layers) at full
#   resolution; ASPP looks at several rates at once, and a rate larger than the map is only
#   a 1x1 convolution.
# - Pixel accuracy can be 99 % with IoU 0 on a thin class; mIoU averages classes. Dice =
#   2 IoU / (1 + IoU); the soft Dice loss gives small classes their share of the gradient.
# - Sliding-window inference bounds memory and context; overlapping windows blended with a
#   Gaussian approach the whole-image result.
#
# ## Exercises
#
# - `dllab lab start miou_confusion` — the confusion matrix with an ignore index, IoU per
#   class and mIoU, equal to torchmetrics.
# - `dllab lab start dice_loss` — the soft Dice loss and its gradient in NumPy, equal to
#   MONAI's.
# - `dllab lab start conv_transpose` — a transposed convolution's output size and values,
#   equal to `F.conv_transpose2d`.
#
# To try here (not graded):
#
# 1. Replace `nn.Upsample` by `mode="bilinear"` in the resize + convolution: does a constant
#    input still give a constant output away from the border?
# 2. Run the oracle of section 2 with `mode="nearest"` instead of bilinear: which classes lose
#    more?
# 3. Give the windows of section 5 a size of 32: how do the errors and the time change?
