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
# # 05-04 · Beam search: greedy decoding, beams and the length penalty
#
# A decoder — the GRU of lesson 04-05, a Transformer, a GPT — gives, for a prefix, the
# probability of every next token. A whole output $y_1..y_n$ (ending with EOS) has
# probability $\prod_t p(y_t \mid y_{<t})$, and we would like the most probable one. There
# are $V^n$ candidates, so nobody searches them all:
#
# - **greedy decoding** takes the most probable token at each step. It can commit early to
#   a token whose continuations are all poor;
# - **beam search** keeps the $k$ best prefixes at every step ("the beam"), extends each by
#   every token, and keeps the $k$ best extensions. $k = 1$ is greedy; a large $k$
#   approaches the exact search.
#
# Scores are sums of log-probabilities. Every token adds a negative number, so a raw score
# favours short outputs; translation systems divide by a power of the length (Wu et al.
# 2016). This lesson runs all three searches on small random "language models" where the
# exact answer can still be found by brute force.

# %%
import matplotlib.pyplot as plt
import numpy as np

from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("05-04-beam-search")

# %% [markdown]
# ## 1. Why greedy fails
#
# The smallest example: after BOS, token A has probability 0.5 and B 0.4 (EOS 0.1). After
# A, everything is uncertain (four tokens of 0.25); after B, one token C is almost certain.
# Greedy takes A; the best two-token output starts with B:
# $0.4 \times 0.9 = 0.36 > 0.5 \times 0.25$.

# %%
BOS, EOS = 0, 1
print(f"greedy A then any: {0.5 * 0.25:.3f};  beam finds B C: {0.4 * 0.9:.3f}")


# %% [markdown]
# ## 2. A small language model to search
#
# A random model over a vocabulary of 6 tokens (BOS, EOS and four words): the next token
# depends on the last one (a Markov chain with a random table of logits), and EOS becomes
# more likely as the output grows. `step(prefixes)` returns the log-probabilities of the next
# token for each prefix, the interface of a real decoder.


# %%
class MarkovLM:
    def __init__(self, seed, vocab=6, sharpness=1.5):
        rng = np.random.default_rng(seed)
        self.logits = rng.normal(scale=sharpness, size=(vocab, vocab))
        self.eos_slope = rng.uniform(0.1, 0.6)

    def step(self, prefixes):
        """(len(prefixes), V) next-token log-probabilities."""
        z = np.array([self.logits[p[-1]] for p in prefixes])
        z[:, EOS] += self.eos_slope * np.array([len(p) - 1 for p in prefixes])
        z[:, BOS] = -np.inf  # BOS is never generated
        return z - np.logaddexp.reduce(z, axis=1, keepdims=True)


def normalised(tokens, score, alpha):
    """score / length^alpha; the length counts the tokens after BOS, EOS included."""
    return score / len(tokens) ** alpha


def beam_search(lm, k, max_len, alpha=0.0):
    """The best `k` outputs (tokens without BOS, normalised score), best first."""
    live, finished = [([BOS], 0.0)], []
    for _ in range(max_len):
        scores = np.array([s for _, s in live])[:, None] + lm.step([t for t, _ in live])
        best = np.argsort(scores, axis=None)[::-1][: k - len(finished)]
        extended = [
            (live[i][0] + [int(v)], scores[i, v])
            for i, v in zip(*np.unravel_index(best, scores.shape), strict=True)
        ]
        finished += [h for h in extended if h[0][-1] == EOS]  # set aside, never extended
        live = [h for h in extended if h[0][-1] != EOS]
        if not live:
            break
    ranked = [(t[1:], normalised(t[1:], s, alpha)) for t, s in finished + live]
    return sorted(ranked, key=lambda h: h[1], reverse=True)


def greedy(lm, max_len):
    return beam_search(lm, 1, max_len)[0]


def exhaustive(lm, max_len, alpha=0.0):
    """Every output up to max_len tokens, scored: the exact answer (V^max_len of them)."""
    best, frontier = (None, -np.inf), [([BOS], 0.0)]
    for _ in range(max_len):
        logp = lm.step([t for t, _ in frontier])
        nxt = []
        for (tokens, score), row in zip(frontier, logp, strict=True):
            for v in np.flatnonzero(np.isfinite(row)):
                hyp = (tokens[1:] + [int(v)], score + row[v])
                if v == EOS or len(hyp[0]) == max_len:
                    value = normalised(*hyp, alpha)
                    best = max(best, (hyp[0], value), key=lambda h: h[1])
                if v != EOS:
                    nxt.append((tokens + [int(v)], score + row[v]))
        frontier = nxt
    return best


lm = MarkovLM(seed=3)
for k in (1, 2, 5):
    tokens, score = beam_search(lm, k, max_len=6)[0]
    print(f"beam {k}: {tokens}  log-probability {score:.3f}")
