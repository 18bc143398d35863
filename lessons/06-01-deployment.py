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
# # 06-01 · Deployment: export, quantisation, pruning, distillation, and serving
#
# A trained model is a Python object in a training process. A deployed model is a file that
# another program loads and calls thousands of times a second, often on a smaller machine.
# Between the two lie four questions, and this lesson answers each with numbers:
#
# 1. **Export**: what is a graph, why does a runtime want one, and what goes wrong with shapes?
# 2. **Quantisation**: how do 8-bit integers stand for real numbers (scale and zero point),
#    and why per-channel weights and calibrated activations?
# 3. **Pruning and distillation**: two ways to make the model itself smaller.
# 4. **Serving**: why a server gathers requests into batches, and what that costs in latency.
#
# Everything runs on scikit-learn's 8x8 digits in seconds. dllab's commands do the same at
# full size: `dllab export`, `dllab compress --method ort-static|pt2e|prune`, the
# `fashion-mnist-distill` recipe and `dllab serve`.

# %%
import io
import time

import matplotlib.pyplot as plt
import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from dllab.tasks.distillation import distillation_loss
from dllab.viz import setup_lesson

lesson = setup_lesson("06-01-deployment")
torch.set_num_threads(1)
torch.manual_seed(0)

digits = load_digits()
x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (1797, 1, 8, 8)
y = torch.tensor(digits.target)
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0)


def small_cnn(width: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(2 * width * 16, 10),
    )  # fmt: skip


def train(model: nn.Module, epochs: int = 15, teacher: nn.Module | None = None) -> nn.Module:
    """Adam on the training digits; with a teacher, Hinton's loss (T = 4, alpha = 0.9)."""
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(x_train), generator=g).split(64):
            logits = model(x_train[idx])
            if teacher is None:
                loss = F.cross_entropy(logits, y_train[idx])
            else:
                with torch.no_grad():
                    soft = teacher(x_train[idx])
                loss = distillation_loss(logits, soft, y_train[idx], 4.0, 0.9)[0]
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def accuracy(predict, images=x_test, labels=y_test) -> float:
    with torch.no_grad():
        return float((torch.as_tensor(predict(images)).argmax(1) == labels).float().mean())


model = train(small_cnn(16))
print(f"fp32 test accuracy: {accuracy(model):.4f}")
assert accuracy(model) > 0.95

# %% [markdown]
# ## 1. Export: from a Python object to a graph
#
# PyTorch runs a model *eagerly*: Python calls one operator after another, deciding at each
# step what comes next. A runtime such as ONNX Runtime, TensorRT or LiteRT wants the whole
# computation written down first, as a **graph** of standard operators with named inputs and
# outputs. With the graph it can fuse a convolution with its BatchNorm and ReLU, pick kernels
# for the machine, plan memory once, and run without Python at all.
#
# `torch.export` captures that graph by running the model on an example input and recording
# the ATen operators it calls. Shapes are the trap: an exporter sees one example, so every
# size in it is a constant unless you say it may change. Here we ask for a dynamic batch.

# %%
example = x_test[:4]
batch = torch.export.Dim("batch", min=1, max=1024)
program = torch.export.export(model, (example,), dynamic_shapes=({0: batch},))
ops = [str(n.target) for n in program.graph.nodes if n.op == "call_function"]
print(f"{len(ops)} operators in the graph:", sorted({o.split(".")[1] for o in ops}))
assert any("conv2d" in o for o in ops)

buffer = io.BytesIO()
torch.onnx.export(model, (example,), buffer, input_names=["images"], output_names=["logits"],
                  dynamic_shapes=({0: batch},), dynamo=True)  # fmt: skip
session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
with torch.no_grad():
    for n in (1, 7, 64):  # sizes the example never had: the axis really is dynamic
        ours = model(x_test[:n]).numpy()
        theirs = session.run(None, {"images": x_test[:n].numpy()})[0]
        np.testing.assert_allclose(theirs, ours, rtol=1e-4, atol=1e-4)
