"""A text model's token embedding initialised from pretrained vectors (a skip-gram run's).

`models/pretrained.py` reads the vectors from a run folder and lays them out in another
vocabulary's order (`align_vectors`); this copies them into the model:

    tokens, vectors = load_word_vectors(Path("runs/skipgram-chars-zh"))
    coverage = init_embeddings(embedding_layer(model), vocab, tokens, vectors)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from dllab.errors import ConfigError
from dllab.models.pretrained import align_vectors

if TYPE_CHECKING:
    from dllab.data.text import Vocab

__all__ = ["embedding_layer", "init_embeddings", "token_coverage"]


def embedding_layer(model: nn.Module) -> nn.Embedding:
    """The token embedding of a text model (the first `nn.Embedding` it holds)."""
    for module in model.modules():
        if isinstance(module, nn.Embedding):
            return module
    raise ConfigError(f"{type(model).__name__} has no token embedding to initialise")


def init_embeddings(
    embedding: nn.Embedding, vocab: Vocab, tokens: list[str], vectors: torch.Tensor
) -> float:
    """Copy the pretrained vector of every vocabulary token found in `tokens` into
    `embedding`'s rows; the others keep random rows scaled like the pretrained ones, `<pad>`
    stays zero. Returns the share of the vocabulary (specials excluded) that was found."""
    if vectors.shape[1] != embedding.embedding_dim:
        raise ConfigError(
            f"the pretrained vectors have {vectors.shape[1]} dimensions but the model's "
            f"embedding has {embedding.embedding_dim}; set model.kwargs.embed_dim="
            f"{vectors.shape[1]}"
        )
    weight, hits = align_vectors(vocab.tokens, tokens, vectors)
    with torch.no_grad():
        embedding.weight.copy_(weight)
    return hits / max(len(vocab) - 2, 1)


def token_coverage(
    ids: torch.Tensor, lengths: torch.Tensor, vocab: Vocab, tokens: list[str]
) -> float:
    """Share of the tokens (not types) of padded texts `ids (N, T)`, `lengths (N,)` that have
    a pretrained vector, i.e. are among `tokens`."""
    known = set(tokens)
    found = torch.tensor([t in known for t in vocab.tokens])
    mask = torch.arange(ids.shape[1])[None, :] < lengths[:, None]
    return float(found[ids][mask].float().mean())
