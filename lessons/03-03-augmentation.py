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
# # 03-03 · Data augmentation
#
# A CNN trained on few images memorises them: its training accuracy reaches 100 % while its
# test accuracy stalls. **Data augmentation** fights this by showing the network a slightly
# different version of every image in every epoch — shifted a few pixels, mirrored — using
# transformations that we *know* do not change the label. A shirt moved two pixels to the left
# is still a shirt. The network can no longer memorise pixels; it has to learn what stays the
# same under the transformations, which is what we wanted it to learn anyway.
#
# Which transformations are safe depends on the data: mirroring is safe for clothes, not for
# digits (a mirrored 2 is not a 2) or text; rotating by 90° is safe for satellite images, not
# for street scenes. We write two augmentations by hand for whole batches, check them against
# torchvision, and measure what they do to a network trained on 1,000 Fashion-MNIST images.

# %%
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from torch import nn

from dllab.data.vision import load_image_dataset
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("03-03-augmentation")

# %% [markdown]
# ## 1. Two label-preserving transformations, per image, on a whole batch
#
# - **Random crop with padding** (the standard CIFAR/ResNet augmentation): pad the image by
#   $p$ pixels of background, then cut out a window of the original size at a random offset
#   $(i, j) \in [0, 2p]^2$ — a random shift of up to $p$ pixels in each direction.
# - **Random horizontal flip**: mirror left-right with probability ½.
#
# Each image of the batch gets its own random offset and its own coin flip: augmenting the
# whole batch the same way would give the network correlated examples. `torch.gather` along
# the width and height picks each image's window without a Python loop over images.

# %%
data = load_image_dataset("fashion-mnist")
mean, std = data.mean[0], data.std[0]


def random_crop(x, padding, generator):
    """Shift each image of x (B, C, H, W) by its own random offset in [-padding, padding]."""
    B, C, H, W = x.shape
    padded = F.pad(x, [padding] * 4)  # (B, C, H + 2p, W + 2p), zeros = background
    offsets = torch.randint(0, 2 * padding + 1, (2, B), generator=generator)  # (i, j) per image
    rows = (offsets[0][:, None] + torch.arange(H)).view(B, 1, H, 1).expand(B, C, H, W + 2 * padding)
    cols = (offsets[1][:, None] + torch.arange(W)).view(B, 1, 1, W).expand(B, C, H, W)
    return padded.gather(2, rows).gather(3, cols), offsets


def random_flip(x, generator):
    """Mirror each image left-right with probability 1/2."""
    flip = torch.rand(len(x), generator=generator) < 0.5  # (B,)
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x), flip


# %% [markdown]
# Before trusting them, we prove what they do: each cropped image equals torchvision's `pad`
# then `crop` at the same offset; a flip is a mirror and flipping twice gives the image back;
# neither touches the labels (they return images only). On *standardised* images the padding
# must be the background's value, not 0 — so we augment the uint8 images, where the
# background is 0, and standardise afterwards.

# %%
batch = data.train.images[:16].float() / 255  # (16, 1, 28, 28) in 0..1, background 0
generator = torch.Generator().manual_seed(0)
cropped, offsets = random_crop(batch, 4, generator)
for k in range(16):
    i, j = offsets[:, k].tolist()
    reference = TF.crop(TF.pad(batch[k], [4]), top=i, left=j, height=28, width=28)
    assert torch.equal(cropped[k], reference)
assert len(set(map(tuple, offsets.T.tolist()))) > 8, "images get different offsets"

flipped, flip = random_flip(batch, generator)
assert torch.equal(flipped[flip], TF.horizontal_flip(batch[flip]))
assert torch.equal(flipped[~flip], batch[~flip]) and 0 < flip.sum() < 16
assert torch.equal(batch.flip(-1).flip(-1), batch)
print(f"crop == torchvision pad + crop for all 16 images; {int(flip.sum())} of 16 flipped")

# %%
examples = data.train.images[:6].float() / 255
gen = torch.Generator().manual_seed(1)
fig, axes = plt.subplots(6, 7, figsize=(9, 8))
for row in range(6):
    axes[row, 0].imshow(examples[row, 0], cmap="gray_r", vmin=0, vmax=1)
    axes[row, 0].set_title(data.classes[int(data.train.labels[row])], fontsize=8)
    for col in range(1, 7):
        shifted, _ = random_crop(examples[row : row + 1], 4, gen)
        augmented, _ = random_flip(shifted, gen)
        axes[row, col].imshow(augmented[0, 0], cmap="gray_r", vmin=0, vmax=1)
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
axes[0, 0].set_ylabel("original", fontsize=8)
fig.suptitle("Six training images (left) and six random augmentations of each: same labels")
lesson.save(fig, "augmented-examples.png")

# %% [markdown]
# ## 2. What augmentation buys on a small training set
#
# We train the same BatchNorm CNN twice on only 1,000 images for 24 epochs: once on the images
# as they are, once with a fresh crop (padding 2) and flip of every image in every epoch.
# Same seed, same optimiser. Every 4 epochs we record the accuracy on the training images
# (unaugmented) and on 1,000 test images.

# %%
x_small = data.train.images[:1000].float() / 255  # (1000, 1, 28, 28), 0..1
y_small = data.train.labels[:1000]
x_test = (data.test.images[:1000].float() / 255 - mean) / std
y_test = data.test.labels[:1000]