print("ONNX Runtime equals PyTorch within 1e-4 at batch 1, 7 and 64")

# %% [markdown]
# The same export *without* `dynamic_shapes` freezes the batch at 4: the graph then refuses
# any other batch size, which is how a served model breaks on its first real request.

# %%
frozen = io.BytesIO()
torch.onnx.export(model, (example,), frozen, input_names=["images"], dynamo=True)
frozen_session = ort.InferenceSession(frozen.getvalue(), providers=["CPUExecutionProvider"])
print("frozen input shape:", frozen_session.get_inputs()[0].shape)
try:
    frozen_session.run(None, {"images": x_test[:1].numpy()})
    raise AssertionError("a frozen batch axis accepted batch 1")
except Exception as exc:  # onnxruntime's InvalidArgument
    print("batch 1 on the frozen graph:", str(exc).splitlines()[0][:110])

# %% [markdown]
# ## 2. Quantisation: 8-bit integers standing for real numbers
#
# An **affine** quantiser maps a real interval $[x_{min}, x_{max}]$ onto the integers
# $[q_{min}, q_{max}]$ (0..255 for uint8, -128..127 for int8):
#
# $$\text{scale} = \frac{x_{max} - x_{min}}{q_{max} - q_{min}}, \qquad
#   \text{zero\_point} = q_{min} - \text{round}\!\left(\frac{x_{min}}{\text{scale}}\right),$$
# $$q = \text{clamp}\!\left(\text{round}(x / \text{scale}) + \text{zero\_point},\ q_{min},
#   q_{max}\right), \qquad \hat x = (q - \text{zero\_point}) \cdot \text{scale}.$$
#
# The range is widened to include 0 first, and the zero point is an integer, so that the real
# 0 (padding, every ReLU zero) is represented exactly. Each value is then off by at most half
# a step, scale / 2, unless it lies outside the range and is clamped. We do it by hand and
# check against PyTorch's own observer and kernel.


# %%
def qparams(lo: float, hi: float, qmin: int = 0, qmax: int = 255) -> tuple[float, int]:
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / (qmax - qmin)
    return scale, int(np.clip(qmin - np.round(lo / scale), qmin, qmax))


def fake_quant(t: torch.Tensor, scale: float, zero: int, qmin: int = 0, qmax: int = 255):
    q = torch.clamp(torch.round(t / scale) + zero, qmin, qmax)
    return (q - zero) * scale


w = model[0].weight.detach()
scale, zero = qparams(float(w.min()), float(w.max()))
observer = torch.ao.quantization.MinMaxObserver(dtype=torch.quint8)
observer(w)
ref_scale, ref_zero = (float(v) for v in observer.calculate_qparams())
assert abs(scale - ref_scale) < 1e-7 and zero == ref_zero
ref = torch.quantize_per_tensor(w, ref_scale, int(ref_zero), torch.quint8).dequantize()
torch.testing.assert_close(fake_quant(w, scale, zero), ref)
err = (fake_quant(w, scale, zero) - w).abs().max()
print(f"scale {scale:.5f}, zero point {zero}; worst error {err:.5f} <= scale/2 = {scale / 2:.5f}")
assert err <= scale / 2 + 1e-6

# %% [markdown]
# **Per channel.** One scale for a whole weight tensor is set by its largest value. A layer
# whose output channels have very different ranges then spends most of its 256 levels on the
# widest channel, and the narrow ones are rounded to a few levels. Per-channel quantisation
# gives every output channel its own scale: the error falls on every channel. We make one
# channel ten times wider than the rest, as training sometimes does.

