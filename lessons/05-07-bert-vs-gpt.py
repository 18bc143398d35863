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
# # 05-07 · BERT and GPT: masked and causal language models
#
# Both are stacks of Transformer layers pre-trained on raw text, and they differ in one
# mask and one objective:
#
# - **GPT** (Radford et al. 2018) is a *causal* language model: each position attends to
#   itself and the positions before it (the causal mask of lesson 05-03) and is trained to
#   predict the **next** token, at every position at once. It can generate text, one token
#   after another.
# - **BERT** (Devlin et al. 2019) is a *masked* language model: attention is bidirectional
#   (only padding is masked), so every position sees the whole sentence. It cannot be
#   trained to predict the next token — it would see it — so 15 % of the tokens are chosen
#   and corrupted, and the model must restore them from **both sides**. Its
#   representations suit understanding tasks (classification, tagging); it does not
#   generate left to right.
#
# This lesson shows BERT's corruption recipe on a real sentence, then trains a tiny model of
# each kind on a task built so that what each can see decides what it can learn.

# %%
import itertools

import matplotlib.pyplot as plt
import numpy as np
import torch

from dllab.data.peoples_daily import parse_lines, peoples_daily_path
from dllab.models.gpt import GPT, GPTConfig
from dllab.models.transformer import EncoderLayer
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("05-07-bert-vs-gpt")
torch.set_num_threads(1)

# %% [markdown]
# ## 1. BERT's corruption: 15 %, then 80/10/10
#
# Of the tokens chosen for prediction, BERT replaces 80 % with `[MASK]`, 10 % with a random
# token and leaves 10 % unchanged. `[MASK]` never occurs when the model is fine-tuned or
# used, so always showing it would teach the model that only `[MASK]` positions matter; the
# random and unchanged 10 %s force it to keep a good representation of every token. The
# loss is computed at the chosen positions only. Here on one sentence of the People's Daily
# (characters as tokens).


# %%
def corrupt(tokens, rng, vocab, rate=0.15):
    """BERT's recipe: (input, chosen) with input[chosen] corrupted 80/10/10."""
    tokens = list(tokens)
    chosen = rng.random(len(tokens)) < rate
    roll = rng.random(len(tokens))
    out = [
        t if not c else "[MASK]" if r < 0.8 else vocab[rng.integers(len(vocab))] if r < 0.9 else t
        for t, c, r in zip(tokens, chosen, roll, strict=True)
    ]
    return out, chosen


with open(peoples_daily_path(), encoding="utf-8") as f:
    lines = parse_lines(itertools.islice(f, 20)).sentences
sentence = next(s.text for s in lines if len(s.text) >= 40)[:40]
vocab = sorted(set(sentence))
masked, chosen = corrupt(sentence, np.random.default_rng(4), vocab)
print("original :", sentence)
print("input    :", "".join(masked).replace("[MASK]", "▢"), f"({chosen.sum()} chosen)")
print(
    "targets  :",
    " ".join(f"{i}:{c}" for i, (c, ch) in enumerate(zip(sentence, chosen, strict=True)) if ch),
)

# Over many tokens the proportions are the recipe's:
big, picked = corrupt(["x"] * 100_000, np.random.default_rng(0), ["y"])
kinds = np.array(big)[picked]
print(
    f"chosen {picked.mean():.3f}; of them [MASK] {np.mean(kinds == '[MASK]'):.3f}, "
    f"random {np.mean(kinds == 'y'):.3f}, unchanged {np.mean(kinds == 'x'):.3f}"
)
assert abs(picked.mean() - 0.15) < 0.01 and abs(np.mean(kinds == "[MASK]") - 0.8) < 0.02