def cnn():
    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    return nn.Sequential(
        *block(1, 8), nn.MaxPool2d(2),  # (B, 8, 14, 14)
        *block(8, 16), nn.MaxPool2d(2),  # (B, 16, 7, 7)
        *block(16, 32), nn.MaxPool2d(2),  # (B, 32, 3, 3)
        nn.Flatten(), nn.Linear(32 * 9, 10),
    )  # fmt: skip


@torch.no_grad()
def accuracy(model, x, y):
    model.eval()
    return (model(x).argmax(1) == y).float().mean().item()


def train(augment, epochs=24, every=4):
    torch.manual_seed(0)
    model = cnn()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    generator = torch.Generator().manual_seed(0)
    history = {"train": [], "test": []}
    for epoch in range(epochs):
        model.train()
        for idx in torch.randperm(1000, generator=generator).split(50):
            xb = x_small[idx]
            if augment:
                xb = random_flip(random_crop(xb, 2, generator)[0], generator)[0]
            loss = F.cross_entropy(model((xb - mean) / std), y_small[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if (epoch + 1) % every == 0:
            history["train"].append(accuracy(model, (x_small - mean) / std, y_small))
            history["test"].append(accuracy(model, x_test, y_test))
    return model, history


plain_model, plain = train(augment=False)
aug_model, aug = train(augment=True)
for name, h in [("no augmentation", plain), ("crop + flip", aug)]:
    gap = h["train"][-1] - h["test"][-1]
    print(f"{name:16s} train {h['train'][-1]:.1%}  test {h['test'][-1]:.1%}  gap {gap:.1%}")
assert plain["train"][-1] > 0.99, "without augmentation the 1,000 images are memorised"
assert plain["train"][-1] - plain["test"][-1] > 2 * (aug["train"][-1] - aug["test"][-1])
assert aug["test"][-1] > plain["test"][-1] - 0.01, "at least as good on test images"
assert abs(plain["test"][-1] - plain["test"][1]) < 0.015, "plain: flat since epoch 8"
assert aug["test"][-1] - aug["test"][1] > 0.025, "augmented: still improving"

# %% [markdown]
# Without augmentation the network memorises the 1,000 images (100 % training accuracy) and its
# test accuracy stops moving after about 8 epochs: nothing is left to learn from data it
# already fits perfectly. With augmentation the training accuracy stays far below 100 % — the
# network never sees the same image twice — the train-test gap is less than half as wide, and
# the test accuracy, equal to the plain network's at this budget, is still rising. More
# epochs help the augmented network and not the plain one (try it below).

# %% [markdown]
# ## 3. Test-time augmentation
#
# The network trained with flips should give (nearly) the same answer for an image and its
# mirror. Averaging the predicted probabilities of both — **test-time augmentation** — cancels
# part of the errors that are not symmetric, at twice the inference cost.


# %%
@torch.no_grad()
def tta_accuracy(model, x, y):
    model.eval()
    probs = model(x).softmax(1) + model(x.flip(-1)).softmax(1)
    return (probs.argmax(1) == y).float().mean().item()


with torch.no_grad():
    agree = (aug_model(x_test).argmax(1) == aug_model(x_test.flip(-1)).argmax(1)).float().mean()
    agree_plain = (
        (plain_model(x_test).argmax(1) == plain_model(x_test.flip(-1)).argmax(1)).float().mean()
    )
tta = tta_accuracy(aug_model, x_test, y_test)
print(
    f"prediction unchanged by a mirror: {agree:.1%} (trained with flips), {agree_plain:.1%} (without)"
)
print(f"test accuracy {aug['test'][-1]:.1%}, with test-time flips {tta:.1%}")
assert agree > agree_plain, "training with flips teaches the mirror symmetry"
assert tta >= aug["test"][-1] - 0.005

# %%
fig, ax = plt.subplots(figsize=(8, 4.5))
epochs = range(4, 4 * len(plain["train"]) + 1, 4)
ax.plot(epochs, plain["train"], "C3o--", label="no augmentation: train")
ax.plot(epochs, plain["test"], "C3o-", label="no augmentation: test")
ax.plot(epochs, aug["train"], "C0o--", label="crop + flip: train")
ax.plot(epochs, aug["test"], "C0o-", label="crop + flip: test")
ax.set(xlabel="epoch", ylabel="accuracy", ylim=(0.6, 1.01))
ax.set_title("1,000 Fashion-MNIST images: augmentation narrows the train-test gap")
ax.legend(fontsize=8)
lesson.save(fig, "augmentation-curves.png")

# %% [markdown]
# ## Summary
#
# - Augment with transformations that preserve the label *for your data*; draw new random
#   parameters for every image in every epoch.
# - Check augmentations like any code: against a reference (torchvision), and with
#   invariants (flip twice = identity). Pad with the background's value.
# - On a small training set, augmentation trades a little training accuracy for test
#   accuracy: the gap between them shrinks.
# - Test-time augmentation averages predictions over transformed copies of the input.
# - In dllab, a recipe picks a preset with `data.augment` (`none`, `crop`, `flip-crop`).
#
# ## Exercises
#
# - `dllab lab start augmentation` — random flip and padded crop on a batch in NumPy, judged
#   by its properties: every output is its input flipped or not and shifted within the
#   padding, and the draws differ from image to image.
#
# To try here (not graded):
#
# 1. Add a vertical flip. Is it label-preserving for Fashion-MNIST? What happens to test
#    accuracy?
# 2. Increase the padding to 6. Is there a shift that is too large?
# 3. Train both networks for 60 epochs. Which one is ahead now?
