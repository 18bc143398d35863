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
# # 02-01 · Tensors and broadcasting
#
# A PyTorch **tensor** is an n-dimensional array of one `dtype` on one `device`, plus the
# bookkeeping autograd needs (lesson 02-02). Almost every bug in a first PyTorch program is a
# *shape* bug, and most of those come from three facts this lesson proves one by one:
#
# 1. a tensor is a **view** onto a block of memory, described by a shape and **strides**; many
#    operations (`view`, `transpose`, slicing, `expand`) make new views of the same memory
#    instead of copies;
# 2. **broadcasting** lets `(N, D) - (D,)` work without copying the `(D,)` tensor N times — and
#    also lets `(N,) - (N, 1)` silently become an `(N, N)` matrix;
# 3. vectorised code is not a style choice: a Python loop over elements is hundreds of times
#    slower than one tensor operation.
#
# We finish with a nearest-neighbour classifier for scikit-learn's handwritten digits written
# in one broadcast expression.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from dllab.data.digits import load_digits_arrays
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("02-01-tensors-broadcasting")
torch.manual_seed(0)

# %% [markdown]
# ## 1. Shape, dtype, device — and strides
#
# `torch.arange(12).reshape(3, 4)` holds 12 integers in one row of memory. Its **strides**
# say how many elements to skip to move one step along each axis: `(4, 1)` — one row is 4
# elements further, one column is 1. Transposing does not move any data: it swaps the
# strides to `(1, 4)`. The transposed tensor is no longer **contiguous** (its rows are not
# consecutive in memory), which is why `.view()` refuses it and `.reshape()` has to copy.

# %%
a = torch.arange(12).reshape(3, 4)
print(a, a.dtype, a.device, "strides", a.stride())
assert a.shape == (3, 4) and a.stride() == (4, 1) and a.dtype == torch.int64

t = a.T  # a view: same memory, strides swapped
assert t.stride() == (1, 4) and t.data_ptr() == a.data_ptr() and not t.is_contiguous()

try:
    t.view(12)
    raise AssertionError("view of a non-contiguous tensor should fail")
except RuntimeError as err:
    print("t.view(12) ->", str(err).split(".")[0])
flat = t.reshape(12)  # reshape copies when it must
assert flat.data_ptr() != a.data_ptr()
assert flat.tolist() == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]  # column by column

# %% [markdown]
# Because a view shares memory, writing through it changes the original. The same is true of
# a basic slice `a[:, 1]`, and of `torch.from_numpy`, which wraps a NumPy array without
# copying. Advanced ("fancy") indexing with a list or a mask, on the other hand, always copies.

# %%
column = a[:, 1]
column[0] = 100
assert a[0, 1] == 100, "a slice is a view: writing to it writes to a"

fancy = a[[0, 2]]  # rows 0 and 2, by a list: a copy
fancy[0, 0] = -1
assert a[0, 0] == 0, "fancy indexing copies"

array = np.zeros(3, dtype=np.float32)
shared = torch.from_numpy(array)
array[1] = 7.0
assert shared[1] == 7.0, "from_numpy shares memory with the array"
assert torch.tensor(array).data_ptr() != shared.data_ptr(), "torch.tensor copies"

# %% [markdown]
# **dtype rules.** Integer tensors stay integers under `+` and `*`, but `/` always gives a
# float. Mixing an integer tensor and a float tensor promotes to float; mixing float32 and
# float64 promotes to float64. Models train in `float32`: a float64 input to a float32 layer
# is an error, not a silent conversion.

# %%
i = torch.tensor([1, 2, 3])
assert (i + i).dtype == torch.int64 and (i / 2).dtype == torch.float32
assert (i + torch.ones(3, dtype=torch.float64)).dtype == torch.float64
try:
    torch.nn.Linear(3, 1)(torch.ones(1, 3, dtype=torch.float64))
    raise AssertionError("a float64 input to a float32 layer should fail")
except RuntimeError as err:
    print("Linear(float64 input) ->", str(err)[:60])

# %% [markdown]
# ## 2. Broadcasting
#
# Two shapes are compared **from the right**. Each pair of sizes must be equal, or one of
# them must be 1 (or missing), and the result takes the larger size:
#
# ```
#   (N, D)       (5, 3)        (3, 1)        (N,)
#      (D,)         (3,)       (1, 4)        (N, 1)
#   ------       ------        ------        ------
#   (N, D)       (5, 3)        (3, 4)        (N, N)   <- the classic bug
# ```
#
# A size-1 axis is *stretched* without copying: `expand` makes a view whose stride along that
# axis is 0, so every index reads the same memory.

