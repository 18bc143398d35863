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
# # 01-07 · Vanishing and exploding gradients
#
# Until about 2010, networks deeper than a few layers would not train: the layers near the
# input barely changed. The reason is in the backward pass. For a plain stack of layers
# $h_l = f(z_l)$, $z_l = W_l h_{l-1} + b_l$, backpropagation (lesson 01-03) gives
#
# $$\frac{\partial L}{\partial h_{l-1}} = W_l^\top\Big(\frac{\partial L}{\partial h_l} \odot f'(z_l)\Big),$$
#
# so the gradient that reaches layer 1 of an $L$-layer network is a **product of $L$ factors**,
# each roughly "size of $W_l$ × size of $f'$". If the typical factor is below 1 the product
# shrinks exponentially with depth — **vanishing gradients**; above 1 it grows exponentially
# — **exploding gradients**. With sigmoid, $f' \le 1/4$, so vanishing is guaranteed unless the
# weights are large.
#
# This lesson measures the gradient norm of every layer of a 20-layer network and shows the
# three cures that made deep learning work:
#
# - **ReLU** with **Kaiming initialisation** — a factor of exactly 1 on average;
# - **batch normalisation** — re-centres and rescales every layer;
# - **residual connections** — an identity path for the gradient (ResNet).

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from threadpoolctl import threadpool_limits

import dllab.scratch as st
import dllab.scratch.functional as SF
import dllab.scratch.nn as snn
from dllab.data.digits import load_digits_arrays
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("01-07-vanishing-gradients")

# dllab.scratch multiplies small matrices, for which one BLAS thread is faster than several
# that wait for each other (5-10x faster on a busy 2-core machine).
threadpool_limits(limits=1, user_api="blas")

# %% [markdown]
# ## 1. Four deep networks
#
# Every network maps the 64 pixels of a digit to 10 logits through an input layer, **20
# hidden layers of width 64**, and an output layer. They differ in one thing each:
#
# | name | hidden layer $h_l = $ | initialisation |
# |---|---|---|
# | sigmoid | $\sigma(W_l h_{l-1} + b_l)$ | PyTorch's default, $U(\pm 1/\sqrt{64})$ |
# | ReLU | $\operatorname{ReLU}(W_l h_{l-1} + b_l)$ | Kaiming normal, $\operatorname{std} = \sqrt{2/64}$; $b_l = 0$ |
# | sigmoid + BatchNorm | $\sigma(\operatorname{BN}(W_l h_{l-1} + b_l))$ | default |
# | sigmoid + residual | $h_{l-1} + \sigma(W_l h_{l-1} + b_l)$ | default |
#
# The residual block needs its own module: `forward` adds the input to the layer's output.

# %%
DEPTH, WIDTH = 20, 64


class Residual(snn.Module):
    """h -> h + act(linear(h)): the layer learns a correction to the identity."""

    def __init__(self, width, activation):
        super().__init__()
        self.linear = snn.Linear(width, width)
        self.act = activation

    def forward(self, h):
        return h + self.act(self.linear(h))


# %% [markdown]
# `deep_net` builds any of the four; `weight_matrices` lists their linear layers' weights
# from input to output. The inputs are the 8×8 digits, each pixel standardised over the data
# set.


# %%
def deep_net(kind, gain=1.0, seed=0):
    """An input layer, DEPTH hidden layers of the given kind, and an output layer."""
    st.manual_seed(seed)
    hidden = []
    for _ in range(DEPTH):
        if kind == "sigmoid":
            hidden += [snn.Linear(WIDTH, WIDTH), snn.Sigmoid()]
        elif kind == "ReLU":
            linear = snn.Linear(WIDTH, WIDTH)
            snn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
            snn.init.zeros_(linear.bias)
            linear.weight.data *= gain  # gain 1 is Kaiming; section 3 tries others
            hidden += [linear, snn.ReLU()]
        elif kind == "sigmoid + BatchNorm":
            hidden += [snn.Linear(WIDTH, WIDTH), snn.BatchNorm1d(WIDTH), snn.Sigmoid()]
        elif kind == "sigmoid + residual":
            hidden += [Residual(WIDTH, snn.Sigmoid())]
    return snn.Sequential(snn.Linear(64, WIDTH), *hidden, snn.Linear(WIDTH, 10))


