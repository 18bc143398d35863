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
# # 02-03 · `nn.Module`: building networks
#
# Every PyTorch model is an `nn.Module`: an object that **owns** parameters and other modules
# and says in `forward` how to compute its output. What makes it more than a Python class is
# the bookkeeping that happens when you assign attributes in `__init__`:
#
# - an `nn.Parameter` or an `nn.Module` assigned to `self` is **registered**, so
#   `model.parameters()` finds it, the optimiser updates it, `model.to(device)` moves it and
#   `model.state_dict()` saves it;
# - `model.train()` and `model.eval()` reach every submodule;
# - `model(x)` calls `forward(x)` **and** the hooks registered on the module.
#
# We build a residual MLP for the handwritten digits, and prove each of those rules — and what
# goes wrong when a layer is kept somewhere the module cannot see.

# %%
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from dllab.data.digits import load_digits_arrays
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("02-03-nn-module")
torch.manual_seed(0)

# %% [markdown]
# ## 1. A module: `__init__` registers, `forward` computes
#
# A **residual block** computes $x + f(x)$, with $f$ a small two-layer network; stacking such
# blocks keeps a direct path for the signal and its gradient (lesson 01-07, and ResNet in
# 03-01). `ResidualMLP` embeds the 64 pixels into `width` features, applies `depth` blocks and
# classifies. The blocks live in an `nn.ModuleList`: a list that registers what it holds.


# %%
class ResidualBlock(nn.Module):
    """x + Linear(ReLU(Linear(LayerNorm(x)))): shape (B, width) -> (B, width)."""

    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()  # must come first: it creates the registries
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(F.relu(self.fc1(self.norm(x))))


