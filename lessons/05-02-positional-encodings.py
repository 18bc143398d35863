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
# # 05-02 · Positional encodings: sinusoidal, learned and rotary
#
# Lesson 05-01 ended on a flaw: self-attention treats its input as a *set*. Permute the
# tokens and the outputs are permuted the same way. Word order has to enter through the
# input. Three answers are in use:
#
# - **sinusoidal** (Vaswani et al. 2017, section 3.5): add a fixed vector of sines and
#   cosines of the position, at geometrically spaced frequencies;
# - **learned** (BERT, GPT-2): add a trained vector per position, an `nn.Embedding` over
#   positions $0..L_{max}-1$;
# - **rotary**, RoPE (Su et al. 2021, used by LLaMA and most recent models): add nothing;
#   rotate the queries and keys inside attention by angles proportional to their positions,
#   so that their dot product depends only on the **distance** between them.
#
# This lesson builds each, checks dllab's implementations (`dllab.models.transformer`)
# against the formulas, and proves the property that makes each one work.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from dllab.models.transformer import LearnedPositions, RotaryEmbedding, SinusoidalPositions
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("05-02-positional-encodings")
torch.set_num_threads(1)

# %% [markdown]
# ## 1. Sinusoidal positions
#
# With $\omega_i = 10000^{-2i/d}$ for $i = 0..d/2-1$:
#
# $$PE(p, 2i) = \sin(p\,\omega_i), \qquad PE(p, 2i+1) = \cos(p\,\omega_i).$$
#
# Column pair $i$ is a clock hand turning at speed $\omega_i$: the first pair turns once
# every $2\pi \approx 6$ positions, the last once every $2\pi \cdot 10000$. Together they
# give every position a distinct code, like the digits of a number, but smooth.
# `SinusoidalPositions` adds the table to its input; fed zeros, it returns the table.

# %%
D, LENGTH = 64, 100


def sinusoidal(positions, d, base=10000.0):
    """PE (len(positions), d) from the formula, in float64."""
    omega = base ** (-np.arange(0, d, 2) / d)  # (d/2,)
    angle = np.asarray(positions, dtype=np.float64)[:, None] * omega  # (P, d/2)
    pe = np.empty((len(angle), d))
    pe[:, 0::2], pe[:, 1::2] = np.sin(angle), np.cos(angle)
    return pe


pe = sinusoidal(range(LENGTH), D)
table = SinusoidalPositions(D, max_len=LENGTH)(torch.zeros(1, LENGTH, D))[0]
np.testing.assert_allclose(table.numpy(), pe, atol=1e-5)  # float32 inside the module
print("dllab SinusoidalPositions == the formula")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
image = ax1.imshow(pe.T, aspect="auto", cmap="RdBu", vmin=-1, vmax=1)
ax1.set(xlabel="position p", ylabel="dimension (2i: sin, 2i+1: cos)")
ax1.set_title("Sinusoidal positional encoding, d = 64")
fig.colorbar(image, ax=ax1, label="PE(p, dim)")

# %% [markdown]
# **Relative positions are linear.** The paper chose sines "because for any fixed offset
# $k$, $PE_{p+k}$ can be represented as a linear function of $PE_p$". By the angle-sum
# formulas, each (sin, cos) pair moves by a rotation of angle $k\omega_i$, whatever $p$:
#
# $$\begin{pmatrix}\sin((p+k)\omega) \\ \cos((p+k)\omega)\end{pmatrix} =
# \begin{pmatrix}\cos k\omega & \sin k\omega \\ -\sin k\omega & \cos k\omega\end{pmatrix}
# \begin{pmatrix}\sin p\omega \\ \cos p\omega\end{pmatrix}.$$
#
# So one matrix $M_k$ (block diagonal, one rotation per pair) shifts every position by $k$;
# a layer can learn to look "three tokens back". And the dot product of two encodings
# depends only on their distance: $PE_p \cdot PE_{p+k} = \sum_i \cos(k\omega_i)$.


