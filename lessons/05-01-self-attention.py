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
# # 05-01 · Self-attention and multi-head attention
#
# Lesson 04-05's decoder attended over an RNN's states. The Transformer (Vaswani et al.
# 2017) makes attention the whole mechanism: every position of a sequence attends to every
# position of the same sequence — **self-attention** — in one parallel step, with no
# recurrence. Each token vector $x_i$ is projected three ways: a *query* $q_i = W_Q x_i$
# (what it looks for), a *key* $k_j = W_K x_j$ (what it offers to be found by), and a
# *value* $v_j = W_V x_j$ (what it hands over). With all of them as rows of matrices,
#
# $$\operatorname{Attention}(Q, K, V) = \operatorname{softmax}\Big(\frac{Q K^\top}{\sqrt{d_k}}\Big) V
# \qquad \text{(eq. 1 of the paper).}$$
#
# **Multi-head attention** runs $h$ such attentions side by side on $d_k = d_{model}/h$
# dimensions each, with their own projections, and mixes their outputs with $W_O$:
# different heads can look for different things.
#
# This lesson computes both by hand and proves them equal to PyTorch's
# `F.scaled_dot_product_attention` and `nn.MultiheadAttention`, to dllab's
# `MultiHeadAttention` and to the NumPy engine `dllab.scratch`; then it shows why the scores
# are divided by $\sqrt{d_k}$, and that self-attention alone ignores word order.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

import dllab.scratch as st
import dllab.scratch.nn as snn
from dllab.models.transformer import MultiHeadAttention
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("05-01-self-attention")
torch.set_num_threads(1)

# %% [markdown]
# ## 1. Scaled dot-product attention, by hand
#
# $QK^\top$ holds every query–key dot product: row $i$ scores all keys for query $i$. The
# softmax runs along each row (over the keys), so each query's weights sum to 1, and the
# output row $i$ is the weighted average of the values.