# %%
assert torch.broadcast_shapes((5, 3), (3,)) == (5, 3)
assert torch.broadcast_shapes((3, 1), (1, 4)) == (3, 4)
row = torch.arange(3.0)
stretched = row.expand(5, 3)
assert stretched.stride() == (0, 1) and stretched.data_ptr() == row.data_ptr()

outer = torch.arange(3.0)[:, None] * torch.arange(4.0)[None, :]  # (3, 1) * (1, 4) -> (3, 4)
assert torch.equal(outer, torch.outer(torch.arange(3.0), torch.arange(4.0)))

try:
    torch.ones(5, 3) + torch.ones(5)  # sizes 3 and 5 meet at the right: no rule applies
    raise AssertionError("(5, 3) + (5,) should fail")
except RuntimeError as err:
    print("(5, 3) + (5,) ->", str(err)[:70])

# %% [markdown]
# The classic bug: predictions of shape `(N,)` against targets of shape `(N, 1)`. The
# subtraction broadcasts to `(N, N)` — every prediction minus every target — and the mean
# squared error is a number, just the wrong one. `F.mse_loss` warns about it; hand-written
# losses do not.

# %%
pred = torch.tensor([1.0, 2.0, 3.0, 4.0])  # (N,)
target = torch.tensor([[1.0], [2.0], [3.0], [4.0]])  # (N, 1): perfect predictions
wrong = ((pred - target) ** 2).mean()
right = ((pred - target.squeeze(1)) ** 2).mean()
print(f"(pred - target) has shape {tuple((pred - target).shape)}; wrong MSE {wrong:.2f}")
assert (pred - target).shape == (4, 4) and wrong > 0 and right == 0

# %% [markdown]
# ## 3. Reductions, `keepdim`, and `gather`
#
# A reduction removes the axis it reduces over, unless `keepdim=True` keeps it as size 1 — the
# form that broadcasts back against the original. That is how a numerically stable softmax
# subtracts each row's maximum. `gather` picks one entry per row along an axis: with a column
# of class indices it picks each example's log-probability of its own class, which is exactly
# the negative of the cross-entropy's terms.

# %%
logits = torch.randn(6, 10) * 5  # (N, C)
labels = torch.randint(0, 10, (6,))  # (N,)
row_max = logits.max(dim=1, keepdim=True).values  # (N, 1), broadcasts against (N, C)
assert logits.max(dim=1).values.shape == (6,) and row_max.shape == (6, 1)
log_probs = logits - row_max - (logits - row_max).exp().sum(1, keepdim=True).log()
assert torch.allclose(log_probs, F.log_softmax(logits, dim=1), atol=1e-5)

picked = log_probs.gather(1, labels[:, None]).squeeze(1)  # (N,)
assert torch.equal(picked, log_probs[torch.arange(6), labels]), "gather == fancy indexing"
assert torch.allclose(-picked.mean(), F.cross_entropy(logits, labels), atol=1e-5)
print("cross-entropy = -mean of the gathered log-probabilities")

# %% [markdown]
# ## 4. Batched matrix products and `einsum`
#
# `@` (`torch.matmul`) multiplies the last two axes and broadcasts the rest: a `(B, N, D)`
# batch times a `(D, K)` matrix is `(B, N, K)`. `einsum` names each axis and says which ones
# are summed, which often reads more clearly than a chain of `transpose`s.

# %%
x = torch.randn(2, 5, 3)  # (B, N, D)
w = torch.randn(3, 4)  # (D, K)
y = x @ w  # (B, N, K)
assert y.shape == (2, 5, 4)
assert torch.allclose(y, torch.einsum("bnd,dk->bnk", x, w), atol=1e-6)
gram = torch.einsum("bnd,bmd->bnm", x, x)  # every pair of rows of each batch element
assert torch.allclose(gram, x @ x.transpose(1, 2), atol=1e-6)

# %% [markdown]
# ## 5. A nearest-neighbour classifier in one expression
#
# The squared distance between every test image and every training image is
# $\lVert a - b\rVert^2$. With test images `A` of shape `(M, D)` and training images `B` of
# shape `(N, D)`, broadcasting `A[:, None, :] - B[None, :, :]` gives all $M \times N$
# differences `(M, N, D)` at once. That needs $M N D$ numbers of memory; expanding the square,
#
# $$\lVert a - b\rVert^2 = \lVert a\rVert^2 - 2\,a\cdot b + \lVert b\rVert^2,$$
#
# needs only one `(M, N)` matrix product plus two broadcast vectors — the trick behind
# `torch.cdist`. We use it on the 1,797 digits (8 x 8 pixels, so D = 64).

