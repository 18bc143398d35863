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
# # 02-06 · Saving and loading: `state_dict` and safetensors
#
# A trained model is its **weights**; the code that builds the network is in your source
# files. So what you save is the `state_dict` — a dictionary from parameter and buffer names
# to tensors — and to use it you build the model in code and load the dictionary into it.
#
# *How* you save it matters for safety. `torch.save` writes Python's **pickle** format, and
# loading a pickle can run any code that its author put in it. Two defences:
#
# - `torch.load(path, weights_only=True)` only rebuilds tensors and plain containers, and
#   refuses everything else (the default since PyTorch 2.6 — write it anyway);
# - **safetensors** is a format that *cannot* hold code: a JSON header that lists each
#   tensor's name, dtype, shape and byte range, followed by the raw bytes. dllab's checkpoints
#   are safetensors files.
#
# Finally, resuming training needs more than the weights: the optimiser's state, the
# schedule, the random-number generators and the epoch. We prove that a resumed run equals an
# uninterrupted one exactly — and that it does not without the optimiser's state.

# %%
import io
import json
import pickle
import struct
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file, save_model
from torch import nn

from dllab.data.digits import load_digits_arrays
from dllab.train.checkpoint import load_checkpoint, save_checkpoint
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("02-06-saving-loading")
# Checkpoints go to a temporary folder, removed at the end, not next to your files.
scratch_dir = tempfile.TemporaryDirectory(prefix="dllab-02-06-")
workdir = Path(scratch_dir.name)

# %% [markdown]
# ## 1. What a `state_dict` holds
#
# A small CNN for the 8 x 8 digits, with BatchNorm. Its `state_dict` has the parameters
# (weights, biases, BatchNorm's scale and shift) **and the buffers** (BatchNorm's running mean
# and variance, and a counter of batches seen): everything the model needs to compute its
# output in evaluation mode. The tensors in it are the model's own, not copies.


# %%
def make_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),  # (B, 16, 8, 8)
        nn.MaxPool2d(2),  # (B, 16, 4, 4)
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),  # (B, 32, 4, 4)
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # (B, 32)
        nn.Linear(32, 10),
    )  # fmt: skip


model = make_model()
state = model.state_dict()
for name, tensor in list(state.items())[:7]:
    print(f"{name:28s} {str(tuple(tensor.shape)):16s} {tensor.dtype}")
params = {name for name, _ in model.named_parameters()}
buffers = {name for name, _ in model.named_buffers()}
assert set(state) == params | buffers and "1.running_mean" in buffers
assert state["0.weight"].data_ptr() == model[0].weight.data_ptr(), "references, not copies"

# %% [markdown]
# ## 2. `torch.save` / `torch.load(weights_only=True)`
#
# Saving the `state_dict` and loading it back into a freshly built model gives exactly the
# same tensors. Saving the *whole model* (`torch.save(model)`) pickles its class by reference:
# the file then needs your code, at the same import path, to load — and `weights_only=True`
# rightly refuses it.

# %%
torch.save(model.state_dict(), workdir / "model.pt")
fresh = make_model(seed=1)
assert not torch.equal(fresh[0].weight, model[0].weight)
fresh.load_state_dict(torch.load(workdir / "model.pt", weights_only=True))
assert all(
    torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), state.values(), strict=True)
)

torch.save(model, workdir / "whole-model.pt")
try:
    torch.load(workdir / "whole-model.pt", weights_only=True)
    raise AssertionError("a pickled nn.Module is not 'weights only'")
except pickle.UnpicklingError as err:
    print("weights_only=True refuses a whole model:", str(err).splitlines()[0][:80])

# %% [markdown]
# Why refuse? A pickle is a small program for a stack machine, and one of its instructions is
# "call this function with these arguments". An object's `__reduce__` decides what goes
# there. This one asks for `print(...)` — it could as well ask for `os.system(...)`. Plain
# `pickle.loads` runs it; `torch.load(weights_only=True)` stops at the unknown callable.


# %%
class Payload:
    def __reduce__(self):
        return (print, ("this line was printed by *loading* a file",))


blob = io.BytesIO()
torch.save({"weights": torch.zeros(2), "extra": Payload()}, blob)
pickle.loads(pickle.dumps(Payload()))  # prints: loading ran a function
try:
    torch.load(io.BytesIO(blob.getvalue()), weights_only=True)
    raise AssertionError("weights_only=True must refuse the payload")