# %%
def attention(q, k, v):
    """softmax(q k^T / sqrt(d)) v over the last two axes; also returns the weights."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., T, S)
    weights = scores.softmax(dim=-1)  # each row sums to 1 over the keys
    return weights @ v, weights


torch.manual_seed(0)
q, k, v = (torch.randn(2, 5, 8, dtype=torch.float64) for _ in range(3))  # (B, T, d)
out, weights = attention(q, k, v)
torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v))
assert torch.allclose(weights.sum(-1), torch.ones(2, 5, dtype=torch.float64))
print("attention by hand == F.scaled_dot_product_attention; rows of weights sum to 1")

# %% [markdown]
# ## 2. Multi-head attention, by hand
#
# `nn.MultiheadAttention` keeps $W_Q, W_K, W_V$ stacked in one `in_proj_weight` of shape
# $(3 d_{model}, d_{model})$. The heads are not separate matrices: the projected
# $(B, T, d_{model})$ tensor is *reshaped* into $(B, T, h, d_k)$ and transposed to
# $(B, h, T, d_k)$, so that the attention above runs on all heads at once; afterwards the
# heads are put side by side again and projected by $W_O$.


# %%
def multi_head_attention(x, in_proj_weight, in_proj_bias, out_weight, out_bias, n_heads):
    """Self-attention of x (B, T, d) with nn.MultiheadAttention's weights: (B, T, d), weights."""
    b, t, d = x.shape
    q, k, v = F.linear(x, in_proj_weight, in_proj_bias).chunk(3, dim=-1)  # (B, T, d) each
    q, k, v = (u.reshape(b, t, n_heads, d // n_heads).transpose(1, 2) for u in (q, k, v))
    heads, weights = attention(q, k, v)  # (B, h, T, d_k), (B, h, T, T)
    merged = heads.transpose(1, 2).reshape(b, t, d)  # heads side by side: (B, T, d)
    return F.linear(merged, out_weight, out_bias), weights


D_MODEL, HEADS = 16, 4
x = torch.randn(2, 6, D_MODEL, dtype=torch.float64)
mha = torch.nn.MultiheadAttention(D_MODEL, HEADS, batch_first=True, dtype=torch.float64)
with torch.no_grad():
    mha.in_proj_bias.normal_()  # biases start at zero; make them count
    ref, ref_weights = mha(x, x, x, average_attn_weights=False)
p = {name: t.detach() for name, t in mha.state_dict().items()}
ours, our_weights = multi_head_attention(
    x, p["in_proj_weight"], p["in_proj_bias"], p["out_proj.weight"], p["out_proj.bias"], HEADS
)
torch.testing.assert_close(ours, ref)
torch.testing.assert_close(our_weights, ref_weights)
print("multi-head attention by hand == nn.MultiheadAttention")

# %% [markdown]
# dllab's Transformer (`dllab.models.transformer.MultiHeadAttention`) keeps four separate
# `nn.Linear` layers and calls `F.scaled_dot_product_attention`, the fused kernel; the NumPy
# engine `dllab.scratch.nn.MultiheadAttention` mirrors PyTorch's layout. Same weights in,
# same outputs out:

# %%
ours_module = MultiHeadAttention(D_MODEL, HEADS).double()
w_q, w_k, w_v = p["in_proj_weight"].chunk(3)
b_q, b_k, b_v = p["in_proj_bias"].chunk(3)
with torch.no_grad():
    for layer, w, bias in ((ours_module.q_proj, w_q, b_q), (ours_module.k_proj, w_k, b_k),
                           (ours_module.v_proj, w_v, b_v)):  # fmt: skip
        layer.weight.copy_(w)
        layer.bias.copy_(bias)
    ours_module.out_proj.load_state_dict(mha.out_proj.state_dict())
    torch.testing.assert_close(ours_module(x, x, x)[0], ref)

scratch_mha = snn.MultiheadAttention(D_MODEL, HEADS, batch_first=True, dtype=np.float64)
scratch_mha.load_state_dict({name: t.numpy() for name, t in p.items()})
scratch_out, _ = scratch_mha(st.tensor(x.numpy()), st.tensor(x.numpy()), st.tensor(x.numpy()))
np.testing.assert_allclose(scratch_out.detach().numpy(), ref.numpy(), atol=1e-10)
print("dllab.models.transformer.MultiHeadAttention == dllab.scratch == nn.MultiheadAttention")

# %% [markdown]
# ## 3. Why divide by $\sqrt{d_k}$?
#
# If the entries of $q$ and $k$ have mean 0 and variance 1, $q \cdot k$ is a sum of $d_k$
# such products, with variance $d_k$. Large scores make the softmax nearly one-hot: its
# gradient vanishes and every query attends to one key from the start. Dividing by
# $\sqrt{d_k}$ brings the variance back to 1 whatever the head size. We measure the
# entropy of the attention weights (in nats; uniform over 32 keys gives $\ln 32 = 3.47$)
# and the largest weight, for random queries and keys of growing size.

# %%
dims = [4, 16, 64, 256, 1024]
stats = {"scaled": [], "unscaled": []}
for d in dims:
    q, k = torch.randn(256, 32, d), torch.randn(256, 32, d)  # 256 sets of 32 queries and keys
    for name, scale in (("scaled", 1 / math.sqrt(d)), ("unscaled", 1.0)):
        w = (q @ k.transpose(-2, -1) * scale).softmax(-1)
        entropy = -(w * w.clamp_min(1e-30).log()).sum(-1).mean().item()
        stats[name].append((entropy, w.max(-1).values.mean().item()))
for name, rows in stats.items():
    print(name, [f"H={e:.2f}, max={m:.2f}" for e, m in rows])
assert max(e for e, _ in stats["scaled"]) - min(e for e, _ in stats["scaled"]) < 0.1
assert stats["unscaled"][-1][1] > 0.95  # d = 1024 without scaling: one key takes it all

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
for name, rows in stats.items():
    ax1.semilogx(dims, [e for e, _ in rows], "o-", label=name)
    ax2.semilogx(dims, [m for _, m in rows], "o-", label=name)
ax1.axhline(math.log(32), color="grey", ls=":", label="uniform over 32 keys")
ax1.set(xlabel="head size d_k (log scale)", ylabel="entropy of the weights (nats)")
ax1.set_title("Without 1/sqrt(d_k) the softmax saturates")
ax2.set(xlabel="head size d_k (log scale)", ylabel="largest weight per query (mean)")
ax2.set_title("One key takes all the weight")
for ax in (ax1, ax2):
    ax.legend(fontsize=8)
lesson.save(fig, "scaling.png")

# %% [markdown]
# ## 4. Self-attention does not know the order
#
# Nothing in $\operatorname{softmax}(QK^\top/\sqrt{d_k})V$ refers to positions. Permute the
# input tokens and the outputs come out permuted the same way, with the same values:
# self-attention is **permutation-equivariant**. "Dog bites man" and "man bites dog" give
# the same set of vectors. Positions must be added to the input — the subject of lesson
# 05-02.

# %%
perm = torch.randperm(6)
shuffled, _ = mha(x[:, perm], x[:, perm], x[:, perm])
torch.testing.assert_close(shuffled, ref[:, perm])
print(f"permuting the input by {perm.tolist()} permutes the output the same way")

# The colorbar gets a narrow column of its own, so that the layout fits all five axes.
fig, axes = plt.subplots(1, HEADS + 1, figsize=(12, 3.6), width_ratios=[1] * HEADS + [0.05])
for head, ax in enumerate(axes[:HEADS]):
    image = ax.imshow(ref_weights[0, head].detach(), cmap="viridis", vmin=0, vmax=1)
    ax.set(xlabel="key position", title=f"head {head + 1}")
axes[0].set_ylabel("query position")
fig.colorbar(image, cax=axes[-1], label="attention weight")
fig.suptitle("The four heads of one (random) multi-head attention: each its own pattern")
lesson.save(fig, "heads.png")

# %% [markdown]
# ## Summary
#
# - Attention is $\operatorname{softmax}(QK^\top/\sqrt{d_k})V$: for each query, a softmax
#   over the keys and a weighted average of the values. Ours equals
#   `F.scaled_dot_product_attention`.
# - Multi-head attention reshapes the projections into $h$ heads of size $d_{model}/h$,
#   attends in each, and concatenates: equal to `nn.MultiheadAttention`, to dllab's
#   `MultiHeadAttention` and to `dllab.scratch`.
# - The $1/\sqrt{d_k}$ scale keeps the scores' variance at 1, so the softmax does not
#   saturate as heads grow.
# - Self-attention is permutation-equivariant: order must come from positional encodings.
#
# ## Exercises
#
# - `dllab lab start attention` — scaled dot-product attention with a mask, in NumPy.
# - `dllab lab start masked_mha` — multi-head attention with padding and causal masks,
#   equal to `nn.MultiheadAttention` (lesson 05-03 explains the masks).
# - `dllab lab start encoder_layer` — a whole Transformer encoder layer.
#
# Check each with `dllab lab check NAME`.
#
# To try here (not graded):
#
# 1. Give each head of `multi_head_attention` the full $d_{model}$ instead of $d_{model}/h$
#    (with larger projections). How do the parameter count and the cost change?
# 2. Compute the gradient of the softmax's output with respect to the scores, unscaled, for
#    $d_k = 1024$. How large is it?