def weight_matrices(model):
    """The 2-D weights of every linear layer, from the input to the output."""
    return [p for name, p in model.named_parameters() if name.endswith("weight") and p.ndim == 2]


images, labels = load_digits_arrays()
features = images.reshape(len(images), -1) / 255.0
features = (features - features.mean(0)) / (features.std(0) + 1e-8)  # (1797, 64), standardised
batch_x, batch_y = st.tensor(features[:256]), st.tensor(labels[:256])

# %% [markdown]
# ## 2. Gradient norms, layer by layer
#
# One forward and backward pass on a batch of 256 digits at initialisation, then the
# Frobenius norm $\lVert \partial L / \partial W_l \rVert$ of every weight matrix.

# %%
KINDS = ["sigmoid", "ReLU", "sigmoid + BatchNorm", "sigmoid + residual"]
grad_norms = {}
for kind in KINDS:
    model = deep_net(kind)
    SF.cross_entropy(model(batch_x), batch_y).backward()
    grad_norms[kind] = np.array([np.linalg.norm(w.grad.numpy()) for w in weight_matrices(model)])
    print(
        f"{kind:20s} first layer {grad_norms[kind][0]:.1e}, last layer {grad_norms[kind][-1]:.1e}"
    )

layers = np.arange(1, DEPTH + 3)  # input layer, 20 hidden, output layer
fig, ax = plt.subplots(figsize=(8, 4.8))
for kind in KINDS:
    ax.semilogy(layers, grad_norms[kind], "o-", ms=4, label=kind)
ax.set(xlabel="layer (1 = next to the input)", ylabel="‖dL/dW‖ (log scale)")
ax.set_title(f"Gradient norm per layer at initialisation, {DEPTH} hidden layers")
ax.legend(fontsize=8)
lesson.save(fig, "gradient-norms.png")

# %% [markdown]
# The sigmoid network's gradient shrinks by roughly a factor of 6 per layer: the first layer
# receives about $10^{-16}$ of what the last layer gets — below float64's resolution relative
# to its weights. Each cure leaves the norms within a small factor across all layers:
#
# - **ReLU**: $f' = 1$ for active units, and Kaiming's $\operatorname{Var}(W) = 2/n_{in}$
#   makes the average factor exactly 1 (section 3).
# - **BatchNorm** keeps every pre-activation at mean 0 and variance 1, in the sigmoid's steep
#   middle, and its backward pass rescales the gradient by $1/\sigma_B$.
# - **Residual**: $\partial h_l / \partial h_{l-1} = I + \partial f/\partial h_{l-1}$. The
#   identity term carries the gradient from the loss to every layer unchanged, however small
#   the other term is (He et al. 2016).
#
# These facts are worth asserting:

# %%
hidden_norms = {kind: norms[1:-1] for kind, norms in grad_norms.items()}  # the 20 hidden layers
spread = {kind: norms.max() / norms.min() for kind, norms in hidden_norms.items()}
print({k: f"{v:.1e}" for k, v in spread.items()}, "<- largest / smallest hidden-layer norm")
assert grad_norms["sigmoid"][0] < 1e-12 * grad_norms["sigmoid"][-1]
for kind in KINDS[1:]:
    assert spread[kind] < 100, kind

# %% [markdown]
# ### The same numbers in PyTorch
#
# A measurement is only as good as the engine behind it. We rebuild the sigmoid network in
# PyTorch with the same weights: the per-layer norms agree, down to the $10^{-17}$ of the
# first layer.