except pickle.UnpicklingError:
    print("torch.load(weights_only=True) refused to call print")

# %% [markdown]
# ## 3. safetensors: a format that holds only tensors
#
# `save_file` writes a flat `{name: tensor}` dict, plus optional string metadata. The file
# starts with 8 bytes giving the header's length, then the header, in JSON, then the data.
# We read the header by hand: nothing in it is executable.

# %%
save_file(model.state_dict(), workdir / "model.safetensors", metadata={"arch": "digits-cnn"})
raw = (workdir / "model.safetensors").read_bytes()
(header_len,) = struct.unpack("<Q", raw[:8])
header = json.loads(raw[8 : 8 + header_len])
print("header of 0.weight:", header["0.weight"], "| metadata:", header["__metadata__"])
assert header["0.weight"] == {
    "dtype": "F32",
    "shape": [16, 1, 3, 3],
    "data_offsets": header["0.weight"]["data_offsets"],
}
assert header["__metadata__"] == {"arch": "digits-cnn"}

loaded = load_file(workdir / "model.safetensors")
assert all(torch.equal(loaded[k], v) for k, v in state.items())

# %% [markdown]
# Two details. Metadata values must be strings (store numbers and nested settings as JSON).
# And safetensors refuses tensors that **share memory** — for instance a language model whose
# output layer reuses the embedding matrix — because a flat list of byte ranges cannot say
# "these two are one". `save_model` detects the sharing and stores the tensor once.

# %%
tied = nn.Sequential(nn.Embedding(50, 8), nn.Linear(8, 50, bias=False))
tied[1].weight = tied[0].weight  # weight tying: one (50, 8) matrix, two names
try:
    save_file(tied.state_dict(), workdir / "tied.safetensors")
    raise AssertionError("shared tensors must be refused")
except RuntimeError as err:
    print("save_file(tied) ->", " ".join(str(err).split())[:90])
save_model(tied, str(workdir / "tied.safetensors"))
assert len(load_file(workdir / "tied.safetensors")) == 1

# %% [markdown]
# ## 4. Loading checks names and shapes
#
# `load_state_dict` is strict by default: a missing or unexpected key, or a shape that does
# not match, is an error that names it. `strict=False` loads what matches and *returns* the
# missing and unexpected keys — the usual way to load a pretrained backbone under a new head
# (lesson 03-06); always look at what it returns.

# %%
partial = {k: v for k, v in state.items() if not k.startswith("9.")}  # no classifier
try:
    make_model().load_state_dict(partial)
    raise AssertionError("missing keys must be an error")
except RuntimeError as err:
    print("strict load ->", str(err).splitlines()[1].strip()[:70])
report = make_model().load_state_dict(partial, strict=False)
assert report.missing_keys == ["9.weight", "9.bias"] and report.unexpected_keys == []

wrong_shape = dict(state, **{"9.weight": torch.zeros(5, 32)})
try:
    make_model().load_state_dict(wrong_shape)
    raise AssertionError("a shape mismatch must be an error")
except RuntimeError as err:
    assert "size mismatch for 9.weight" in str(err)

# %% [markdown]
# ## 5. Resuming training exactly
#
# Train the CNN on the digits for 8 epochs. Then do it again, but stop after 4 epochs, save a
# checkpoint, build everything anew from the file, and train 4 more. To continue *exactly*,
# the checkpoint needs:
#
# | piece | why |
# |---|---|
# | `model.state_dict()` | weights and BatchNorm statistics |
# | `optimizer.state_dict()` | Adam's running averages of the gradient and its square, its step count |
# | `scheduler.state_dict()` | where the learning-rate schedule is |
# | generator state | the order of the next epoch's batches |
# | epoch | where to start counting |
#
# We save it with `dllab.train.checkpoint.save_checkpoint`: every tensor in one safetensors
# file, the rest (numbers, hyper-parameters) as JSON in its header.

# %%
images, labels = load_digits_arrays()
X = (torch.from_numpy(images).float() / 255 - 0.3) / 0.4  # (1797, 1, 8, 8)
Y = torch.from_numpy(labels)
EPOCHS = 8


def new_run(seed=0):
    """Model, optimiser, schedule and batch-order generator, all from `seed`."""
    net = make_model(seed)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    return net, opt, sched, torch.Generator().manual_seed(seed)


