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
# # 05-06 · Conditional random fields and Viterbi decoding
#
# A tagger labels every token of a sentence: in named-entity recognition (dllab's
# `ner-peoples-daily`), B-PER marks the first character of a person's name, I-PER the
# following ones, O everything else. A BiLSTM reads the sentence and gives, for each
# position $t$ and tag $j$, an **emission score** $E_{t,j}$. Choosing the best tag at each
# position independently ignores what we know about tag *sequences*: I-PER cannot follow
# O, and a name rarely lasts one character.
#
# A **linear-chain CRF** (Lafferty et al. 2001; on top of a BiLSTM: Huang et al. 2015,
# Lample et al. 2016) adds learned **transition scores** $A_{i,j}$ for tag $i$ followed by
# tag $j$, plus start and end scores, and scores a whole tag sequence:
#
# $$s(y) = \text{start}_{y_1} + \sum_{t=1}^{T} E_{t, y_t} + \sum_{t=2}^{T} A_{y_{t-1}, y_t} + \text{end}_{y_T},
# \qquad p(y \mid x) = \frac{e^{s(y)}}{\sum_{y'} e^{s(y')}}.$$
#
# Two computations are needed, each over $K^T$ sequences, each done in $O(TK^2)$ by
# dynamic programming: the normaliser $Z = \sum_{y'} e^{s(y')}$ for training (the *forward
# algorithm*), and the best sequence $\arg\max_y s(y)$ for prediction (*Viterbi*, 1967).
# We write both by hand, check them against brute force and against pytorch-crf (the
# library dllab's NER model uses), then train a CRF on a toy tagging task.

# %%
import itertools

import matplotlib.pyplot as plt
import numpy as np
import torch
from torchcrf import CRF

from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("05-06-crf-viterbi")
torch.set_num_threads(1)

# %% [markdown]
# ## 1. Scores, brute force, Viterbi
#
# Viterbi keeps, for every tag $j$, the score of the best path that ends in $j$ at step
# $t$: $\delta_t(j) = \max_i [\delta_{t-1}(i) + A_{i,j}] + E_{t,j}$, and remembers which $i$
# gave the max (a *back-pointer*). At the end it adds the end scores, takes the best last
# tag and follows the back-pointers backwards.


# %%
def path_score(em, tags, trans, start, end):
    tags = np.asarray(tags)
    return (start[tags[0]] + em[np.arange(len(tags)), tags].sum()
            + trans[tags[:-1], tags[1:]].sum() + end[tags[-1]])  # fmt: skip


def brute_force(em, trans, start, end):
    """Score every one of the K^T sequences: the definition, for tiny inputs."""
    k = em.shape[1]
    return max(
        itertools.product(range(k), repeat=len(em)),
        key=lambda y: path_score(em, y, trans, start, end),
    )


def viterbi(em, trans, start, end):
    delta, back = start + em[0], []  # (K,): best score of a path ending in each tag
    for t in range(1, len(em)):
        scores = delta[:, None] + trans  # (K, K): from tag i (rows) to tag j (columns)
        back.append(scores.argmax(0))
        delta = scores.max(0) + em[t]
    path = [int((delta + end).argmax())]
    for pointers in reversed(back):
        path.append(int(pointers[path[-1]]))
    return path[::-1]


rng = np.random.default_rng(0)
for _ in range(20):
    T, K = int(rng.integers(1, 6)), int(rng.integers(2, 5))
    em, trans = rng.normal(size=(T, K)), rng.normal(scale=2, size=(K, K))
    start, end = rng.normal(size=K), rng.normal(size=K)
    crf = CRF(K, batch_first=True).double()
    with torch.no_grad():
        crf.transitions.copy_(torch.tensor(trans))
        crf.start_transitions.copy_(torch.tensor(start))
        crf.end_transitions.copy_(torch.tensor(end))
    best = viterbi(em, trans, start, end)
    mask = torch.ones(1, T, dtype=torch.bool)  # all tokens real (a bool mask; the default is uint8)
    assert (
        best
        == list(brute_force(em, trans, start, end))
        == crf.decode(torch.tensor(em)[None], mask)[0]
    )
print("Viterbi by hand == brute force == pytorch-crf's decode, on 20 random cases")

# %% [markdown]
# ## 2. The forward algorithm and the likelihood
#
# Replace max by log-sum-exp in the same recursion and $\alpha_T$ sums over all paths
# instead of picking one: $\log Z = \operatorname{logsumexp}_j(\alpha_T(j) + \text{end}_j)$.
# The training loss is the negative log-likelihood $\log Z - s(y_{\text{true}})$;
# pytorch-crf's `CRF.forward` returns the log-likelihood.


# %%
def log_partition(em, trans, start, end):
    alpha = start + em[0]
    for t in range(1, len(em)):
        alpha = np.logaddexp.reduce(alpha[:, None] + trans, axis=0) + em[t]
    return np.logaddexp.reduce(alpha + end)


every = [path_score(em, y, trans, start, end) for y in itertools.product(range(K), repeat=T)]
assert np.isclose(log_partition(em, trans, start, end), np.logaddexp.reduce(every))
gold = [int(v) for v in rng.integers(0, K, size=T)]
ours = path_score(em, gold, trans, start, end) - log_partition(em, trans, start, end)
theirs = crf(
    torch.tensor(em)[None], torch.tensor([gold]), mask=torch.ones(1, T, dtype=torch.bool)
).item()
assert np.isclose(ours, theirs)
print(
    f"log Z by the forward algorithm == log-sum-exp over all {K}^{T} paths; "
    f"log-likelihood {ours:.4f} == pytorch-crf {theirs:.4f}"
)

