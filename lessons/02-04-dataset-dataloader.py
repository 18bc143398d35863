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
# # 02-04 · `Dataset` and `DataLoader`
#
# PyTorch splits "where the examples are" from "how they reach the model":
#
# - a **`Dataset`** answers two questions: how many examples (`__len__`) and what is
#   example `i` (`__getitem__`), already turned into tensors;
# - a **`DataLoader`** draws indices (shuffled or not), fetches those examples, and
#   **collates** them into a batch — by default by stacking — optionally in worker processes.
#
# We write a dataset of images and one of time-series windows, prove what the loader
# guarantees (every example exactly once per epoch, a reproducible order from a seeded
# generator), write a `collate_fn` for sequences of different lengths, and measure what the
# per-example machinery costs on a small in-memory data set.

# %%
import time

import matplotlib.pyplot as plt
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset, TensorDataset, random_split

from dllab.data.digits import load_digits_arrays
from dllab.data.series import load_series
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("02-04-dataset-dataloader")
torch.manual_seed(0)

# %% [markdown]
# ## 1. A map-style `Dataset`
#
# The digits come as uint8 images. The dataset keeps them as they are and converts one
# example at a time: to float in 0..1, standardised with the training mean and standard
# deviation, with an optional `transform` applied last (augmentation goes there, lesson
# 03-03). It also returns the example's index, which lets us check what the loader does.


# %%
class DigitsDataset(Dataset):
    """Example i -> (image float (1, 8, 8), label int, index i)."""

    def __init__(self, images, labels, mean: float, std: float, transform=None) -> None:
        self.images, self.labels = images, labels  # uint8 (N, 1, 8, 8), int64 (N,)
        self.mean, self.std, self.transform = mean, std, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        x = (self.images[i].float() / 255 - self.mean) / self.std  # (1, 8, 8)
        if self.transform is not None:
            x = self.transform(x)
        return x, self.labels[i], i


images, labels = load_digits_arrays()
images, labels = torch.from_numpy(images), torch.from_numpy(labels)
pixels = images.float() / 255
digits = DigitsDataset(images, labels, pixels.mean().item(), pixels.std().item())
x0, y0, i0 = digits[0]
print(f"{len(digits)} examples; example 0: image {tuple(x0.shape)} {x0.dtype}, label {y0}")
assert len(digits) == 1797 and x0.shape == (1, 8, 8) and i0 == 0

# %% [markdown]
# `random_split` divides a dataset into disjoint `Subset`s. Pass it a seeded generator: the
# split then comes out the same every run, so the test set stays the test set.

# %%
split_gen = torch.Generator().manual_seed(0)
train_set, val_set, test_set = random_split(digits, [1257, 180, 360], generator=split_gen)
again = random_split(digits, [1257, 180, 360], generator=torch.Generator().manual_seed(0))
assert train_set.indices == again[0].indices, "same seed, same split"
parts = [set(s.indices) for s in (train_set, val_set, test_set)]
assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
assert len(parts[0] | parts[1] | parts[2]) == len(digits)

# %% [markdown]
# ## 2. What the `DataLoader` guarantees
#
# With `shuffle=True` each epoch is a new permutation of all indices, cut into batches of
# `batch_size`; the last batch holds what is left (1257 = 19 x 64 + 41) unless
# `drop_last=True`. The default `collate_fn` stacks tensors along a new first axis and turns
# Python numbers into a tensor. A generator makes the order reproducible — and the generator's
# state moves on, so the second epoch differs from the first.

# %%
loader = DataLoader(
    train_set, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(1)
)
epoch1 = torch.cat([ib for _, _, ib in loader])
epoch2 = torch.cat([ib for _, _, ib in loader])
xb, yb, ib = next(iter(loader))  # the first batch of a third epoch
assert xb.shape == (64, 1, 8, 8) and yb.shape == (64,) and yb.dtype == torch.int64
sizes = [len(ib) for _, _, ib in loader]
assert sorted(epoch1.tolist()) == sorted(train_set.indices), "every example once per epoch"
assert sorted(epoch2.tolist()) == sorted(epoch1.tolist()) and not torch.equal(epoch1, epoch2)
assert sizes == [64] * 19 + [41] and len(loader) == 20

