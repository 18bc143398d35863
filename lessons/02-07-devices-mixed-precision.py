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
# # 02-07 · Devices and mixed precision
#
# Two questions decide how fast a model trains: **where** the numbers live (CPU memory, a
# CUDA GPU, Apple's MPS) and **in what format** they are computed (32-bit floats or 16-bit
# ones). This lesson covers both:
#
# 1. devices: choosing one, moving models and tensors, and what happens when they are mixed;
# 2. number formats: float32, float16 and bfloat16 — range, precision, and what goes wrong
#    in each;
# 3. **automatic mixed precision** (`torch.autocast`): matrix products in 16 bits, sensitive
#    operations and the weights in 32, trained on the digits on the CPU;
# 4. why bf16 is fast on some CPUs and many times *slower* on others, and what dllab does
#    about it; loss scaling for float16 on GPUs.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dllab.data.digits import load_digits_arrays
from dllab.train.precision import native_bf16, resolve_precision
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("02-07-devices-mixed-precision")
torch.manual_seed(0)

# %% [markdown]
# ## 1. Devices
#
# Every tensor lives on one device. The usual choice is "the best one available": a CUDA GPU,
# else Apple's GPU (MPS), else the CPU. Write code against a `device` variable and it runs
# unchanged on each.


# %%
def pick_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


device = pick_device()
print("this lesson runs on:", device)

# %% [markdown]
# `module.to(device)` moves a module's parameters and buffers **in place** and returns the
# module; `tensor.to(device)` returns a **new** tensor (or the same one when nothing has to
# change). Operations need their inputs on one device: mixing them is an error, not a silent
# copy — copies between CPU and GPU are slow, and PyTorch makes you ask for them.
#
# We can show the error without a GPU: the `meta` device holds shapes and dtypes but no data.

# %%
layer = nn.Linear(4, 2)
weight = layer.weight
assert layer.to(device) is layer and layer.weight is weight, "modules move in place"
t = torch.ones(3)
assert t.to("cpu") is t and t.to(torch.float64) is not t, "tensors: a new one when it changes"

try:
    torch.ones(2) + torch.ones(2, device="meta")
    raise AssertionError("mixing devices must fail")
except RuntimeError as err:
    print("cpu + meta ->", err)

# %% [markdown]
# The `meta` device is useful in itself: build a model there to learn its parameter count and
# output shapes without allocating its memory. A 50,000 x 50,000 linear layer would need 10 GB
# in float32:

# %%
with torch.device("meta"):
    huge = nn.Linear(50_000, 50_000)
    out = huge(torch.empty(8, 50_000))
n = sum(p.numel() for p in huge.parameters())
print(
    f"{n:,} parameters = {n * 4 / 1e9:.1f} GB in float32; output {tuple(out.shape)}; no memory used"
)
assert n == 50_000 * 50_000 + 50_000 and out.shape == (8, 50_000) and out.is_meta

# %% [markdown]
# ## 2. Three floating-point formats
#
# A float is sign x mantissa x 2^exponent. The bits split differently:
#
# | format | exponent bits | mantissa bits | largest | relative precision (eps) |
# |---|---|---|---|---|
# | float32 | 8 | 23 | 3.4e38 | 1.2e-7 |
# | float16 | 5 | 10 | 65,504 | 9.8e-4 |
# | bfloat16 | 8 | 7 | 3.4e38 | 7.8e-3 |
#
# float16 keeps more precision but has a tiny range: values over 65,504 become `inf`, and
# values below about 6e-8 become 0 — small gradients **underflow**. bfloat16 ("brain float")
# keeps float32's exponent, so it has float32's range and cannot overflow where float32 does
# not, at the cost of only 2-3 significant decimal digits.

# %%
f32, f16, bf16 = (torch.finfo(t) for t in (torch.float32, torch.float16, torch.bfloat16))
assert f16.max == 65504 and f16.eps == 2**-10 and bf16.eps == 2**-7 and bf16.max > 3e38
assert torch.tensor(70_000.0).half().isinf(), "float16 overflows"
assert torch.tensor(1e-8).half() == 0, "float16 underflows"
assert torch.tensor(1e-8).bfloat16() > 0 and not torch.tensor(70_000.0).bfloat16().isinf()
assert torch.tensor(1 + 2**-9).bfloat16() == 1, "bf16 cannot tell 1 from 1 + 1/512"
assert torch.tensor(256.0).bfloat16() + 1 == 256, "256 + 1 = 256 in bf16"
print("float16: 70000 -> inf, 1e-8 -> 0; bfloat16: keeps both, but 256 + 1 == 256")

# %% [markdown]
# The plot rounds a million numbers spread from $10^{-10}$ to $10^{6}$ to each format and
# shows the relative error. Each format's error is flat — a fixed number of significant bits
# — until its range ends.

