"""Skip-gram with negative sampling (SGNS): word vectors from the words around each word.

Papers: Mikolov, Chen, Corrado, Dean, "Efficient estimation of word representations in vector
space", arXiv:1301.3781 (the skip-gram model); Mikolov, Sutskever, Chen, Corrado, Dean,
"Distributed representations of words and phrases and their compositionality", NeurIPS 2013
(arXiv:1310.4546), which this file follows:

- negative sampling (section 2.2, eq. 4): for a centre word `c` and a context word `o`, with `k`
  noise words `n_1..n_k` drawn from the noise distribution,
  `loss = -log sigma(u_o . v_c) - sum_i log sigma(-u_{n_i} . v_c)`,
  where `v` are the input ("centre") vectors and `u` the output ("context") vectors;
- the noise distribution is the unigram distribution raised to the 3/4 power (section 2.2);
- subsampling of frequent words (section 2.3): each occurrence of word `w` is kept with a
  probability that falls with its frequency `f(w)`. We use the formula of the authors'
  `word2vec.c` (also gensim's), `keep(w) = (sqrt(f / t) + 1) * t / f`, a smoothed version of
  the paper's `1 - sqrt(t / f)` discard probability;
- window sampling (`word2vec.c`, "reduced window"): each centre word draws its window size
  uniformly from `1..window`, so near words are seen more often than far ones.

The model itself is two embedding tables; the sampling functions are plain tensor code here so
the task and the tests share them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dllab.errors import ConfigError
from dllab.models.checks import build
from dllab.models.registry import register_model

__all__ = [
    "SkipGram",
    "SkipGramConfig",
    "keep_probabilities",
    "negative_sampling_loss",
    "noise_distribution",
    "skipgram_pairs",
]


@dataclass
class SkipGramConfig:
    vocab_size: int = 20000  # words 0..vocab_size-1; the task sets it from its vocabulary
    embed_dim: int = 100  # word2vec.c's default size; enough for a 1 M-word corpus
    sparse: bool = False  # sparse gradients: ~2x faster steps, but only with optim.name=sgd

    def __post_init__(self) -> None:
        if self.vocab_size < 2 or self.embed_dim < 1:
            raise ConfigError(
                f"skipgram needs vocab_size >= 2 and embed_dim >= 1, got "
                f"{self.vocab_size} and {self.embed_dim}"
            )


def negative_sampling_loss(
    center: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor
) -> torch.Tensor:
    """Per-pair SGNS loss (Mikolov et al. 2013, eq. 4), `(B,)`.

    `center (B, D)` input vectors `v_c`, `context (B, D)` output vectors `u_o`, `negatives
    (B, K, D)` output vectors of the noise words:
    `-log sigma(u_o . v_c) - sum_k log sigma(-u_k . v_c)`. `logsigmoid` keeps it finite for
    large dot products.

    >>> v = torch.zeros(1, 3); negative_sampling_loss(v, v, torch.zeros(1, 2, 3))  # 3 log 2
    tensor([2.0794])
    """
    positive = (center * context).sum(-1)  # (B,)
    negative = torch.einsum("bkd,bd->bk", negatives, center)  # (B, K)
    return -F.logsigmoid(positive) - F.logsigmoid(-negative).sum(-1)


def noise_distribution(counts: torch.Tensor, power: float = 0.75) -> torch.Tensor:
    """`P_n(w) = count(w)^power / sum_w' count(w')^power` (section 2.2: power 3/4).

    `counts (V,)` -> probabilities `(V,)`; words with count 0 (specials) are never drawn.
    """
    weights = counts.double().clamp(min=0) ** power
    return (weights / weights.sum()).float()


def keep_probabilities(counts: torch.Tensor, sample: float = 1e-3) -> torch.Tensor:
    """Probability of keeping each occurrence of a word when subsampling (section 2.3).

    `keep = (sqrt(f / t) + 1) * t / f`, clipped to 1, with `f = count / total` and `t =
    sample` (word2vec.c and gensim). Words rarer than about `t` are always kept; a word
    making up 5 % of the text with `t = 1e-3` is kept ~16 % of the time. `sample = 0` keeps
    everything.
    """
    if sample <= 0:
        return torch.ones(len(counts))
    f = counts.double() / counts.sum()
    keep = (torch.sqrt(f / sample) + 1) * sample / f.clamp(min=1e-300)
    return keep.clamp(max=1.0).float()


def skipgram_pairs(
    ids: torch.Tensor,
    sentence: torch.Tensor,
    window: int,
    keep: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(centre, context) pairs of one pass over a corpus, with subsampling and window sampling.

    `ids (N,)` is the corpus as one row of token ids and `sentence (N,)` the sentence each
    token belongs to (pairs never cross sentences). When `keep (V,)` is given, each token is
    first kept with probability `keep[id]` and the discarded ones are removed, which widens the
    effective window as in word2vec.c. Each centre then draws its window `b` from `1..window`
    and pairs with the tokens at distance `1..b` on both sides. Returns `centre (P,)` and
    `context (P,)`, ordered by distance, then position (shuffle before training).
    """
    if keep is not None:
        kept = torch.rand(len(ids), generator=generator) < keep[ids]
        ids, sentence = ids[kept], sentence[kept]
    n = len(ids)
    reach = torch.randint(1, window + 1, (n,), generator=generator)  # each centre's window
    centres, contexts = [], []
    for d in range(1, min(window, n - 1) + 1):
        same = sentence[:-d] == sentence[d:]  # positions i and i + d in one sentence: (N - d,)
        right = same & (reach[:-d] >= d)  # centre i sees i + d
        left = same & (reach[d:] >= d)  # centre i + d sees i
        centres += [ids[:-d][right], ids[d:][left]]
        contexts += [ids[d:][right], ids[:-d][left]]
    if not centres:
        return torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long)
    return torch.cat(centres), torch.cat(contexts)


