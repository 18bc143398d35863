"""Exercise beam_search: beam search with length normalisation, as a decoder generates text.

A decoder gives, for a prefix, the log-probabilities of the next token. Greedy decoding takes
the best token each time; beam search keeps the `beam_size` best prefixes, because the best
sentence may start with a token that is not the best first token. The rules here (those of
Stanford's CS224n NMT assignment, with Wu et al. 2016's length normalisation):

1. Start with one live hypothesis, [bos], of score 0 (a score is a sum of log-probabilities).
2. At each step, extend every live hypothesis by every token (score + log p(token | prefix))
   and keep the best `beam_size - len(finished)` extensions by score. Those that end in `eos`
   are finished: set them aside. The others are the new live hypotheses.
3. Stop when `beam_size` hypotheses have finished, or after `max_len` steps; at that point any
   still-live hypotheses join the finished ones as they are (without `eos`).
4. Rank by score / length ** length_penalty, where length counts the tokens after bos (eos
   included). Without it, short sentences win: every token adds a negative log-probability.

Grade it with `dllab lab check beam_search`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def beam_search(
    step: Callable[[list[list[int]]], np.ndarray],
    bos: int,
    eos: int,
    beam_size: int,
    max_len: int,
    length_penalty: float = 1.0,
) -> list[tuple[list[int], float]]:
    """Return the `beam_size` hypotheses, best first, as (tokens, normalised score).

    Args:
        step: step(prefixes) takes a list of token lists (each starting with bos) and returns
            an array (len(prefixes), V) of next-token log-probabilities.
        bos, eos: the begin and end tokens. beam_size: >= 1. max_len: most tokens to add.
        length_penalty: the exponent alpha; 0 ranks by the raw score.

    Returns:
        [(tokens, score), ...] sorted by score, best first; tokens exclude bos and end with
        eos for a finished hypothesis; score = sum of log-probabilities / len(tokens) ** alpha.

    Example:
        >>> beam_search(step, bos=0, eos=1, beam_size=2, max_len=5)
        [([4, 2, 1], -0.71), ([3, 1], -0.9)]

    TODO: the loop of rule 2 with a list of finished hypotheses; rules 3 and 4 at the end.
    """
    raise NotImplementedError("Need to implement for exercise beam_search")