# %%
scratch_sigmoid = deep_net("sigmoid")
torch_sigmoid = torch.nn.Sequential(
    torch.nn.Linear(64, WIDTH),
    *[m for _ in range(DEPTH) for m in (torch.nn.Linear(WIDTH, WIDTH), torch.nn.Sigmoid())],
    torch.nn.Linear(WIDTH, 10),
).double()
torch_sigmoid.load_state_dict(
    {k: torch.tensor(v.numpy()) for k, v in scratch_sigmoid.state_dict().items()}
)
torch.nn.functional.cross_entropy(
    torch_sigmoid(torch.tensor(features[:256])), torch.tensor(labels[:256])
).backward()
torch_norms = [p.grad.norm().item() for n, p in torch_sigmoid.named_parameters() if p.ndim == 2]
np.testing.assert_allclose(grad_norms["sigmoid"], torch_norms, rtol=1e-9)
print("per-layer gradient norms: scratch == torch")

# %% [markdown]
# ## 3. Exploding gradients and the right initialisation
#
# For ReLU layers the forward signal and the backward gradient obey the same arithmetic.
# With $n$ inputs per unit and weights of variance $\operatorname{Var}(W)$, a ReLU zeroes half
# of its inputs, so
#
# $$\operatorname{Var}(z_l) = n \operatorname{Var}(W)\,\tfrac12 \operatorname{Var}(z_{l-1}).$$
#
# Kaiming (He et al. 2015) chooses $\operatorname{Var}(W) = 2/n$, making the factor exactly 1.
# Scale the weights by a gain $g$ and the factor becomes $g^2$ for the variance, $g$ for the
# standard deviation — per layer, so $g^{20}$ after 20 layers: $0.7^{20} \approx 10^{-3}$,
# $1.4^{20} \approx 800$. The gradients follow the same factor on the way back. (For tanh or
# sigmoid, Xavier/Glorot's $\operatorname{Var}(W) = 2/(n_{in}+n_{out})$ plays this role.)
#
# We use biases of zero here, as Kaiming's derivation does, and record the gradient that
# *arrives at* each layer, $\partial L/\partial h_l$, with `retain_grad()`. (The weight
# gradient $\partial L/\partial W_l = \delta_l h_{l-1}^\top$ multiplies a growing $\delta$ by a
# shrinking $h$; in a pure ReLU chain the two cancel, so the damage shows in the activations,
# their gradients and the loss rather than in $\lVert \partial L/\partial W_l \rVert$.)

# %%
gains = [0.7, 1.0, 1.4]
activation_std, activation_grad = {}, {}
for gain in gains:
    model = deep_net("ReLU", gain=gain)
    h, hidden = batch_x, []
    for layer in model:
        h = layer(h)
        if isinstance(layer, snn.ReLU):
            h.retain_grad()  # keep dL/dh of this intermediate tensor after backward()
            hidden.append(h)
    SF.cross_entropy(h, batch_y).backward()
    activation_std[gain] = np.array([a.detach().numpy().std() for a in hidden])  # (DEPTH,)
    activation_grad[gain] = np.array([np.linalg.norm(a.grad.numpy()) for a in hidden])

for gain in gains:
    forward = activation_std[gain][-1] / activation_std[gain][0]
    backward = activation_grad[gain][0] / activation_grad[gain][-1]
    expected = gain ** (DEPTH - 1)
    print(
        f"gain {gain}: activation std x{forward:.1e} from first to last hidden layer, "
        f"gradient x{backward:.1e} from last to first (theory x{expected:.1e} both)"
    )
    assert expected / 5 < forward < expected * 5 and expected / 5 < backward < expected * 5

hidden_layers = np.arange(1, DEPTH + 1)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
for gain in gains:
    label = f"gain {gain}" + (" (Kaiming)" if gain == 1.0 else "")
    ax1.semilogy(hidden_layers, activation_std[gain], "o-", ms=3, label=label)
    ax2.semilogy(hidden_layers, activation_grad[gain], "o-", ms=3, label=label)
ax1.set(xlabel="hidden layer", ylabel="std of the activations h (log scale)")
ax1.set_title("Forward: activations shrink or blow up")
ax2.set(xlabel="hidden layer", ylabel="‖dL/dh‖ (log scale)")
ax2.set_title("Backward: gradients vanish or explode towards the input")
for ax in (ax1, ax2):
    ax.legend(fontsize=8)
