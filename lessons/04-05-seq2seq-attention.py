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
# # 04-05 · Sequence to sequence with attention
#
# Translation, summarisation and speech recognition map a sequence to another sequence of a
# different length. The **encoder–decoder** (Sutskever et al. 2014; Cho et al. 2014) reads
# the source with one RNN and writes the target with another, one token at a time, each
# output fed back as the next input. In its first form the decoder saw the source only
# through the encoder's last state: one vector of fixed size for the whole sentence, a
# bottleneck that made long sentences fail.
#
# **Attention** (Bahdanau, Cho & Bengio 2015) removes the bottleneck. The encoder keeps one
# vector per source position, $h_1..h_S$ (a bidirectional GRU: each $h_j$ knows the words on
# both sides). Before writing output $i$ the decoder scores every source position against
# its state $s_{i-1}$ and takes a weighted average — the *context*:
#
# $$e_{ij} = v^\top \tanh(W s_{i-1} + U h_j), \qquad \alpha_{ij} = \frac{\exp e_{ij}}{\sum_k
# \exp e_{ik}}, \qquad c_i = \sum_j \alpha_{ij} h_j.$$
#
# The weights $\alpha_{ij}$ say where the decoder looks while writing token $i$: a soft,
# learned *alignment*. We train dllab's `gru-seq2seq` (that model) on a task whose
# alignment we know — reversing a sequence of digits — and look at it.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from dllab.models import create_model
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("04-05-seq2seq-attention")
torch.set_num_threads(1)  # a small model: one thread is fastest on a busy machine

# %% [markdown]
# ## 1. The task: reverse a sequence
#
# Sources are 3 to 7 digits; the target is the same digits reversed, then an end token.
# Tokens 0–2 are special: padding, begin-of-sequence (BOS) and end-of-sequence (EOS); the
# digits 0–9 are tokens 3–12. The first target token is the *last* source token: an RNN
# without attention would have to carry the whole source in its state; with attention,
# output $i$ of a length-$L$ source needs to look only at position $L - 1 - i$.

# %%
PAD, BOS, EOS, VOCAB = 0, 1, 2, 13


def reversal_batch(n, generator, shortest=3, longest=7):
    """(src (n, S), tgt (n, S + 2)): tgt = BOS, the reversed digits, EOS, then padding."""
    lengths = torch.randint(shortest, longest + 1, (n,), generator=generator)
    src = torch.full((n, int(lengths.max())), PAD)
    tgt = torch.full((n, int(lengths.max()) + 2), PAD)
    for i, length in enumerate(lengths.tolist()):
        digits = torch.randint(3, VOCAB, (length,), generator=generator)
        src[i, :length] = digits
        tgt[i, : length + 2] = torch.cat([torch.tensor([BOS]), digits.flip(0), torch.tensor([EOS])])
    return src, tgt


src, tgt = reversal_batch(2, torch.Generator().manual_seed(1))
print("source", src.tolist(), "\ntarget", tgt.tolist())

# %% [markdown]
# ## 2. Training with teacher forcing
#
# The decoder's input is the target shifted right (BOS, $y_1, \dots$) and it predicts the
# target itself ($y_1, \dots$, EOS): teacher forcing, as in lesson 04-04. The loss is the
# cross-entropy over the non-padding positions (`ignore_index=PAD`). A small model: 16-wide
# embeddings, 32 GRU units per direction, 100 Adam steps of 32 sequences.

# %%
torch.manual_seed(0)
model = create_model(
    "gru-seq2seq", src_vocab_size=VOCAB, tgt_vocab_size=VOCAB, embed_dim=16, hidden_size=32,
    dropout=0.0, pad_idx=PAD, max_len=10,
)  # fmt: skip
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
data = torch.Generator().manual_seed(0)
losses = []
for _ in range(100):
    src, tgt = reversal_batch(32, data)
    logits = model(src, tgt[:, :-1])  # (B, T, V): teacher forcing
    loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, VOCAB), tgt[:, 1:].reshape(-1), ignore_index=PAD
    )
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
print(f"cross-entropy {losses[0]:.2f} -> {np.mean(losses[-10:]):.3f} (mean of the last 10 steps)")

