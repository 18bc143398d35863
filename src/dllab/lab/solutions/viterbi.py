"""Reference solution of viterbi: max-product dynamic programming with back-pointers."""

from __future__ import annotations

import numpy as np


def path_score(
    emissions: np.ndarray,
    tags: list[int],
    transitions: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
) -> float:
    """start + emissions + transitions + end along the path."""
    tags = np.asarray(tags)
    score = start[tags[0]] + emissions[np.arange(len(tags)), tags].sum()
    score += transitions[tags[:-1], tags[1:]].sum()
    return float(score + end[tags[-1]])


def viterbi_decode(
    emissions: np.ndarray,
    mask: np.ndarray,
    transitions: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
) -> list[list[int]]:
    """Each sentence decoded over its real tokens only."""
    paths = []
    for em, m in zip(emissions, mask, strict=True):
        length = int(m.sum())
        best = start + em[0]  # (K,): best score of a path ending in each tag at step 0
        pointers = []
        for t in range(1, length):
            scores = best[:, None] + transitions  # (K, K): from tag i (rows) to tag j
            pointers.append(scores.argmax(axis=0))  # best previous tag for each j
            best = scores.max(axis=0) + em[t]
        tag = int((best + end).argmax())
        path = [tag]
        for back in reversed(pointers):
            tag = int(back[tag])
            path.append(tag)
        paths.append(path[::-1])
    return paths