def train(net, opt, sched, gen, epochs, start=0):
    losses = []
    for _ in range(start, epochs):
        net.train()
        for idx in torch.randperm(len(X), generator=gen).split(128):
            loss = F.cross_entropy(net(X[idx]), Y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        sched.step()
    return losses


# Uninterrupted
net, opt, sched, gen = new_run()
straight = train(net, opt, sched, gen, EPOCHS)

# Interrupted after 4 epochs, saved, rebuilt from the file, resumed
net, opt, sched, gen = new_run()
first_half = train(net, opt, sched, gen, 4)
save_checkpoint(
    workdir / "epoch-4.safetensors",
    {
        "model": net.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "generator": gen.get_state(),
        "epoch": 4,
    },
)
del net, opt, sched, gen  # nothing survives but the file
ckpt = load_checkpoint(workdir / "epoch-4.safetensors")
steps_per_epoch = len(first_half) // 4
assert int(ckpt["optimizer"]["state"][0]["step"]) == 4 * steps_per_epoch  # Adam's step count
net, opt, sched, gen = new_run(seed=123)  # different seed: everything must come from the file
net.load_state_dict(ckpt["model"])
opt.load_state_dict(ckpt["optimizer"])
sched.load_state_dict(ckpt["scheduler"])
gen.set_state(ckpt["generator"])
resumed = first_half + train(net, opt, sched, gen, EPOCHS, start=ckpt["epoch"])
resumed_net = net

assert resumed == straight, "the resumed run takes exactly the same steps"
final = make_model()
final.load_state_dict(resumed_net.state_dict())
print(f"resumed == uninterrupted for all {len(straight)} steps; final loss {straight[-1]:.4f}")

# %% [markdown]
# Now the common mistake: save only the model's weights, and start a new optimiser when
# resuming. Adam's moment estimates restart from zero, its bias correction restarts at step 1
# and the schedule restarts at its initial rate. The run departs from the first step after the
# checkpoint; here the restarted, larger learning rate even lowers the training loss — but it
# is a different run, one that no longer reproduces or compares with the original.

# %%
net, opt, sched, gen = new_run(seed=123)
net.load_state_dict(ckpt["model"])
gen.set_state(ckpt["generator"])
weights_only_resume = first_half + train(net, opt, sched, gen, EPOCHS - 4)
assert weights_only_resume != straight
print(
    f"weights-only resume: final loss {weights_only_resume[-1]:.4f} vs {straight[-1]:.4f} "
    "uninterrupted"
)

# %%
fig, ax = plt.subplots(figsize=(9, 4.5))
ax.plot(straight, lw=2.5, color="grey", alpha=0.5, label="uninterrupted, 8 epochs")
ax.plot(resumed, lw=0.8, color="C0", label="stopped at epoch 4, full checkpoint, resumed")
ax.plot(
    range(4 * steps_per_epoch, len(weights_only_resume)),
    weights_only_resume[4 * steps_per_epoch :],
    lw=0.8,
    color="C3",
    label="resumed from weights only (new Adam, schedule restarted)",
)
ax.axvline(4 * steps_per_epoch, color="k", ls=":", label="checkpoint")
ax.set(xlabel="step", ylabel="training cross-entropy", yscale="log")
ax.set_title("A full checkpoint resumes exactly; weights alone do not")
ax.legend(fontsize=8)
lesson.save(fig, "resume.png")
scratch_dir.cleanup()

# %% [markdown]
# ## Summary
#
# - Save the `state_dict` (parameters and buffers), build the model in code, load into it.
# - Never unpickle files you did not write: `torch.load(..., weights_only=True)`, or better
#   safetensors, whose header is plain JSON. Tied weights: `safetensors.torch.save_model`.
# - `load_state_dict` is strict; with `strict=False`, read the missing and unexpected keys.
# - To resume training exactly, save the optimiser, the scheduler, the generators and the
#   epoch too. dllab's `Trainer` does this in every checkpoint (`dllab run --resume`).
#
# ## Exercises
#
# - `dllab lab start checkpoint` — save and load a training state so that training continues
#   identically: loaded into fresh objects, it must equal a run that never stopped.
#
# To try here (not graded):
#
# 1. Leave out `gen.set_state(...)` when resuming. Which steps still match, and which do not?
# 2. Save a model in float16 with `save_file({k: v.half() ...})`. How much smaller is the file,
#    and how far do the test predictions move?