# %%
images, digit_labels = load_digits_arrays()  # (1797, 1, 8, 8) uint8, (1797,)
X = torch.from_numpy(images).flatten(1).float() / 255  # (1797, 64)
Y = torch.from_numpy(digit_labels)
order = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))
train_idx, test_idx = order[:1400], order[1400:]
A, B = X[test_idx], X[train_idx]  # (397, 64), (1400, 64)

broadcast = ((A[:, None, :] - B[None, :, :]) ** 2).sum(-1)  # (M, N, D) -> (M, N)
expanded = (A**2).sum(1, keepdim=True) - 2 * A @ B.T + (B**2).sum(1)  # (M,1) + (M,N) + (N,)
assert broadcast.shape == (397, 1400)
assert torch.allclose(broadcast, expanded, atol=1e-4)
assert torch.allclose(broadcast.sqrt(), torch.cdist(A, B), atol=1e-3)

nearest = expanded.argmin(dim=1)  # index of the closest training image
accuracy = (Y[train_idx][nearest] == Y[test_idx]).float().mean().item()
print(f"1-nearest-neighbour accuracy on {len(A)} held-out digits: {accuracy:.1%}")
assert accuracy > 0.95

# %% [markdown]
# The same distances with Python loops, on a small part of the problem so that it finishes:
# one tensor operation per pair instead of one for the whole matrix.


# %%
def loop_distances(A, B):
    out = torch.empty(len(A), len(B))
    for m in range(len(A)):
        for n in range(len(B)):
            out[m, n] = ((A[m] - B[n]) ** 2).sum()
    return out


def best_time(fn, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


small_A, small_B = A[:20], B[:100]
assert torch.allclose(loop_distances(small_A, small_B), expanded[:20, :100], atol=1e-4)
timings = {
    "Python loops": best_time(lambda: loop_distances(small_A, small_B), repeats=1),
    "broadcast (M, N, D)": best_time(
        lambda: ((small_A[:, None] - small_B[None]) ** 2).sum(-1), repeats=20
    ),
    "matmul expansion": best_time(
        lambda: (small_A**2).sum(1, keepdim=True) - 2 * small_A @ small_B.T + (small_B**2).sum(1),
        repeats=20,
    ),
}
for name, seconds in timings.items():
    print(f"{name:20s} {seconds * 1e3:8.3f} ms for 20 x 100 distances")
speedup = timings["Python loops"] / timings["matmul expansion"]
assert speedup > 50, f"vectorised code should be far faster, got {speedup:.0f}x"

# %%
by_class = torch.argsort(Y[test_idx][:120], stable=True)
by_class_train = torch.argsort(Y[train_idx][:400], stable=True)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
shown = ax1.imshow(expanded[:120][by_class][:, by_class_train].sqrt(), cmap="viridis")
fig.colorbar(shown, ax=ax1, label="Euclidean distance")
ax1.set(xlabel="training digit (sorted by class)", ylabel="test digit (sorted by class)")
ax1.set_title("All pairwise distances from one broadcast: same digits are close")
ax2.barh(list(timings), [s * 1e3 for s in timings.values()], color=["tab:red", "C0", "C2"])
ax2.set(xscale="log", xlabel="milliseconds for 20 x 100 distances (log scale)")
ax2.set_title(f"Vectorised is {speedup:.0f}x faster than Python loops")
lesson.save(fig, "distances.png")

# %% [markdown]
# The dark blocks on the diagonal are digits of the same class: closest to each other, which
# is why a nearest-neighbour rule already gets over 95 % right on these tiny images.
#
# ## Summary
#
# - A tensor is memory plus shape plus strides. `view`, `transpose`, basic slicing and
#   `expand` share memory; `reshape` copies only when it must; fancy indexing always copies.
# - Broadcasting aligns shapes from the right; size-1 axes stretch for free (stride 0).
#   Check shapes where `(N,)` meets `(N, 1)`: the result is `(N, N)`, not an error.
# - Reductions with `keepdim=True` broadcast back; `gather` picks one entry per row.
# - `@` and `einsum` batch over leading axes. One tensor operation beats a Python loop by
#   orders of magnitude.
#
# ## Exercises
#
# - `dllab lab start tensor_ops` — broadcasting, `gather` and `reshape`/`permute` on torch
#   tensors, graded on generated cases.
#
# To try here (not graded):
#
# 1. Compute `broadcast` for all 1,797 x 1,797 pairs. How much memory does the `(M, N, D)`
#    intermediate need in float32, and how much does the matmul expansion need?
# 2. Replace `argmin` by the majority vote of the 3 nearest neighbours (`topk`). Does the
#    accuracy change?