# %% [markdown]
# ## 2. A task where seeing both sides matters
#
# Each sequence is BOS, 8 random digits, then the same digits mirrored:
# `BOS 3 1 4 1 5 9 2 6 | 6 2 9 5 1 4 1 3`. The second half is determined by the first;
# the first half is pure chance *given what comes before it*, but determined by what comes
# after it. A causal model can therefore learn the second half only; a masked model,
# seeing both sides, can restore a digit anywhere.
#
# The GPT is dllab's `GPT` (learned positions, pre-norm blocks, tied embeddings); the BERT
# is the same width and depth built from dllab's `EncoderLayer` without any mask, with an
# output layer over the vocabulary. Each has 2 layers of width 64 and trains for 100 Adam
# steps on batches of 16 sequences.

# %%
HALF, MASK, VOCAB, WIDTH, STEPS = 8, 11, 12, 64, 100  # tokens: 0 BOS, 1-10 digits, 11 [MASK]
LENGTH = 2 * HALF + 1


def mirror_batch(n, generator):
    digits = torch.randint(1, 11, (n, HALF), generator=generator)
    return torch.cat([torch.zeros(n, 1, dtype=torch.long), digits, digits.flip(1)], dim=1)


class TinyBERT(torch.nn.Module):
    """Token + position embeddings, bidirectional encoder layers, a head over the vocabulary."""

    def __init__(self):
        super().__init__()
        self.tokens = torch.nn.Embedding(VOCAB, WIDTH)
        self.positions = torch.nn.Embedding(LENGTH, WIDTH)
        self.layers = torch.nn.ModuleList(
            EncoderLayer(WIDTH, 4, 2 * WIDTH, dropout=0.0, norm_first=True) for _ in range(2)
        )
        self.norm = torch.nn.LayerNorm(WIDTH)
        self.head = torch.nn.Linear(WIDTH, VOCAB)

    def forward(self, x):  # (B, T) -> (B, T, VOCAB)
        h = self.tokens(x) + self.positions(torch.arange(x.shape[1]))
        for layer in self.layers:
            h, _ = layer(h)  # no mask: every position sees every position
        return self.head(self.norm(h))


def mask_batch(x, generator, rate=0.15):
    """The 80/10/10 recipe on token ids; BOS is never chosen."""
    chosen = torch.rand(x.shape, generator=generator) < rate
    chosen[:, 0] = False
    roll = torch.rand(x.shape, generator=generator)
    inputs = x.clone()
    inputs[chosen & (roll < 0.8)] = MASK
    random = chosen & (roll >= 0.8) & (roll < 0.9)
    inputs[random] = torch.randint(1, 11, (int(random.sum()),), generator=generator)
    return inputs, chosen


torch.manual_seed(0)
gpt = GPT(
    GPTConfig(vocab_size=VOCAB, max_len=LENGTH, n_layers=2, n_heads=4, d_model=WIDTH, dropout=0.0)
)
bert = TinyBERT()
curves = {"GPT (next token)": [], "BERT (masked tokens)": []}
for name, model in (("GPT (next token)", gpt), ("BERT (masked tokens)", bert)):
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    data = torch.Generator().manual_seed(0)
    for _ in range(STEPS):
        x = mirror_batch(16, data)
        if model is gpt:  # every position predicts the one after it
            loss = torch.nn.functional.cross_entropy(
                gpt(x[:, :-1]).flatten(0, 1), x[:, 1:].flatten()
            )
        else:  # only the chosen positions are predicted
            inputs, chosen = mask_batch(x, data)
            loss = torch.nn.functional.cross_entropy(bert(inputs)[chosen], x[chosen])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        curves[name].append(loss.item())

# %% [markdown]
# ## 3. What each learned
#
# For every position $p$ of 500 new sequences: GPT predicts digit $p$ from positions
# $< p$; BERT restores digit $p$ replaced by `[MASK]`, from everything else.

# %%
gpt.eval()
bert.eval()
test = mirror_batch(500, torch.Generator().manual_seed(1))
with torch.no_grad():
    gpt_acc = (gpt(test[:, :-1]).argmax(-1) == test[:, 1:]).float().mean(0).numpy()  # (16,)
    bert_acc = []
    for p in range(1, LENGTH):
        inputs = test.clone()
        inputs[:, p] = MASK
        bert_acc.append((bert(inputs)[:, p].argmax(-1) == test[:, p]).float().mean().item())