class ResidualMLP(nn.Module):
    """(B, 64) pixels -> (B, 10) logits through `depth` residual blocks."""

    def __init__(self, width: int = 64, depth: int = 3, hidden: int = 128) -> None:
        super().__init__()
        self.embed = nn.Linear(64, width)
        self.blocks = nn.ModuleList([ResidualBlock(width, hidden) for _ in range(depth)])
        self.head = nn.Linear(width, 10)
        # A buffer: state that is saved and moved with the model, but not trained.
        self.register_buffer("pixel_mean", torch.zeros(64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x - self.pixel_mean)  # (B, width)
        for block in self.blocks:
            x = block(x)
        return self.head(x)  # (B, 10)


model = ResidualMLP()
print(model)

# %% [markdown]
# `named_parameters()` walks the tree and names every parameter by its path. A
# `Linear(n_in, n_out)` holds an `(n_out, n_in)` weight and an `(n_out,)` bias, and a
# `LayerNorm(d)` a scale and a shift of `d` each, so we can count the parameters by hand and
# check the module's own count.

# %%
names = [name for name, _ in model.named_parameters()]
print(names[:6], "...", f"({len(names)} tensors)")
assert "blocks.2.fc1.weight" in names and model.blocks[2].fc1.weight.shape == (128, 64)


def linear(n_in, n_out):
    return n_in * n_out + n_out


by_hand = linear(64, 64) + 3 * (2 * 64 + linear(64, 128) + linear(128, 64)) + linear(64, 10)
n_params = sum(p.numel() for p in model.parameters())
print(f"parameters: {n_params:,} (by hand: {by_hand:,})")
assert n_params == by_hand

# The buffer is in the state_dict, but not among the parameters the optimiser sees.
assert "pixel_mean" in model.state_dict() and "pixel_mean" not in dict(model.named_parameters())

# %% [markdown]
# ## 2. What the module cannot see, it does not train
#
# Keep the blocks in a plain Python list instead of an `nn.ModuleList`, and nothing
# complains: `forward` still runs. But the blocks are invisible to `parameters()`, so the
# optimiser never updates them, `.to(device)` never moves them, and `state_dict()` never
# saves them. The same goes for a plain dict (use `nn.ModuleDict`) and for a tensor that
# should be learned but is not wrapped in `nn.Parameter`.


# %%
class HiddenBlocks(nn.Module):
    """ResidualMLP with one change: its blocks sit in a plain Python list."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(64, 64)
        self.blocks = [ResidualBlock(64, 128) for _ in range(3)]  # not registered
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


hidden = HiddenBlocks()
n_hidden = sum(p.numel() for p in hidden.parameters())
print(f"with a plain list: {n_hidden:,} parameters visible of {n_params:,}")
assert n_hidden == linear(64, 64) + linear(64, 10)
assert not any(k.startswith("blocks.") for k in hidden.state_dict())
assert hidden(torch.randn(2, 64)).shape == (2, 10), "forward works: the bug is silent"

# %% [markdown]
# ## 3. `train()` and `eval()` reach every submodule
#
# Layers like dropout and BatchNorm behave differently in training and evaluation; they read
# their own `self.training` flag, which `model.train()` / `model.eval()` set recursively.

# %%
model.eval()
assert not any(m.training for m in model.modules())
model.train()
assert all(m.training for m in model.modules())

# %% [markdown]
# ## 4. Hooks: looking inside without changing `forward`
#
# `register_forward_hook(fn)` calls `fn(module, inputs, output)` every time the module runs
# through `model(x)`. It is how feature maps are read out (lesson 03-04) and how Grad-CAM gets
# its activations (lesson 03-05). Hooks run when the module is *called*; calling `.forward()`
# directly skips them — one reason never to call `forward` yourself.

# %%
activations = {}


def keep_output(name):
    def hook(module, inputs, output):
        activations[name] = output.detach()

    return hook


handles = [
    block.register_forward_hook(keep_output(f"block {i}")) for i, block in enumerate(model.blocks)
]
model(torch.randn(5, 64))
assert list(activations) == ["block 0", "block 1", "block 2"]
assert activations["block 0"].shape == (5, 64)

activations.clear()
model.blocks[0].forward(torch.randn(5, 64))  # bypasses __call__: no hook runs
assert activations == {}

# %% [markdown]
# ## 5. Train it on the digits
#
# The buffer gets the training pixels' mean; the standard loop (lesson 02-05 takes it apart)
# trains everything the module registered. We also read the blocks' outputs through the hooks
# before and after training.

# %%
images, labels = load_digits_arrays()
X = torch.from_numpy(images).flatten(1).float() / 255  # (1797, 64)
Y = torch.from_numpy(labels)
order = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))
train_idx, test_idx = order[:1400], order[1400:]
model.pixel_mean.copy_(X[train_idx].mean(0))

with torch.no_grad():
    model(X[test_idx])
before = {k: v.clone() for k, v in activations.items()}

optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
initial = [p.detach().clone() for p in model.parameters()]
losses = []
for _ in range(15):
    for batch in torch.randperm(len(train_idx)).split(64):
        idx = train_idx[batch]
        loss = F.cross_entropy(model(X[idx]), Y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

model.eval()
with torch.no_grad():
    accuracy = (model(X[test_idx]).argmax(1) == Y[test_idx]).float().mean().item()
print(f"test accuracy after 15 epochs: {accuracy:.1%}")
assert accuracy > 0.95
changed = [not torch.equal(a, p) for a, p in zip(initial, model.parameters(), strict=True)]
assert all(changed), "every registered parameter was trained"

# %%
for h in handles:
    h.remove()  # hooks stay until removed
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
ax1.plot(losses, lw=0.6)
ax1.set(xlabel="step", ylabel="cross-entropy", yscale="log")
ax1.set_title(f"ResidualMLP on digits: {accuracy:.1%} test accuracy")
for i, name in enumerate(activations):
    ax2.hist(before[name].flatten(), bins=60, histtype="step", color=f"C{i}", ls=":")
    ax2.hist(activations[name].flatten(), bins=60, histtype="step", color=f"C{i}", label=f"{name}")
ax2.set(xlabel="activation value", ylabel="count")
ax2.set_title("Block outputs read by forward hooks (dotted: before training)")
ax2.legend(fontsize=8)
lesson.save(fig, "residual-mlp.png")

# %% [markdown]
# ## Summary
#
# - Subclass `nn.Module`, call `super().__init__()` first, assign layers in `__init__`,
#   compute in `forward`, and call the module, `model(x)`, never `model.forward(x)`.
# - Only what is registered — `nn.Parameter`, submodules, `nn.ModuleList`/`nn.ModuleDict`,
#   `register_buffer` — is trained, moved and saved. A plain list hides layers silently.
# - Buffers are state without gradients (BatchNorm's running statistics are buffers).
# - `train()`/`eval()` are recursive; forward hooks read activations without touching
#   `forward`, and must be removed when done.
#
# ## Exercises
#
# - `dllab lab start custom_module` — a classifier of residual MLP blocks in a `ModuleList`;
#   the grader loads weights into it by parameter name, so unregistered layers fail.
# - `dllab lab start residual_block` — ResNet's basic block with its shortcut.
#
# To try here (not graded):
#
# 1. Replace `self.pixel_mean` by a plain tensor attribute. Is it still in `state_dict()`?
#    Does `model.to(torch.float64)` convert it?
# 2. Train `HiddenBlocks` with the same loop. What accuracy does a network with frozen random
#    blocks reach?