best_tokens, best_score = exhaustive(lm, 6)
print(f"exact : {best_tokens}  log-probability {best_score:.3f}")

# %% [markdown]
# Here greedy commits to a long, improbable output; beams of 2 and 5 do better but still
# miss the exact best, `[2, 1]`: when it was one of the candidates (at step 2), four
# unfinished prefixes scored higher, so it fell out of the beam — and those prefixes later
# ended worse. Beam search prunes on partial scores; it is a heuristic, not an exact search.
#
# ## 3. Bigger beams find better outputs
#
# Over 100 random models (outputs of at most 6 tokens: 5,461 candidates, few enough
# to enumerate), we compare the log-probability that each beam size finds with the exact
# best. A beam of size 1 is greedy.

# %%
MODELS, MAX_LEN, SIZES = 100, 6, [1, 2, 3, 5, 8]
gap = {k: [] for k in SIZES}  # exact best minus what the beam found (>= 0)
for seed in range(MODELS):
    lm = MarkovLM(seed)
    exact = exhaustive(lm, MAX_LEN)[1]
    for k in SIZES:
        gap[k].append(exact - beam_search(lm, k, MAX_LEN)[0][1])
found = {k: np.mean(np.array(g) < 1e-9) for k, g in gap.items()}
print({k: f"{v:.0%}" for k, v in found.items()}, "<- how often the beam finds the exact best")
assert all(g >= -1e-9 for gs in gap.values() for g in gs)  # nothing beats the exact search
assert found[1] < found[3] < found[8] and found[8] > 0.95
assert np.mean(gap[5]) < np.mean(gap[1]) / 3

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
ax1.plot(SIZES, [100 * found[k] for k in SIZES], "o-")
ax1.set(xlabel="beam size k (1 = greedy)", ylabel="% of models where it finds the best output")
ax1.set_title("Beam search against exhaustive search")
ax1.set_ylim(0, 105)

# %% [markdown]
# ## 4. The length penalty
#
# With raw log-probabilities, the shortest plausible output wins: stopping early means
# fewer negative terms. Ranking by $\text{score} / \text{length}^\alpha$ removes that bias
# gradually: $\alpha = 0$ is the raw score, $\alpha = 1$ the average log-probability per
# token (Wu et al. use $\alpha \approx 0.6$ with a slightly different formula). We measure
# the length of the best output of a beam of 5, for several $\alpha$, over the same models.

# %%
alphas = [0.0, 0.3, 0.6, 1.0, 1.5]
mean_length = []
for alpha in alphas:
    lengths = [len(beam_search(MarkovLM(seed), 5, MAX_LEN, alpha)[0][0]) for seed in range(MODELS)]
    mean_length.append(np.mean(lengths))
print(
    {a: round(float(n), 2) for a, n in zip(alphas, mean_length, strict=True)},
    "<- mean output length",
)
assert mean_length[0] < mean_length[3] < mean_length[-1]
# The exact search agrees with a large beam when both use the same alpha:
assert all(
    exhaustive(MarkovLM(s), MAX_LEN, 1.0)[0] == beam_search(MarkovLM(s), 30, MAX_LEN, 1.0)[0][0]
    for s in range(20)
)

ax2.plot(alphas, mean_length, "o-")
ax2.set(xlabel="length penalty alpha", ylabel="mean length of the best output (tokens)")
ax2.set_title("Raw scores favour short outputs")
lesson.save(fig, "beam-search.png")

# %% [markdown]
# Two caveats from practice. First, the exact search is not always what we want: the most
# probable translation is often too short or empty ("the beam search curse", Koehn &
# Knowles 2017; Stahlberg & Byrne 2019), which is why the length penalty exists. Second, for
# open-ended generation (stories, chat) beams produce bland, repetitive text; sampling with
# temperature, top-k or top-p is used instead (`dllab.models.gpt.sample_logits`).
#
# ## Summary
#
# - Greedy decoding picks the best token at each step and can miss the best sequence.
# - Beam search keeps the $k$ best prefixes; finished ones (EOS) are set aside and the beam
#   shrinks. Larger $k$ finds better-scoring outputs; with $k$ large it matches exhaustive
#   search on these small models.
# - Sums of log-probabilities favour short outputs; dividing by $\text{length}^\alpha$
#   (length normalisation) lets longer outputs compete.
#
# ## Exercises
#
# - `dllab lab start beam_search` — beam search with finished hypotheses and the length
#   penalty, graded on random language models; forgetting the finished hypotheses or the
#   normalisation is caught.
# - `dllab lab start sinusoidal_positions` — the positions a Transformer decoder encodes
#   while it generates: arbitrary positions, not only $0..T-1$.
#
# Check each with `dllab lab check NAME`.
#
# To try here (not graded):
#
# 1. Make the models sharper (`sharpness=4`). Does greedy catch up with the beam? Why?
# 2. Add a penalty for repeating the previous token to `step`. How do greedy and beam
#    outputs change?