bert_acc = np.array(bert_acc)
for name, acc in (("GPT", gpt_acc), ("BERT", bert_acc)):
    print(f"{name:4s}: first half {acc[:HALF].mean():.1%}, second half {acc[HALF:].mean():.1%}")
assert gpt_acc[:HALF].mean() < 0.2 and gpt_acc[HALF:].mean() > 0.95  # chance is 10 %
assert bert_acc.mean() > 0.95

# %% [markdown]
# GPT is at chance (10 %) on the first half — nothing before a first-half digit says what it
# is — and perfect on the second half; its training loss levels off at
# $\tfrac12 \ln 10 \approx 1.15$, the cost of guessing half the positions (figure below). BERT restores digits in both halves, reading the
# mirror image on the other side. But only GPT can *write*: given the first half, it
# generates the second, token by token (`GPT.generate`, greedy here). BERT has no
# left-to-right order to generate in.

# %%
prompt = test[:3, : HALF + 1]  # BOS and the first half
completed = gpt.generate(prompt, HALF, temperature=0.0)
for row in completed:
    print(
        " ".join(str(int(t) - 1) for t in row[1 : HALF + 1]),
        "->",
        " ".join(str(int(t) - 1) for t in row[HALF + 1 :]),
    )
assert torch.equal(completed, test[:3])

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
positions = np.arange(1, LENGTH)
ax1.plot(positions, 100 * gpt_acc, "o-", label="GPT: predicts from the left")
ax1.plot(positions, 100 * bert_acc, "s-", label="BERT: restores a [MASK] from both sides")
ax1.axhline(10, color="grey", ls=":", label="chance (10 digits)")
ax1.axvline(HALF + 0.5, color="black", lw=0.8)
ax1.set(
    xlabel="position in the sequence (1-8: random digits, 9-16: their mirror)",
    ylabel="accuracy (%)",
    ylim=(0, 105),
)
ax1.set_title("What each model can predict")
ax1.legend(fontsize=8)
for name, curve in curves.items():
    ax2.plot(np.convolve(curve, np.ones(10) / 10, mode="valid"), label=name)
ax2.set(xlabel="Adam step", ylabel="cross-entropy at the predicted positions")
ax2.set_title("Training losses")
ax2.legend(fontsize=8)
lesson.save(fig, "bert-vs-gpt.png")

# %% [markdown]
# In practice the two families are used differently: a BERT-style encoder is fine-tuned with
# a small head for classification or tagging (dllab's sentiment task pre-trains one on
# the People's Daily with this masked objective), and a GPT-style decoder is prompted or
# fine-tuned to generate (`gpt-peoples-daily`). Encoder–decoder models (the original
# Transformer, T5) combine a bidirectional encoder with a causal decoder.
#
# ## Summary
#
# - GPT: causal mask, next-token objective at every position; generates text.
# - BERT: no causal mask, 15 % of tokens chosen and corrupted 80/10/10, loss on those only;
#   representations that see both sides, no left-to-right generation.
# - On a task where the left context says nothing and the right context says everything,
#   GPT stays at chance and BERT is perfect; where the left context suffices, both are.
#
# ## Exercises
#
# - `dllab lab start masked_mha` — the masks that make an attention layer causal or
#   bidirectional.
# - `dllab lab start encoder_layer` — the layer BERT stacks.
# - `dllab lab start beam_search` — decoding a causal model's outputs into a sequence.
#
# Check each with `dllab lab check NAME`.
#
# To try here (not graded):
#
# 1. Train BERT with `[MASK]` only (no random or unchanged tokens) and evaluate it on
#    inputs with no `[MASK]` but one wrong digit. Can it spot and correct it?
# 2. Raise the masking rate to 50 %. Does BERT learn faster or slower?