# %%
w2 = model[3].weight.detach().clone()
w2[0] *= 10  # one outlier channel
s_t, z_t = qparams(float(w2.min()), float(w2.max()), -128, 127)
per_tensor = fake_quant(w2, s_t, z_t, -128, 127)
per_channel = torch.stack([
    fake_quant(c, *qparams(float(c.min()), float(c.max()), -128, 127), -128, 127) for c in w2
])  # fmt: skip
e_t = (per_tensor - w2).pow(2).flatten(1).mean(1).sqrt()
e_c = (per_channel - w2).pow(2).flatten(1).mean(1).sqrt()
print(
    f"RMS error, median over channels: per-tensor {e_t.median():.5f}, per-channel {e_c.median():.5f}"
)
assert e_c.median() < e_t.median() / 3

# %% [markdown]
# **Calibration.** Weights are known ahead; activations are not. *Static* quantisation runs a
# few hundred real inputs through the model (calibration) and records each activation's range.
# Min-max takes the extremes, so one rare outlier stretches the range and coarsens every common
# value; a percentile range clips the outlier (which then carries a large error of its own)
# and keeps the resolution where the values are. We measure the error on the ordinary values.
# `dllab compress --method ort-static` calibrates on the run's validation split with
# ONNX Runtime; `--method pt2e` does it with torchao's PT2E observers.

# %%
with torch.no_grad():
    acts = model[:3](x_train[:512]).flatten()  # after the first ReLU
calibration = torch.cat([acts, torch.tensor([acts.max() * 8])])  # one outlier among them
errors = {}
for name, hi in (
    ("min-max", float(calibration.max())),
    ("99.99th percentile", float(calibration.quantile(0.9999))),
):
    s, z = qparams(0.0, hi)
    errors[name] = float((fake_quant(acts, s, z) - acts).pow(2).mean().sqrt())
    print(f"{name:>20}: range [0, {hi:.2f}], RMS error {errors[name]:.5f}")
assert errors["99.99th percentile"] < errors["min-max"]

# %% [markdown]
# Does the model survive? Fake-quantising every conv and linear weight to int8 per channel
# changes the test accuracy by a fraction of a point at most: 8 bits are plenty for weights.

# %%
int8_model = small_cnn(16)
int8_model.load_state_dict(model.state_dict())
with torch.no_grad():
    for m in int8_model.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            m.weight.copy_(torch.stack([
                fake_quant(c, *qparams(float(c.min()), float(c.max()), -128, 127), -128, 127)
                for c in m.weight
            ]))  # fmt: skip
int8_model.eval()
print(f"fp32 {accuracy(model):.4f}, int8 weights {accuracy(int8_model):.4f}")
assert abs(accuracy(model) - accuracy(int8_model)) < 0.01

# %% [markdown]
# ## 3. Making the model smaller: pruning and distillation
#
# **Magnitude pruning** sets the smallest weights to zero, on the bet that they matter least.
# Accuracy holds up to surprisingly high sparsity, then falls off a cliff. But zeros scattered
# at random do not make a dense CPU kernel faster, and the file is as large (only compressed
# does it shrink): unstructured sparsity pays off only with sparse kernels or hardware.
# `dllab compress --method prune` prunes globally and fine-tunes to recover.