# %%
def shift_matrix(k, d, base=10000.0):
    """M with PE(p + k) = PE(p) @ M.T for every p."""
    m = np.zeros((d, d))
    for i, omega in enumerate(base ** (-np.arange(0, d, 2) / d)):
        c, s = np.cos(k * omega), np.sin(k * omega)
        m[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = [[c, s], [-s, c]]
    return m


for k in (1, 7, -3):
    np.testing.assert_allclose(
        pe[10:50] @ shift_matrix(k, D).T, sinusoidal(range(10 + k, 50 + k), D), atol=1e-10
    )
similarity = pe @ pe.T  # (100, 100)
offsets = np.arange(-30, 31)
by_offset = [np.diag(similarity, k) for k in offsets]  # all pairs at distance k
assert all(np.ptp(v) < 1e-9 for v in by_offset)  # the same value for every p
np.testing.assert_allclose(
    [v[0] for v in by_offset],
    [np.cos(k * 10000.0 ** (-np.arange(0, D, 2) / D)).sum() for k in offsets],
    atol=1e-9,
)
print("PE(p + k) = PE(p) @ M_k.T; PE(p) . PE(p + k) depends on k only")

ax2.plot(offsets, [v[0] for v in by_offset], "o-", ms=3)
ax2.set(xlabel="offset k", ylabel="PE(p) · PE(p + k), any p")
ax2.set_title("Dot product of two encodings: a function of their distance")
lesson.save(fig, "sinusoidal.png")

# %% [markdown]
# ## 2. Learned positions
#
# BERT and GPT-2 simply learn one vector per position (`LearnedPositions` is an
# `nn.Embedding(max_len, d)` added to the input). It can represent anything, but it knows
# only the positions it was trained on: there is no vector for position `max_len` — a
# sinusoidal table, by contrast, extends to any length (whether a model *generalises* to
# lengths it never saw is another question).

# %%
learned = LearnedPositions(D, max_len=LENGTH)
x = torch.zeros(1, 10, D)
torch.testing.assert_close(learned(x)[0], learned.embedding.weight[:10])
try:
    learned(torch.zeros(1, LENGTH + 1, D))
except IndexError as err:
    print(f"position {LENGTH} with max_len {LENGTH}: {type(err).__name__}")
else:
    raise AssertionError("a learned table has no row beyond max_len")
print(f"sinusoidal position 10^6: {np.round(sinusoidal([10**6], 8)[0], 3)}")

# %% [markdown]
# ## 3. Rotary positions
#
# RoPE rotates pair $(x_{2i}, x_{2i+1})$ of a query or key at position $m$ by the angle
# $m\theta_i$, $\theta_i = 10000^{-2i/d}$ — the same frequencies — instead of adding
# anything. A rotation $R_m$ preserves lengths, and $R_m^\top R_n = R_{n-m}$, so
#
# $$\langle R_m q, R_n k\rangle = \langle q, R_{n-m} k\rangle:$$
#
# the attention score of a query at $m$ and a key at $n$ depends on the content of $q$
# and $k$ and on $n - m$ only. We check this with dllab's `RotaryEmbedding` (shape
# (batch, heads, positions, head size)): the same $q$ and $k$ placed at positions
# $(m, n)$ and $(m + 17, n + 17)$ score the same.

# %%
HEAD = 32
rope = RotaryEmbedding(HEAD, max_len=256)
torch.manual_seed(0)
q, k = torch.randn(HEAD), torch.randn(HEAD)


def at_position(vector, position):
    """The rotated vector as RotaryEmbedding places it at `position`."""
    x = vector.expand(1, 1, position + 1, HEAD)  # (B, nh, T, hs): the same vector everywhere
    return rope(x)[0, 0, position]


for m, n in ((3, 10), (40, 5), (0, 0)):
    score = at_position(q, m) @ at_position(k, n)
    shifted = at_position(q, m + 17) @ at_position(k, n + 17)
    assert torch.isclose(score, shifted, atol=1e-4), (m, n)
    assert torch.isclose(at_position(q, m).norm(), q.norm())  # a rotation keeps the length
print("RoPE: q_m . k_n == q_(m+17) . k_(n+17); norms unchanged")

# The rotation by hand, pair by pair, for one position:
m = 5
theta = 10000.0 ** (-torch.arange(0, HEAD, 2) / HEAD)
cos, sin = torch.cos(m * theta), torch.sin(m * theta)
by_hand = torch.stack([q[0::2] * cos - q[1::2] * sin, q[0::2] * sin + q[1::2] * cos], -1).flatten()
torch.testing.assert_close(at_position(q, m), by_hand)

distances = np.arange(0, 200)
same = torch.ones(HEAD)  # a query equal to the key: the score as a function of distance
scores = [float(at_position(same, 0) @ at_position(same, int(n))) for n in distances]
fig, ax = plt.subplots(figsize=(8, 4))
ax.plot(distances, scores)
ax.set(xlabel="distance n - m between query and key", ylabel="q_m · k_n for q = k = (1, ..., 1)")
ax.set_title("RoPE: the score of identical vectors decays (unevenly) with distance")
lesson.save(fig, "rope.png")
assert scores[0] == max(scores) and np.mean(np.abs(scores[100:])) < 0.5 * scores[0]

# %% [markdown]
# The score of a vector with itself is largest at distance 0 and, on average, falls with
# the distance: RoPE gives attention a mild preference for nearby tokens (Su et al.,
# section 3.4.3). Because nothing is added to the embeddings, RoPE also leaves the token
# vectors free to carry content only.
#
# ## Summary
#
# - Sinusoidal encodings give each position a code of sines and cosines; a shift by $k$ is
#   a fixed linear map $M_k$, and $PE_p \cdot PE_{p+k}$ depends on $k$ alone.
# - Learned positions are a table: flexible, but limited to the positions trained.
# - Rotary positions rotate queries and keys so that their dot product depends on the
#   distance only; dllab's `RotaryEmbedding` satisfies it.
#
# ## Exercises
#
# - `dllab lab start sinusoidal_positions` — the encoding of arbitrary positions and the
#   shift matrix $M_k$, graded against the formula.
# - `dllab lab start positional_encoding` — the sinusoidal table and a decoder's causal
#   mask.
# - `dllab lab start encoder_layer` — the layer these encodings feed.
#
# Check each with `dllab lab check NAME`.
#
# To try here (not graded):
#
# 1. Apply RoPE with base 100 instead of 10000. How does the curve in `rope.png` change?
# 2. Show that adding sinusoidal encodings breaks the permutation equivariance of lesson
#    05-01: permute the tokens after adding them and compare.