# %% [markdown]
# ## 3. Decoding, and what the decoder looked at
#
# At test time there is no target to feed: `greedy_decode` feeds back the most likely token
# until EOS (lesson 05-04 improves on greedy with beam search). A reversal is right only if
# every digit is; we count exact matches on 500 new sequences.

# %%
model.eval()
test_src, test_tgt = reversal_batch(500, torch.Generator().manual_seed(5))
decoded = model.greedy_decode(test_src, bos_idx=BOS, eos_idx=EOS, max_len=10)
exact = np.mean([
    decoded[i][decoded[i] != PAD].tolist() == test_tgt[i, 1:][test_tgt[i, 1:] != PAD].tolist()
    for i in range(500)
])  # fmt: skip
print(f"exact reversals: {exact:.1%} of 500 test sequences")
assert exact > 0.8

# %% [markdown]
# With `return_attention=True` the model also returns $\alpha$, shape (batch, target steps,
# source positions). For output $i$ of a length-$L$ source the right place to look is
# $L - 1 - i$: the anti-diagonal. We measure how often the largest weight sits there, or
# next to it.

# %%
with torch.no_grad():
    _, attention = model(test_src, test_tgt[:, :-1], return_attention=True)  # (B, T, S)
lengths = (test_src != PAD).sum(1)
offsets = np.array([
    int(attention[b, i].argmax()) - (int(lengths[b]) - 1 - i)
    for b in range(500)
    for i in range(int(lengths[b]))
])  # fmt: skip
on, near = np.mean(offsets == 0), np.mean(np.abs(offsets) <= 1)
print(f"largest attention weight on the mirrored position: {on:.1%}, within one: {near:.1%}")
assert on > 0.6 and near > 0.95

fig, axes = plt.subplots(1, 3, figsize=(12, 4))
for ax, b in zip(axes[:2], (0, 1), strict=True):
    length = int(lengths[b])
    digits = [str(int(t) - 3) for t in test_src[b, :length]]
    outputs = [str(int(t) - 3) for t in test_tgt[b, 1 : length + 1]] + ["EOS"]
    image = ax.imshow(attention[b, : length + 1, :length], cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(length), digits)
    ax.set_yticks(range(length + 1), outputs)
    ax.set(xlabel="source digit", ylabel="output token")
    ax.set_title(f"Attention while reversing {''.join(digits)}")
fig.colorbar(image, ax=axes[1], fraction=0.046, label="attention weight")
axes[2].plot(losses)
axes[2].set(xlabel="Adam step", ylabel="cross-entropy per target token")
axes[2].set_title("Training loss")
lesson.save(fig, "attention.png")

# %% [markdown]
# The attention maps are anti-diagonal: writing the first output the decoder looks at the
# last digit, and so on backwards. Where the weight is split between the mirrored position
# and its neighbour, the neighbour is useful too: a bidirectional encoder's state at
# position $j$ also carries the digits next to it. No one told the model where to look; the alignment is a
# by-product of learning to predict, which is why attention maps are read as explanations
# of translation models (with care: they show where information was read, not why).
#
# Attention also shortens the gradient's path: every source position is one step from
# every output, instead of $S$ steps through the encoder's recurrence. The Transformer
# (module 05) keeps attention and drops the recurrence altogether.
#
# ## Summary
#
# - An encoder–decoder reads a sequence and writes another; the decoder is trained with
#   teacher forcing and decodes by feeding back its outputs.
# - Additive attention computes, for every output step, a softmax over the source positions
#   and a weighted average of the encoder's states: no fixed-size bottleneck.
# - On reversal the learned attention is the anti-diagonal, the alignment the task implies.
#
# ## Exercises
#
# - `dllab lab start attention` — scaled dot-product attention with a mask, in NumPy (the
#   Transformer's form of the same idea).
# - `dllab lab start masked_mha` — multi-head attention with padding and causal masks.
# - `dllab lab start gru_cell` — the cell inside this model's encoder and decoder.
#
# Check each with `dllab lab check NAME`.
#
# To try here (not graded):
#
# 1. Train on sources of 3–7 digits and test on 10 digits (`reversal_batch(500, g, 10, 10)`).
#    Does the attention still find the mirrored position?
# 2. Replace reversal by sorting the digits. What does the attention map look like now?