# %%
amounts = [0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98]
pruned_acc = []
for amount in amounts:
    pruned = small_cnn(16)
    pruned.load_state_dict(model.state_dict())
    weights = [m.weight for m in pruned.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    cut = (
        torch.cat([p.detach().abs().flatten() for p in weights]).quantile(amount) if amount else -1
    )
    with torch.no_grad():
        for p in weights:
            p.mul_(p.abs() > cut)
    pruned_acc.append(accuracy(pruned.eval()))
print(dict(zip(amounts, [round(a, 3) for a in pruned_acc], strict=True)))
assert pruned_acc[1] > accuracy(model) - 0.02 and pruned_acc[-1] < pruned_acc[1]

# %% [markdown]
# **Knowledge distillation** trains a small *student* to match a big *teacher's* softened
# outputs, not only the labels. At temperature $T$ the teacher's softmax of $z / T$ spreads
# probability over the wrong classes in a telling way (a 3 looks more like an 8 than a 1);
# that "dark knowledge" is extra training signal per example. The loss is
# $\alpha T^2 \,\mathrm{KL}(p_T^{teacher} \,\|\, p_T^{student}) + (1-\alpha)\,\mathrm{CE}$:
# the $T^2$ keeps the soft term's gradient the size of the hard term's as $T$ grows.

# %%
with torch.no_grad():
    z = model(x_test[:1])[0]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
for t in (1, 4, 10):
    axes[0].plot(range(10), F.softmax(z / t, 0).numpy(), marker="o", label=f"T = {t}")
axes[0].set(title=f"The teacher's output for a test '{int(y_test[0])}' at temperature T",
            xlabel="class", ylabel="probability", xticks=range(10))  # fmt: skip
axes[0].legend()

tiny = 3  # the student: under a fifth of the teacher's width, an eighth of its parameters
alone = train(small_cnn(tiny))
torch.manual_seed(0)
student = train(small_cnn(tiny), teacher=model)
params = {n: sum(p.numel() for p in m.parameters()) for n, m in
          (("teacher", model), ("student", student))}  # fmt: skip
rows = {"teacher": accuracy(model), "student, labels only": accuracy(alone),
        "student, distilled": accuracy(student)}  # fmt: skip
print(f"parameters: {params}")
for name, acc in rows.items():
    print(f"{name:>22}: {acc:.4f}")
axes[1].barh(list(rows), list(rows.values()), color=["0.5", "C0", "C3"])
axes[1].set(xlim=(0.8, 1.0), title="Test accuracy", xlabel="accuracy")
fig.tight_layout()
lesson.save(fig, "distillation.png")
assert params["student"] * 8 < params["teacher"]
assert rows["student, distilled"] > 0.9

# %% [markdown]
# Both students land within about a point of the teacher here, and of each other: 8x8 digits
# are easy, and with 1,257 training images and 15 epochs the labels alone already teach the
# small model most of what it can hold. Distillation is not a free lunch; whether the teacher
# adds anything is an empirical question, answered by training the same student both ways, as
# `benchmarks/deploy.py` does on Fashion-MNIST with the `fashion-mnist-distill` recipe.
#
# ## 4. Serving: batching trades latency for throughput
#
# One forward pass of a batch of 32 costs far less than 32 passes of one: the weights are read
# once, and the matrix kernels run at full width. A server therefore waits a little for
# requests to gather (micro-batching, `dllab serve --max-batch-size --max-latency-ms`). We
# measure the model's cost per batch size, then simulate a server under steady traffic.

# %%
sizes = [1, 2, 4, 8, 16, 32, 64]
cost_ms = []
with torch.inference_mode():
    for n in sizes:
        xb = x_test[:n]
        for _ in range(5):
            model(xb)
        best = float("inf")  # the best of 5 rounds: what the machine can do, not what a
        for _ in range(5):  # neighbour's process left it
            t0 = time.perf_counter()
            for _ in range(20):
                model(xb)
            best = min(best, (time.perf_counter() - t0) / 20 * 1e3)
        cost_ms.append(best)
per_item = [c / n for c, n in zip(cost_ms, sizes, strict=True)]
print("ms per batch:", [round(c, 3) for c in cost_ms])
print("ms per item: ", [round(c, 4) for c in per_item])


def simulate(rate: float, max_batch: int, max_wait_ms: float, seconds: float = 2.0):
    """One model worker; requests arrive as a Poisson process of `rate` per second. A batch
    starts when the worker is free and either `max_batch` requests wait or the oldest has
    waited `max_wait_ms`. Returns (mean batch size, p50, p99 latency in ms)."""
    rng = np.random.default_rng(0)
    arrivals = np.cumsum(rng.exponential(1e3 / rate, int(rate * seconds)))
    cost = np.interp(np.arange(1, max_batch + 1), sizes, cost_ms)
    free, i, latencies, batches = 0.0, 0, [], []
    while i < len(arrivals):
        start = max(free, arrivals[i])
        full_at = arrivals[min(i + max_batch, len(arrivals)) - 1]
        start = max(start, min(arrivals[i] + max_wait_ms, full_at))
        j = i
        while j < len(arrivals) and j - i < max_batch and arrivals[j] <= start:
            j += 1
        free = start + cost[j - i - 1]
        latencies += list(free - arrivals[i:j])
        batches.append(j - i)
        i = j
    lat = np.array(latencies)
    return float(np.mean(batches)), float(np.percentile(lat, 50)), float(np.percentile(lat, 99))


rates = [200, 500, 1000, 2000, 4000, 8000]
fig, ax = plt.subplots(figsize=(7.5, 3.6))
for max_batch, wait in ((1, 0.0), (32, 1.0), (32, 5.0)):
    p99 = [simulate(r, max_batch, wait)[2] for r in rates]
    ax.plot(rates, p99, marker="o", label=f"max batch {max_batch}, wait {wait} ms")
ax.set(xscale="log", yscale="log", xlabel="requests per second", ylabel="p99 latency (ms)",
       title="p99 latency against traffic, one model worker")  # fmt: skip
ax.legend()
fig.tight_layout()
lesson.save(fig, "batching.png")
top = rates[-1]
print(f"at {top} req/s: no batching p99 {simulate(top, 1, 0)[2]:.1f} ms, "
      f"batch 32 / 1 ms p99 {simulate(top, 32, 1.0)[2]:.1f} ms")  # fmt: skip
light = simulate(rates[0], 32, 5.0)
print(
    f"at {rates[0]} req/s a 5 ms wait only adds latency: batch {light[0]:.1f}, p50 {light[1]:.2f} ms"
)
# the simulator itself: one request a second never queues, so its latency is one batch-1 call
assert abs(simulate(1.0, 32, 0.0, seconds=20)[1] - cost_ms[0]) < 1e-9

# %% [markdown]
# These timings are this machine's, at whatever load it had. Where the cost per item falls
# with the batch, as it does for most models on most machines, the curve without batching
# turns up first: once requests arrive faster than one-at-a-time service can answer them, the
# queue grows without bound and so does latency, while a batch limit and a small wait keep up
# at many times the rate. At light traffic the wait is pure added latency, which is why
# `max_latency_ms` stays small (dllab's default is 2 ms).
#
# Look at the printed costs, though. For a model this tiny, on one thread, a batch of one may
# take a faster path than a batch of two, and then batching buys little or nothing. Measure your
# model on your server before you choose: `benchmarks/serve_load.py` loads the real server with
# batching on and off.
#
# ## Summary
#
# - Export writes the computation as a graph of standard operators; declare every axis that
#   may change (batch, sequence), or the graph freezes it. Check parity on other sizes.
# - int8: scale and zero point map a real range onto 256 integers; 0 is exact; error ≤ half a
#   step inside the range. Per-channel weights and calibrated (clipped) activation ranges keep
#   the error small.
# - Pruning zeros weights without making dense kernels faster; distillation trains a smaller
#   model from a teacher's soft targets.
# - Batching buys throughput with latency; a small wait keeps a server stable under load.
#
# ## Exercises
#
# - `dllab lab start quantize` — scale, zero point, quantise and dequantise, per tensor and per
#   channel, matching PyTorch's observers and kernels.
# - `dllab lab start distillation_loss` — the distillation loss with temperature, matching
#   PyTorch.
#
# To try here (not graded):
#
# 1. Quantise the *activations* of the first ReLU to uint8 with the min-max range of the
#    outlier-free data, and measure the accuracy.
# 2. Fine-tune the 90 %-pruned model for 3 epochs with its zeros kept (multiply by the mask
#    after each step). How much accuracy comes back?
