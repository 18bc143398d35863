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
# # 01-09 · The arithmetic of convolution and pooling
#
# A convolutional layer slides a small kernel over the image and computes, at every position,
# a weighted sum of the pixels under it. For input $x$ of shape $(C_{in}, H, W)$, weights $w$
# of shape $(C_{out}, C_{in}, k, k)$, stride $s$, zero padding $p$ and dilation $d$:
#
# $$y[o, i, j] = b_o + \sum_{c=1}^{C_{in}} \sum_{u=0}^{k-1}\sum_{v=0}^{k-1} w[o, c, u, v]\; x[c,\; s i + d u - p,\; s j + d v - p].$$
#
# (Deep learning's "convolution" does not flip the kernel: it is a cross-correlation.) This
# lesson works out everything you need to design and debug CNNs by hand:
#
# 1. the **output size** of a convolution or pooling layer;
# 2. **im2col**, which turns a convolution into one matrix product — how `dllab.scratch`
#    (and most libraries) compute it;
# 3. the number of **parameters and multiply-adds**;
# 4. what **pooling** does forwards and backwards;
# 5. the **receptive field** of a unit deep in the network.
#
# Each formula is checked against `torch.nn.functional` and `dllab.scratch`.

# %%
import itertools

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

import dllab.scratch as st
import dllab.scratch.functional as SF
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("01-09-conv-pooling-arithmetic")

rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Output size
#
# A dilated kernel spans $d(k-1) + 1$ pixels. Padding makes the input $H + 2p$ wide, so the
# kernel's first position is at 0 and its last possible start is $H + 2p - d(k-1) - 1$. With
# stride $s$ we count the starts $0, s, 2s, \dots$ up to there:
#
# $$H_{out} = \left\lfloor \frac{H + 2p - d(k-1) - 1}{s} \right\rfloor + 1.$$
#
# The floor means that pixels left over at the bottom and right edges are silently ignored.
# Pooling layers use the same formula (with $d = 1$ unless you ask otherwise). We check it on
# every combination of a grid of sizes against PyTorch's `conv2d` and `max_pool2d`, and
# against `dllab.scratch`'s `conv2d`.