# %%
values = torch.logspace(-10, 6, 1_000_000, dtype=torch.float64)
fig, ax = plt.subplots(figsize=(9, 4.5))
for dtype, color in [(torch.float32, "C0"), (torch.float16, "C3"), (torch.bfloat16, "C2")]:
    rounded = values.to(dtype).double()
    error = ((rounded - values).abs() / values).clamp(min=1e-10, max=1.0)
    error[rounded.isinf()] = 1.0
    # Running maximum over windows of 2,000 points: the envelope, readable at this scale.
    envelope = error.numpy().reshape(-1, 2000).max(1)
    ax.loglog(values.numpy()[1000::2000], envelope, color=color, label=str(dtype)[6:])
ax.axvline(65504, color="C3", ls=":", lw=1)
ax.text(65504, 2e-9, " float16 max 65,504", color="C3", fontsize=8)
ax.set(xlabel="value", ylabel="relative rounding error (1 = lost)", ylim=(1e-10, 2))
ax.set_title("float16 loses small and large numbers; bfloat16 keeps float32's range")
ax.legend(fontsize=8)
lesson.save(fig, "formats.png")

# %% [markdown]
# Between $6 \times 10^{-5}$ and $6 \times 10^{-8}$ float16 still represents numbers, but with
# fewer and fewer bits (*subnormal* numbers): the error climbs from $10^{-4}$ to 1. bfloat16's
# error is 16 times float16's across the middle, and constant everywhere else.
#
# ## 3. Autocast: 16 bits where it is safe, 32 where it matters
#
# Mixed precision does **not** convert the model. The weights stay float32 (an update of
# $10^{-4}$ to a weight of 1 would vanish in bf16, whose step near 1 is $2^{-7}$). Inside
# `torch.autocast(device_type, dtype=torch.bfloat16)`, PyTorch casts the inputs of
# matrix-heavy operations (linear layers, convolutions) to bf16 on the fly, and keeps
# reductions that lose accuracy, such as the cross-entropy, in float32. Gradients come back in
# the parameters' own dtype, float32.

# %%
net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
x = torch.randn(16, 64)
with torch.autocast("cpu", dtype=torch.bfloat16):
    logits = net(x)
    loss = F.cross_entropy(logits, torch.zeros(16, dtype=torch.long))
loss.backward()
print(f"logits {logits.dtype}, loss {loss.dtype}, weights {net[0].weight.dtype}, "
      f"gradients {net[0].weight.grad.dtype}")  # fmt: skip
assert logits.dtype == torch.bfloat16 and loss.dtype == torch.float32
assert net[0].weight.dtype == torch.float32 and net[0].weight.grad.dtype == torch.float32

with torch.no_grad():
    exact = net(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        approx = net(x).float()
relative = ((approx - exact).norm() / exact.norm()).item()
print(f"bf16 logits differ from float32 by {relative:.2%} (relative)")
assert 1e-4 < relative < 3e-2  # different, but within a few bf16 steps

# %% [markdown]
# ## 4. Training in bf16 gives the same model
#
# The same CNN, the same seed, the same batches: once in float32, once under bf16 autocast.
# The trajectories differ in the last bits from the first step, but the accuracy they reach
# is the same, up to the noise of training.

# %%
images, labels = load_digits_arrays()
X = (torch.from_numpy(images).float() / 255 - 0.3) / 0.4  # (1797, 1, 8, 8)
Y = torch.from_numpy(labels)
order = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))
train_idx, test_idx = order[:1400], order[1400:]


def train(precision, epochs=12):
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 4, 4)
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 64, 2, 2)
        nn.Flatten(), nn.Linear(256, 10),
    ).to(device)  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    cast = precision == "bf16"
    generator, losses = torch.Generator().manual_seed(0), []
    start = time.perf_counter()
    for _ in range(epochs):
        for idx in train_idx[torch.randperm(1400, generator=generator)].split(64):
            xb, yb = X[idx].to(device), Y[idx].to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cast):
                loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    seconds = time.perf_counter() - start
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=cast):
        pred = model(X[test_idx].to(device)).argmax(1).cpu()
    return losses, (pred == Y[test_idx]).float().mean().item(), seconds


runs = {precision: train(precision) for precision in ("fp32", "bf16")}
for precision, (_, accuracy, seconds) in runs.items():
    print(f"{precision}: test accuracy {accuracy:.1%}, {seconds:.2f} s")
assert runs["fp32"][1] > 0.95 and runs["bf16"][1] > 0.95
assert abs(runs["fp32"][1] - runs["bf16"][1]) < 0.03

# %% [markdown]
# ## 5. Is bf16 faster? Only where the hardware computes in it
#
# On a GPU (since NVIDIA's A100) and on CPUs with bf16 instructions — x86 with AVX512-BF16 or
# AMX (Intel Xeon since Sapphire Rapids, AMD Zen 4), and Arm — a bf16 matrix product runs in
# hardware, with half the memory traffic of float32, and is faster. An x86 CPU **without**
# those instructions has no bf16 arithmetic: PyTorch converts every operand to float32,
# multiplies, and converts back, so a bf16 step is slower than a float32 one — on an AVX2-only
# AMD EPYC, dllab measured a BERT step going from 1.1 s to 31 s.
#
# `dllab.train.precision.native_bf16()` asks PyTorch which case this CPU is, and
# `resolve_precision` uses the answer: a recipe that asks for bf16 trains in float32, with a
# one-line note, where bf16 would be emulated. We time a matrix product both ways on this
# machine.