replay = DataLoader(
    train_set, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(1)
)
assert torch.equal(torch.cat([ib for _, _, ib in replay]), epoch1), "same seed, same order"
dropping = DataLoader(train_set, batch_size=64, shuffle=True, drop_last=True)
assert len(dropping) == 19
print("loader: full coverage each epoch, new order per epoch, reproducible from its seed")

# %% [markdown]
# `num_workers=k` fetches batches in `k` background processes, so that decoding images from
# disk overlaps with training. Each worker gets its own copy of the dataset and a seed derived
# from the loader's generator; anything random in `__getitem__` should use `torch`'s random
# functions (seeded per worker), not a global NumPy generator copied into every worker. For a
# data set that already sits in memory, as here, workers only add start-up cost.
#
# ## 3. Sliding windows over a time series
#
# A dataset does not have to store its examples: it can compute them. For forecasting, example
# `i` of a series is the window `series[i : i + T]` and the value that follows it. The
# dataset holds the series once; its length is `len(series) - T`.


# %%
class WindowDataset(Dataset):
    """Example i -> (series[i : i + T] as (T,), series[i + T] as a scalar)."""

    def __init__(self, series: torch.Tensor, window: int) -> None:
        self.series, self.window = series, window

    def __len__(self) -> int:
        return len(self.series) - self.window

    def __getitem__(self, i: int):
        return self.series[i : i + self.window], self.series[i + self.window]


sunspots = load_series("sunspots")  # 309 yearly sunspot numbers, 1700-2008
series = torch.tensor(sunspots.values, dtype=torch.float32)
windows = WindowDataset(series, window=22)  # two 11-year solar cycles
xw, yw = windows[5]
assert len(windows) == 309 - 22 and xw.shape == (22,)
assert torch.equal(xw[1:], windows[6][0][:-1]), "neighbouring windows overlap by T - 1"
assert yw == series[27] and windows[len(windows) - 1][1] == series[-1]

# %% [markdown]
# ## 4. A `collate_fn` for examples of different lengths
#
# Stacking needs equal shapes. If example `i` is the *whole history up to year i* — a
# sequence whose length grows with `i` — the default collate fails. A custom `collate_fn`
# pads each batch to its longest sequence with `pad_sequence` and returns the true lengths,
# so that a model can ignore the padding (a padding mask, lesson 05-03).


# %%
class History(Dataset):
    """Example i -> (series[: i + 1], series[i + 1]): all years so far, and the next one."""

    def __init__(self, series: torch.Tensor, first: int) -> None:
        self.series, self.first = series, first

    def __len__(self) -> int:
        return len(self.series) - self.first - 1

    def __getitem__(self, i: int):
        end = self.first + i + 1
        return self.series[:end], self.series[end]


def pad_collate(examples):
    """[(sequence (L_k,), target)] -> padded (B, L_max), lengths (B,), targets (B,)."""
    sequences, targets = zip(*examples, strict=True)
    lengths = torch.tensor([len(s) for s in sequences])
    return pad_sequence(list(sequences), batch_first=True), lengths, torch.stack(targets)


history = History(series, first=10)
try:
    next(iter(DataLoader(history, batch_size=4, shuffle=True)))
    raise AssertionError("the default collate cannot stack sequences of different lengths")
except RuntimeError as err:
    print("default collate ->", str(err)[:70])

padded, lengths, targets = next(
    iter(DataLoader(history, batch_size=4, shuffle=True, collate_fn=pad_collate))
)
print("padded batch", tuple(padded.shape), "lengths", lengths.tolist())
assert padded.shape == (4, int(lengths.max()))
for row, n in zip(padded, lengths, strict=True):
    assert torch.equal(row[:n], series[:n]) and torch.all(row[n:] == 0)