# %% [markdown]
# ## 3. What the transitions learn
#
# A toy NER task with five tags, O, B-PER, I-PER, B-LOC, I-LOC. Tag sequences come from a
# Markov chain that obeys the BIO rules (an I-X only after B-X or I-X). The "BiLSTM" is
# simulated: the emissions are the true tag's one-hot vector plus Gaussian noise, so
# picking the best tag at each position is often wrong. A CRF on top learns only the
# transition, start and end scores (25 + 5 + 5 numbers) by maximising the likelihood, for
# 60 Adam steps.

# %%
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
NEXT = np.array([  # true transition probabilities, rows: from, columns: to
    [0.70, 0.15, 0.00, 0.15, 0.00],  # O never goes to I-*
    [0.20, 0.00, 0.70, 0.10, 0.00],  # B-PER -> I-PER mostly
    [0.40, 0.05, 0.50, 0.05, 0.00],
    [0.20, 0.10, 0.00, 0.00, 0.70],
    [0.40, 0.05, 0.00, 0.05, 0.50],
])  # fmt: skip


def sample(n, length, rng, noise=0.9):
    tags = np.zeros((n, length), dtype=np.int64)
    tags[:, 0] = rng.choice(5, size=n, p=[0.7, 0.15, 0.0, 0.15, 0.0])
    cumulative = NEXT.cumsum(axis=1)  # (5, 5): sample every row at once by inverse CDF
    for t in range(1, length):
        u = rng.random((n, 1))
        tags[:, t] = (u > cumulative[tags[:, t - 1]]).sum(axis=1)
    emissions = np.eye(5)[tags] + rng.normal(scale=noise, size=(n, length, 5))
    return torch.tensor(emissions, dtype=torch.float32), torch.tensor(tags)


train_em, train_tags = sample(400, 20, rng)
test_em, test_tags = sample(300, 20, rng)
full = torch.ones(train_tags.shape, dtype=torch.bool)  # no padding here
torch.manual_seed(0)
crf = CRF(5, batch_first=True)
optimizer = torch.optim.Adam(crf.parameters(), lr=0.1)
for _ in range(60):
    loss = -crf(train_em, train_tags, mask=full, reduction="mean")  # negative log-likelihood
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def invalid(pred):
    """How many times an I-X follows something other than B-X or I-X."""
    pred = np.asarray(pred)
    bad = 0
    for inside, begin in ((2, 1), (4, 3)):
        ok = (pred[:, :-1] == begin) | (pred[:, :-1] == inside)
        bad += int(((pred[:, 1:] == inside) & ~ok).sum() + (pred[:, 0] == inside).sum())
    return bad


argmax = test_em.argmax(-1).numpy()
decoded = np.array(crf.decode(test_em, torch.ones(test_tags.shape, dtype=torch.bool)))
results = {
    "argmax per position": ((argmax == test_tags.numpy()).mean(), invalid(argmax)),
    "CRF + Viterbi": ((decoded == test_tags.numpy()).mean(), invalid(decoded)),
}
for name, (acc, bad) in results.items():
    print(f"{name:20s}: tag accuracy {acc:.1%}, invalid I- tags {bad}")
assert results["CRF + Viterbi"][0] > results["argmax per position"][0] + 0.03
assert results["CRF + Viterbi"][1] < results["argmax per position"][1] / 10
learned = crf.transitions.detach().numpy()
assert learned[0, 2] < learned[0, 0] - 2 and learned[0, 4] < learned[0, 0] - 2  # O -> I-* penalised

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
image = ax1.imshow(learned, cmap="RdBu", vmin=-np.abs(learned).max(), vmax=np.abs(learned).max())
ax1.set_xticks(range(5), TAGS)
ax1.set_yticks(range(5), TAGS)
ax1.set(xlabel="next tag", ylabel="previous tag")
ax1.set_title("Learned transition scores A[i, j]")
fig.colorbar(image, ax=ax1)
names = list(results)
ax2.bar(names, [100 * results[n][0] for n in names], color=["tab:grey", "tab:blue"])
for i, n in enumerate(names):
    ax2.text(i, 100 * results[n][0] + 1, f"{results[n][1]} invalid", ha="center")
ax2.set(ylabel="tag accuracy on 300 test sentences (%)", ylim=(0, 100))
ax2.set_title("Decoding noisy emissions")
lesson.save(fig, "crf.png")

# %% [markdown]
# The CRF learned the grammar of the tags from data: O→I-PER and O→I-LOC get strongly
# negative scores (red), B-PER→I-PER and B-LOC→I-LOC strongly positive ones (dark blue).
# Viterbi then prefers globally consistent sequences: it fixes many of the per-position
# mistakes and, here, every invalid I- tag. In a BiLSTM-CRF the emissions and the transitions are trained together,
# through the same likelihood.
#
# ## Summary
#
# - A linear-chain CRF scores a whole tag sequence: emissions + transitions + start/end.
# - The forward algorithm computes $\log Z$ with log-sum-exp; Viterbi computes the best
#   sequence with max and back-pointers; both in $O(TK^2)$ instead of $K^T$. Ours equal brute
#   force and pytorch-crf.
# - Learned transitions encode constraints such as "no I-X after O", which per-position
#   decisions cannot enforce.
#
# ## Exercises
#
# - `dllab lab start viterbi` — path scores and batched Viterbi decoding with padding,
#   graded against pytorch-crf; decoding each position on its own, or reading the
#   transitions transposed, is caught.
# - `dllab lab start gru_cell` — a cell for the recurrent encoder under the CRF.
#
# Check each with `dllab lab check NAME`.
#
# To try here (not graded):
#
# 1. Lower the emission noise to 0.3. Does the CRF still help? Raise it to 1.5?
# 2. Write the forward algorithm with max instead of logsumexp and show it returns
#    $s(\text{Viterbi path})$.