# %%
def matmul_ms(dtype, size=512, repeats=20):
    a = torch.randn(size, size, dtype=dtype)
    b = torch.randn(size, size, dtype=dtype)
    a @ b  # warm up
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return (time.perf_counter() - start) / repeats * 1e3


native = native_bf16("cpu")
times = {"float32": matmul_ms(torch.float32), "bfloat16": matmul_ms(torch.bfloat16)}
print(f"this CPU computes bf16 natively: {native}; "
      f"512x512 matmul: float32 {times['float32']:.2f} ms, bf16 {times['bfloat16']:.2f} ms")  # fmt: skip

trained_in, note = resolve_precision("bf16", "cpu")
assert trained_in == ("bf16" if native else "fp32") and (note is None) == native
if not native:
    print("dllab would train a bf16 recipe in fp32 here:", note)
if getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)():
    # AMX multiplies bf16 tiles in hardware: several times float32's speed.
    assert times["bfloat16"] < times["float32"]

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
for precision, (losses, accuracy, _) in runs.items():
    ax1.plot(
        np.convolve(losses, np.ones(10) / 10, mode="valid"), label=f"{precision}: {accuracy:.1%}"
    )
ax1.set(xlabel="step", ylabel="training loss (10-step mean)", yscale="log")
ax1.set_title("Digits CNN: float32 and bf16 autocast learn alike")
ax1.legend(fontsize=8, title="test accuracy")
ax2.bar(list(times), list(times.values()), color=["C0", "C2"])
ax2.set(ylabel="milliseconds per 512 x 512 matmul (1 thread)")
ax2.set_title(f"Matrix product on this CPU (native bf16: {native})")
lesson.save(fig, "bf16-training.png")

# %% [markdown]
# ## 6. float16 needs loss scaling
#
# On CUDA GPUs `torch.autocast("cuda", dtype=torch.float16)` is common (older GPUs have no
# bf16). float16's range is the problem: gradients of $10^{-8}$ are normal in a deep network,
# and in float16 they become 0. The fix is **loss scaling**: multiply the loss by a large
# factor $S$ before `backward` (every gradient is multiplied by $S$ too, by the chain rule,
# and lifted out of the underflow zone), then divide the gradients by $S$ in float32 before
# the update. `torch.amp.GradScaler` does this, and picks $S$ itself: it halves $S$ whenever
# a gradient overflows to `inf` (and skips that step), and doubles it after a run of good
# steps. bf16 has float32's range, so it needs no scaling.

# %%
gradient = torch.tensor([1e-8, 1e-6, 2e-4], dtype=torch.float64)  # true values
unscaled = gradient.half()
S = 2.0**16
scaled = (gradient * S).half()  # what backward produces on a scaled loss
recovered = scaled.float() / S  # GradScaler.unscale_: in float32
print("float16 gradient:", unscaled.tolist(), "| scaled, then unscaled:", recovered.tolist())
assert unscaled[0] == 0, "1e-8 underflows in float16"
assert abs(unscaled[1] / 1e-6 - 1) > 5e-3, "1e-6 survives only as a subnormal, with ~1% error"
assert torch.allclose(recovered.double(), gradient, rtol=1e-3), "scaling recovers it"
assert gradient.bfloat16()[0] > 0, "bf16 needs no scaling"

# %% [markdown]
# ## Summary
#
# - Write code against a `device`; modules move in place, tensors by copy; mixing devices is
#   an error. The `meta` device builds shapes without memory.
# - float16: precise but narrow (max 65,504, underflow below ~6e-8); bfloat16: float32's
#   range with 8 significant bits.
# - `torch.autocast` runs matrix products in 16 bits and keeps weights, gradients and the loss
#   in float32. Trained in bf16, the digits CNN reaches the same accuracy.
# - bf16 is fast only where the hardware computes in it; on x86 CPUs without AVX512-BF16 or
#   AMX it is emulated and slower, so dllab trains such runs in fp32 and says so.
# - float16 on GPUs needs loss scaling (`torch.amp.GradScaler`); bf16 does not.
#
# ## Exercises
#
# - `dllab lab start training_loop` — the loop that `torch.autocast` wraps (the grader checks
#   it in float32, step for step; try autocast in your own copy afterwards).
# - `dllab lab start checkpoint` — save and restore a training state; in your own code, load
#   with `map_location=` (or safetensors' `device=`) so that a GPU checkpoint opens on a CPU.
#
# To try here (not graded):
#
# 1. Train the digits CNN with the *weights* in bf16 (`model.to(torch.bfloat16)`), no
#    autocast, at a learning rate of 1e-4. What happens to the updates?
# 2. Compute `torch.tensor(2.0**-24).half()` and `torch.tensor(2.0**-25).half()`. Where does
#    float16's subnormal range end?