lesson.save(fig, "initialisation.png")

# %% [markdown]
# Exploding gradients have one more remedy, used in almost every recurrent network and
# Transformer: **gradient clipping**. If the total gradient norm exceeds a threshold $c$,
# scale it down to $c$: $g \leftarrow g \cdot \min(1, c / \lVert g \rVert)$. It keeps a single
# bad batch from throwing the weights far away (`torch.nn.utils.clip_grad_norm_`).
#
# ## 4. What it does to training
#
# Gradient norms at initialisation predict training. We train each of the four networks for
# 150 steps of Adam (learning rate $10^{-3}$, batches of 64 digits). The loss starts near
# $\ln 10 = 2.30$, the loss of guessing uniformly among 10 classes.


# %%
def train(model, steps=150, seed=0):
    optimizer = st.optim.Adam(model.parameters(), lr=1e-3)
    picks = np.random.default_rng(seed)
    losses = []
    for _ in range(steps):
        batch = picks.integers(0, len(features), 64)
        loss = SF.cross_entropy(model(st.tensor(features[batch])), st.tensor(labels[batch]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return np.array(losses)


curves = {kind: train(deep_net(kind)) for kind in KINDS}
final = {kind: float(curve[-20:].mean()) for kind, curve in curves.items()}
print({k: round(v, 3) for k, v in final.items()}, "<- mean loss over the last 20 steps")
assert final["sigmoid"] > 2.2, "the deep sigmoid net should not learn"
for kind in KINDS[1:]:
    assert final[kind] < 1.0, kind

fig, ax = plt.subplots(figsize=(8, 4.8))
for kind, curve in curves.items():
    ax.plot(np.convolve(curve, np.ones(10) / 10, mode="valid"), label=kind)
ax.axhline(np.log(10), color="grey", ls=":", label="ln 10: uniform guessing")
ax.set(xlabel="Adam step", ylabel="training cross-entropy (mean of 10 steps)", ylim=(0, 4))
ax.set_title(f"Training {DEPTH}-hidden-layer networks on digits")
ax.legend(fontsize=8)
lesson.save(fig, "training.png")

# %% [markdown]
# The sigmoid network stays at $\ln 10$: its first layers receive no usable gradient, and the
# signal reaching the output layer carries almost nothing about the input. The three cured
# networks learn. (The residual network's loss starts high because each block adds a
# positive sigmoid output, so the activations grow with depth; it recovers within about 20
# steps.)
#
# ## Summary
#
# - Backpropagation multiplies one factor per layer; depth turns factors slightly below or
#   above 1 into vanishing or exploding gradients.
# - Sigmoid's $f' \le 1/4$ makes deep sigmoid networks vanish. ReLU with Kaiming
#   initialisation ($\operatorname{Var}(W) = 2/n_{in}$) keeps the factor at 1.
# - BatchNorm re-normalises every layer; residual connections add an identity path through
#   which the gradient flows unchanged. Both let networks of 100+ layers train.
# - Against exploding gradients: careful initialisation, normalisation, and gradient clipping.
#
# ## Exercises
#
# - `dllab lab start gradient_norms` — compute the per-layer gradient norms of a deep sigmoid
#   network yourself (by hand or with autograd) and say which layers vanish.
# - `dllab lab start batchnorm` — BatchNorm's forward pass in train and eval mode, and its
#   backward pass, in NumPy.
# - `dllab lab start residual_block` — ResNet's basic block with its shortcut.
#
# Check each with `dllab lab check NAME`.
#
# To try here (not graded):
#
# 1. Replace sigmoid by tanh in the plain network. Does it vanish, and how fast compared with
#    sigmoid? (Hint: $\tanh'(0) = 1$.)
# 2. Make the network 50 layers deep. Which of the three cures still trains in 150 steps?
# 3. Initialise the sigmoid network with Xavier (`snn.init.xavier_normal_`). Does the
#    first-layer gradient improve?
