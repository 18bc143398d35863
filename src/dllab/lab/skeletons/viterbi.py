"""Exercise viterbi: the best tag sequence of a linear-chain CRF, in NumPy (Viterbi 1967).

A BiLSTM-CRF tagger scores a tag sequence y_0..y_{T-1} of a sentence as

    score(y) = start[y_0] + sum_t emissions[t, y_t]
             + sum_{t>=1} transitions[y_{t-1}, y_t] + end[y_{T-1}]

(emissions from the LSTM, transitions learned: transitions[i, j] is the score of tag i
followed by tag j, as in pytorch-crf's CRF). Decoding wants the argmax over all K^T
sequences; dynamic programming finds it in O(T K^2). Grade it with `dllab lab check viterbi`
(compared with pytorch-crf's CRF.decode).
"""

from __future__ import annotations

import numpy as np


def path_score(
    emissions: np.ndarray,
    tags: list[int],
    transitions: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
) -> float:
    """Return score(tags) as defined above for one sentence.

    Args:
        emissions: (T, K). tags: T ints in 0..K-1. transitions: (K, K). start, end: (K,).

    TODO: the start score, every emission, every transition, the end score.
    """
    raise NotImplementedError("Need to implement for exercise viterbi")


def viterbi_decode(
    emissions: np.ndarray,
    mask: np.ndarray,
    transitions: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
) -> list[list[int]]:
    """Return the highest-scoring tag sequence of every sentence in a padded batch.

    Args:
        emissions: (B, T, K). mask: (B, T) bool, True on the real tokens of each sentence
            (a prefix of each row: padding comes last; every sentence has at least one token).
        transitions: (K, K). start, end: (K,).

    Returns:
        B lists of ints; list b has mask[b].sum() tags.

    Example:
        >>> viterbi_decode(em, np.ones((1, 3), bool), trans, start, end)
        [[2, 0, 0]]

    TODO: for each sentence, best[t, j] = max over i of best[t - 1, i] + transitions[i, j],
    plus emissions[t, j]; remember the argmax i; add `end` at the last real token; follow
    the back-pointers from the best last tag.
    """
    raise NotImplementedError("Need to implement for exercise viterbi")
