"""Reference solution of beam_search: a shrinking beam, finished hypotheses set aside."""

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
    """Keep the best beam_size - len(finished) extensions each step; rank by score / len^alpha."""
    live: list[tuple[list[int], float]] = [([bos], 0.0)]
    finished: list[tuple[list[int], float]] = []
    for _ in range(max_len):
        logp = np.asarray(step([tokens for tokens, _ in live]))  # (len(live), V)
        scores = np.array([s for _, s in live])[:, None] + logp  # (len(live), V)
        best = np.argsort(scores, axis=None)[::-1][: beam_size - len(finished)]  # flat, best first
        extended = []
        for flat in best:
            i, token = (int(v) for v in np.unravel_index(flat, scores.shape))
            extended.append((live[i][0] + [token], float(scores[i, token])))
        finished += [h for h in extended if h[0][-1] == eos]  # set aside: never extended again
        live = [h for h in extended if h[0][-1] != eos]
        if not live:
            break
    ranked = [
        (tokens[1:], score / (len(tokens) - 1) ** length_penalty)  # drop bos; eos counts
        for tokens, score in finished + live  # live ones left at max_len join as they are
    ]
    return sorted(ranked, key=lambda h: h[1], reverse=True)