class SkipGram(nn.Module):
    """Two tables of word vectors: `in_embed` (centre words, the vectors one keeps) and
    `out_embed` (context and noise words).

    `forward(center (B,), context (B,), negatives (B, K))` -> per-pair loss `(B,)`.
    Initialised as word2vec.c: input vectors uniform in `±0.5 / D`, output vectors zero.

    >>> m = SkipGram(SkipGramConfig(vocab_size=10, embed_dim=4))
    >>> m(torch.tensor([1, 2]), torch.tensor([3, 4]), torch.tensor([[5, 6], [7, 8]])).shape
    torch.Size([2])
    """

    def __init__(self, cfg: SkipGramConfig) -> None:
        super().__init__()
        self.config = cfg
        # A batch touches a few thousand of the V rows: sparse gradients update only those.
        self.in_embed = nn.Embedding(cfg.vocab_size, cfg.embed_dim, sparse=cfg.sparse)
        self.out_embed = nn.Embedding(cfg.vocab_size, cfg.embed_dim, sparse=cfg.sparse)
        with torch.no_grad():
            self.in_embed.weight.uniform_(-0.5 / cfg.embed_dim, 0.5 / cfg.embed_dim)
            self.out_embed.weight.zero_()

    def forward(
        self, center: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor
    ) -> torch.Tensor:
        v = self.in_embed(center)  # (B, D)
        return negative_sampling_loss(v, self.out_embed(context), self.out_embed(negatives))

    def scores(
        self, center: torch.Tensor, candidates: torch.Tensor
    ) -> torch.Tensor:  # for evaluation
        """Dot products `u_j . v_c` of each centre with its candidates `(B, C)` -> `(B, C)`."""
        return torch.einsum("bcd,bd->bc", self.out_embed(candidates), self.in_embed(center))

    @property
    def vectors(self) -> torch.Tensor:
        """The word vectors `(V, D)`: the input embeddings, as word2vec and gensim keep."""
        return self.in_embed.weight


def _create_skipgram(variant: str, kw: dict[str, Any]) -> SkipGram:
    return SkipGram(build(SkipGramConfig, variant, kw))


@register_model("skipgram")
def skipgram(**kw: Any) -> SkipGram:
    """Skip-gram with negative sampling; options: the fields of `SkipGramConfig`."""
    return _create_skipgram("skipgram", kw)