# %% [markdown]
# ## 5. What per-example loading costs
#
# A `DataLoader` over a dataset calls `__getitem__` once per example and then collates: per
# batch of 64, that is 64 Python calls and a `stack`. When the whole data set is one tensor in
# memory, a batch can instead be **indexed** in one operation: `images[batch_indices]`. That
# is how dllab feeds small data sets (its `TensorBatches`), because on a 2-core machine the
# per-example path can cost more than the model. We time one epoch of each on the digits.


# %%
def one_epoch_loader():
    return sum(len(y) for _, y, _ in loader)


X_all = (pixels - pixels.mean()) / pixels.std()  # (1797, 1, 8, 8), converted once
train_idx = torch.tensor(train_set.indices)


def one_epoch_indexed():
    seen = 0
    for batch in train_idx[torch.randperm(len(train_idx))].split(64):
        batch_x, batch_y = X_all[batch], labels[batch]  # one indexing operation each
        seen += min(len(batch_x), len(batch_y))
    return seen


def best_of(fn, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        count = fn()
        times.append(time.perf_counter() - start)
    assert count == len(train_set)
    return min(times)


timings = {
    "DataLoader(TensorDataset)": best_of(
        lambda: sum(
            len(y)
            for _, y in DataLoader(TensorDataset(X_all[train_idx], labels[train_idx]), 64, True)
        )
    ),
    "DataLoader(DigitsDataset)": best_of(one_epoch_loader),
    "index one tensor": best_of(one_epoch_indexed),
}
for name, seconds in timings.items():
    print(f"{name:26s} {seconds * 1e3:7.1f} ms per epoch")
ratio = timings["DataLoader(DigitsDataset)"] / timings["index one tensor"]
assert ratio > 5, f"indexing a tensor should be much faster, got {ratio:.1f}x"

# %%
fig = plt.figure(figsize=(12, 5))
outer = fig.add_gridspec(1, 2, width_ratios=[1.2, 1])
tiles = outer[0].subgridspec(4, 8, wspace=0.05, hspace=0.35)
for k in range(32):
    ax = fig.add_subplot(tiles[k // 8, k % 8])
    ax.imshow(xb[k, 0], cmap="gray_r")
    ax.set_title(str(int(yb[k])), fontsize=8, pad=2)
    ax.axis("off")
ax = fig.add_subplot(outer[1])
short = [name.replace("(", "\n(") for name in timings]
ax.bar(short, [s * 1e3 for s in timings.values()], color=["C1", "C3", "C2"])
ax.tick_params(axis="x", labelsize=7)
ax.set(ylabel="milliseconds per epoch (1,257 digits, log scale)", yscale="log")
ax.set_title(f"Per-example loading is {ratio:.0f}x slower than indexing")
fig.suptitle("One shuffled batch from the DataLoader (left), and what one epoch costs (right)")
lesson.save(fig, "batch-and-cost.png")

# %% [markdown]
# ## Summary
#
# - A `Dataset` is `__len__` + `__getitem__`; it can store examples or compute them
#   (windows). Conversion and augmentation happen per example, in `__getitem__`.
# - A `DataLoader` covers every example exactly once per epoch, in a new order each epoch;
#   a seeded `generator` (also for `random_split`) makes runs reproducible.
# - Examples of different lengths need a `collate_fn` that pads and keeps the lengths.
# - Per-example loading has a cost: for small in-memory data, index one tensor per batch;
#   for image folders and large data, stream through `num_workers` processes.
#
# ## Exercises
#
# - `dllab lab start window_dataset` — a sliding-window `Dataset` and a reproducible
#   `DataLoader`.
#
# To try here (not graded):
#
# 1. Add a random horizontal shift to `DigitsDataset` through `transform` and show that the
#    same index now gives different images in two epochs.
# 2. Time `loader` with `num_workers=2`. Where does the extra time go?