# %%
def out_size(size, kernel, stride=1, padding=0, dilation=1):
    """Output length of a convolution or pooling along one axis."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


checked = 0
for size, k, s, p, d in itertools.product([5, 8, 13], [1, 2, 3, 5], [1, 2, 3], [0, 1, 2], [1, 2]):
    if out_size(size, k, s, p, d) < 1:
        continue  # the kernel does not fit: torch raises an error
    x = torch.zeros(1, 1, size, size + 1)
    w = torch.zeros(1, 1, k, k)
    expected = (out_size(size, k, s, p, d), out_size(size + 1, k, s, p, d))
    assert F.conv2d(x, w, stride=s, padding=p, dilation=d).shape[2:] == expected
    if p <= k // 2:  # torch's pooling allows at most half the kernel as padding
        assert F.max_pool2d(x, k, stride=s, padding=p, dilation=d).shape[2:] == expected
    scratch_out = SF.conv2d(
        st.zeros(1, 1, size, size + 1), st.zeros(1, 1, k, k), stride=s, padding=p, dilation=d
    )
    assert scratch_out.shape[2:] == expected
    checked += 1
print(f"output-size formula == torch conv2d, max_pool2d and scratch conv2d on {checked} settings")

# %% [markdown]
# The settings you meet most often, worked out:

# %%
common = [  # (what, input size, kernel, stride, padding, dilation)
    ("3×3 conv, 'same' padding", 32, 3, 1, 1, 1),
    ("3×3 conv, no padding", 32, 3, 1, 0, 1),
    ("2×2 max pool, stride 2", 32, 2, 2, 0, 1),
    ("3×3 max pool, stride 2, pad 1 (ResNet)", 112, 3, 2, 1, 1),
    ("7×7 conv, stride 2, pad 3 (ResNet stem)", 224, 7, 2, 3, 1),
    ("11×11 conv, stride 4, pad 2 (AlexNet)", 224, 11, 4, 2, 1),
    ("3×3 conv, dilation 2, pad 2", 32, 3, 1, 2, 2),
    ("5×5 conv, stride 2, no padding", 32, 5, 2, 0, 1),
]
print(f"{'layer':42s} {'in':>4s} -> out")
for what, size, k, s, p, d in common:
    print(f"{what:42s} {size:4d} -> {out_size(size, k, s, p, d)}")
assert [out_size(*c[1:]) for c in common] == [32, 30, 16, 56, 112, 55, 32, 14]

# %% [markdown]
# Rules of thumb: a $k \times k$ convolution with stride 1 keeps the size when $p = (k-1)/2$
# ("same"); stride 2 halves it (rounding as the floor says); and the last row is dropped when
# $(H + 2p - k)$ is not divisible by $s$ — e.g. the 5×5, stride-2 layer above reads only the
# first 31 of 32 columns.
#
# ## 2. im2col: convolution as one matrix product
#
# Looping over output positions in Python is slow. Instead, copy every receptive field — the
# $C_{in} k^2$ numbers the kernel sees at one position — into a column of a matrix. That is
# **im2col** (`unfold` in PyTorch). With $L = H_{out} W_{out}$ positions:
#
# $$\underbrace{X_{col}}_{(C_{in}k^2,\ L)}, \qquad \underbrace{Y}_{(C_{out},\ L)} = \underbrace{W_{row}}_{(C_{out},\ C_{in}k^2)}\; X_{col} + b,$$
#
# where $W_{row}$ is the weight tensor reshaped to one row per output channel. Reshape $Y$ to
# $(C_{out}, H_{out}, W_{out})$ and you have the convolution. The price is memory (each pixel
# is copied up to $k^2$ times); the gain is one big, fast matrix multiply.
#
# A 5×5 image with the numbers 0–24 makes the columns easy to read:

# %%
image = np.arange(25.0).reshape(1, 1, 5, 5)  # (N, C, H, W)
cols = SF.unfold(st.tensor(image), kernel_size=3).numpy()  # (1, 9, 9): C·k·k rows, L columns
np.testing.assert_array_equal(cols, F.unfold(torch.tensor(image), kernel_size=3).numpy())

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.6), gridspec_kw={"width_ratios": [1, 1.6]})
ax1.imshow(image[0, 0], cmap="Blues")
for (r, c), v in np.ndenumerate(image[0, 0]):
    ax1.text(c, r, int(v), ha="center", va="center")
ax1.add_patch(plt.Rectangle((-0.5, -0.5), 3, 3, fill=False, ec="red", lw=2.5))
ax1.set(xlabel="column", ylabel="row")
ax1.set_title("5×5 input; red: the first 3×3 window")
ax2.imshow(cols[0], cmap="Blues", aspect="auto")
for (r, c), v in np.ndenumerate(cols[0]):
    ax2.text(c, r, int(v), ha="center", va="center", fontsize=8)
ax2.add_patch(plt.Rectangle((-0.5, -0.5), 1, 9, fill=False, ec="red", lw=2.5))
ax2.set(xlabel="output position (column of X_col)", ylabel="kernel offset u·3 + v (row of X_col)")
ax2.set_title("im2col: each column is one receptive field")
lesson.save(fig, "im2col.png")

# %% [markdown]
# Now a real check: random input, several channels, stride, padding and dilation. Convolution
# by im2col plus matrix product must equal PyTorch's `conv2d`, and so must `dllab.scratch`'s
# `conv2d` — values *and* gradients with respect to input, weights and bias.

# %%
N, C_in, C_out, H, W, k = 2, 3, 4, 9, 8, 3
stride, padding, dilation = 2, 1, 2
x_np = rng.standard_normal((N, C_in, H, W))
w_np = rng.standard_normal((C_out, C_in, k, k))
b_np = rng.standard_normal(C_out)
H_out, W_out = out_size(H, k, stride, padding, dilation), out_size(W, k, stride, padding, dilation)

x_cols = F.unfold(
    torch.tensor(x_np), k, dilation=dilation, padding=padding, stride=stride
)  # (N, C_in·k·k, L)
by_matmul = (torch.tensor(w_np).reshape(C_out, -1) @ x_cols + torch.tensor(b_np)[:, None]).reshape(
    N, C_out, H_out, W_out
)
reference = F.conv2d(
    torch.tensor(x_np), torch.tensor(w_np), torch.tensor(b_np), stride, padding, dilation
)
np.testing.assert_allclose(by_matmul.numpy(), reference.numpy(), atol=1e-12)

xs, ws, bs = (st.tensor(a, requires_grad=True) for a in (x_np, w_np, b_np))
xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x_np, w_np, b_np))
out_s = SF.conv2d(xs, ws, bs, stride=stride, padding=padding, dilation=dilation)
out_t = F.conv2d(xt, wt, bt, stride=stride, padding=padding, dilation=dilation)
upstream = rng.standard_normal(out_t.shape)  # any dL/dy
out_s.backward(upstream)
out_t.backward(torch.tensor(upstream))
np.testing.assert_allclose(out_s.detach().numpy(), out_t.detach().numpy(), atol=1e-12)
for name, a, b in [("input", xs, xt), ("weight", ws, wt), ("bias", bs, bt)]:
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=1e-10, err_msg=name)
print(
    f"conv2d {tuple(x_np.shape)} -> {tuple(out_t.shape)}: "
    "im2col @ W == torch == scratch (values and gradients)"
)

# %% [markdown]
# ## 3. Parameters and cost
#
# A convolution shares its kernel across all positions, so its parameter count does not
# depend on the image size:
#
# $$\text{params} = C_{out}\,C_{in}\,k^2 + C_{out}, \qquad \text{multiply-adds} = C_{out}\,C_{in}\,k^2 \cdot H_{out} W_{out}.$$
#
# The cost, on the other hand, scales with the output size. A fully connected layer between
# the same input and output would need a weight for every (input pixel, output pixel) pair.

# %%
layer = torch.nn.Conv2d(64, 128, kernel_size=3, padding=1)
params = 128 * 64 * 3 * 3 + 128
assert sum(p.numel() for p in layer.parameters()) == params
macs = 128 * 64 * 3 * 3 * 56 * 56
dense = (64 * 56 * 56) * (128 * 56 * 56)
print(f"Conv2d(64, 128, 3) on 56×56: {params:,} parameters, {macs / 1e9:.2f} G multiply-adds")
print(f"a dense layer between the same tensors would need {dense / 1e9:.0f} G weights")

# %% [markdown]
# ## 4. Pooling, forwards and backwards
#
# **Max pooling** keeps the largest value of each window; **average pooling** the mean. Both
# have no parameters and use the output-size formula above. Their backward passes differ:
#
# - max: the window's gradient goes *entirely* to the position that held the maximum, the
#   others get 0;
# - average: every position in the window gets $1/k^2$ of it.
#
# When windows overlap (stride < kernel), a pixel can win several windows and its gradients
# add up. Here is a 3×3 max pool with stride 2 on a 7×7 input, with $\partial L/\partial y = 1$
# for every output, in `dllab.scratch`, checked against PyTorch:

# %%
pool_in = rng.permutation(49).reshape(1, 1, 7, 7).astype(float)
xs = st.tensor(pool_in, requires_grad=True)
xt = torch.tensor(pool_in, requires_grad=True)
pooled = SF.max_pool2d(xs, 3, stride=2)  # (1, 1, 3, 3)
pooled.sum().backward()
F.max_pool2d(xt, 3, stride=2).sum().backward()
np.testing.assert_array_equal(
    pooled.detach().numpy(), F.max_pool2d(torch.tensor(pool_in), 3, stride=2).numpy()
)
np.testing.assert_array_equal(xs.grad.numpy(), xt.grad.numpy())
assert xs.grad.numpy().sum() == 9 and xs.grad.numpy().max() >= 1  # 9 windows, 9 units of gradient

avg_in = st.tensor(pool_in, requires_grad=True)
SF.avg_pool2d(avg_in, 3, stride=2).sum().backward()

fig, axes = plt.subplots(1, 4, figsize=(15, 4))
panels = [
    (pool_in[0, 0], "7×7 input"),
    (pooled.detach().numpy()[0, 0], "3×3 max pool, stride 2 → 3×3"),
    (xs.grad.numpy()[0, 0], "max pool: dL/dx (dL/dy = 1)"),
    (avg_in.grad.numpy()[0, 0], "average pool: dL/dx (dL/dy = 1)"),
]
for ax, (values, title) in zip(axes, panels, strict=True):
    ax.imshow(values, cmap="Oranges")
    for (r, c), v in np.ndenumerate(values):
        ax.text(c, r, f"{v:.2g}", ha="center", va="center", fontsize=8)
    ax.set(
        xlabel="column", ylabel="row", xticks=range(values.shape[1]), yticks=range(values.shape[0])
    )
    ax.set_title(title, fontsize=10)
lesson.save(fig, "pooling.png")

# %% [markdown]
# In the max-pool gradient most pixels get 0 and each window's winner gets 1 — but a pixel in
# the overlap of several windows collects 1 from every window it wins: the 47 at row 4,
# column 2 is the maximum of four windows and receives 4. Average pooling spreads $1/9$ per
# window, so pixels in overlaps collect $2/9$ or $4/9$.
#
# ## 5. Receptive field
#
# The **receptive field** of a unit is the patch of the input that can influence it. Each
# layer $l$ with kernel $k_l$ and dilation $d_l$ widens it by $(k_l - 1)d_l$ *steps of the
# layer's input grid*, and one step there is $\prod_{i<l} s_i$ input pixels (the product of all
# earlier strides). So after $L$ layers
#
# $$r_L = 1 + \sum_{l=1}^{L} (k_l - 1)\, d_l \prod_{i=1}^{l-1} s_i.$$
#
# Stacking two 3×3 convolutions gives $r = 5$, three give 7 — the reason VGG replaced large
# kernels by stacks of 3×3 ones (fewer parameters, more nonlinearities, same field). Pooling
# or strided layers multiply the growth of everything after them; dilation grows it without
# losing resolution.
#
# We can *measure* the receptive field: take the gradient of one output unit with respect to
# the input; the pixels with a nonzero gradient are exactly the ones that influence it. (All
# weights are set to 1 so that no gradients cancel by chance, and we use average rather than
# max pooling, which would pass gradient to one pixel per window only.)


# %%
def receptive_field(layers):
    """r_L from the formula; layers are (kind, kernel, stride, dilation)."""
    r, jump = 1, 1
    for _, k, s, d in layers:
        r += (k - 1) * d * jump
        jump *= s
    return r


def measured_field(layers, size=65):
    """Width of the input region that moves the centre output unit, by autograd."""
    x = st.tensor(np.ones((1, 1, size, size)), requires_grad=True)
    h = x
    for kind, k, s, d in layers:
        if kind == "conv":
            h = SF.conv2d(h, st.tensor(np.ones((1, 1, k, k))), stride=s, dilation=d)
        else:
            h = SF.avg_pool2d(h, k, stride=s)
    centre = h.shape[2] // 2
    h[0, 0, centre, centre].backward()
    rows = np.nonzero(x.grad.numpy()[0, 0].any(axis=1))[0]
    return rows.max() - rows.min() + 1, x.grad.numpy()[0, 0]


# %% [markdown]
# Six stacks, from one 3×3 convolution to three VGG blocks (two 3×3 convolutions and a 2×2
# pooling each), and four dilated convolutions. Formula and measurement must agree.

# %%
conv3 = ("conv", 3, 1, 1)
pool2 = ("pool", 2, 2, 1)
stacks = {
    "1 × conv3": [conv3],
    "2 × conv3": [conv3] * 2,
    "VGG block: 2 × conv3, pool": [conv3, conv3, pool2],
    "2 VGG blocks": [conv3, conv3, pool2] * 2,
    "3 VGG blocks": [conv3, conv3, pool2] * 3,
    "dilated conv3, d = 1, 2, 4, 8": [("conv", 3, 1, d) for d in (1, 2, 4, 8)],
}
maps = {}
for name, layers in stacks.items():
    width, maps[name] = measured_field(layers)
    print(f"{name:32s} formula {receptive_field(layers):3d}, measured {width:3d}")
    assert width == receptive_field(layers), name

# %% [markdown]
# The measured gradients, drawn: each panel is the input, coloured by how strongly each
# pixel moves the centre output unit.

# %%
fig, axes = plt.subplots(2, 3, figsize=(12, 8))
for ax, (name, grad_map) in zip(axes.ravel(), maps.items(), strict=True):
    ax.imshow(grad_map / grad_map.max(), cmap="Greens", vmin=0, vmax=1)
    hit_rows, hit_cols = np.nonzero(grad_map)
    corner = (hit_cols.min() - 0.5, hit_rows.min() - 0.5)
    box = plt.Rectangle(
        corner, np.ptp(hit_cols) + 1, np.ptp(hit_rows) + 1, fill=False, ec="red", lw=1
    )
    ax.add_patch(box)
    ax.set(xlabel="input column", ylabel="input row")
    ax.set_title(f"{name}: r = {receptive_field(stacks[name])}", fontsize=10)
fig.suptitle(
    "Receptive field of the centre unit on a 65×65 input "
    "(colour: dL/dx scaled to 1; red: dL/dx ≠ 0)"
)
lesson.save(fig, "receptive-field.png")

# %% [markdown]
# Dilations 1, 2, 4, 8 reach a 31-pixel field with four 3×3 layers and no loss of
# resolution — WaveNet's and DeepLab's trick. The colours show something else too: even with
# all weights equal, the centre pixels reach the output through many more paths than the
# edge pixels, so they have larger gradients. The formula gives the *theoretical* receptive
# field; the part that matters in practice is smaller and roughly Gaussian — the *effective*
# receptive field (Luo et al. 2016). The dilated stack weighs its field unevenly, in a grid
# pattern: the "gridding" artefact of stacked dilations.
#
# ## Summary
#
# - $H_{out} = \lfloor (H + 2p - d(k-1) - 1)/s \rfloor + 1$, for convolution and pooling.
# - im2col turns a convolution into $W_{row} X_{col}$: $(C_{out}, C_{in}k^2) \times (C_{in}k^2, H_{out}W_{out})$.
# - Parameters $C_{out}C_{in}k^2 + C_{out}$, independent of the image size; cost scales with
#   $H_{out}W_{out}$.
# - Max pooling routes each window's gradient to its maximum; average pooling spreads it.
# - $r_L = 1 + \sum_l (k_l - 1)d_l\prod_{i<l}s_i$: strides and dilations make fields grow fast.
#
# ## Exercises
#
# - `dllab lab start conv2d` — the output-size formula, im2col and `conv2d` with stride and
#   padding, in NumPy; graded against PyTorch (an off-by-one in the output size fails it).
# - `dllab lab start maxpool` — max pooling forward and backward, including overlapping
#   windows.
# - `dllab lab start residual_block` — a ResNet block, where these sizes must line up.
#
# Check each with `dllab lab check NAME`.
#
# To try here (not graded):
#
# 1. Compute the receptive field of ResNet-18's stem (7×7 stride 2, then 3×3 max pool stride
#    2) with `receptive_field`, then measure it.
# 2. With `ceil_mode=True`, PyTorch's pooling rounds up instead of down. Find an input size
#    where that changes the output size of a 2×2, stride-2 pool.
