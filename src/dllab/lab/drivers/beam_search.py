"""Child side of beam_search: the random language model the learner's search runs on.

The parent imports this file too, so both sides use the same model.
"""

import numpy as np


class MarkovModel:
    """A random second-order Markov 'language model': log p(next | the last two tokens).

    The end token grows likelier with the length, so that hypotheses finish at different
    lengths and length normalisation matters.
    """

    def __init__(self, rng, vocab, eos, peak):
        self.logits = rng.normal(scale=peak, size=(vocab, vocab, vocab))
        self.eos = eos
        self.eos_slope = rng.uniform(0.2, 0.8)
        self.calls = 0

    def __call__(self, prefixes):
        self.calls += 1
        rows = []
        for p in prefixes:
            p = [int(t) for t in p]
            z = self.logits[p[-2] if len(p) > 1 else p[-1], p[-1]].copy()
            z[self.eos] += self.eos_slope * (len(p) - 2)
            rows.append(z - np.logaddexp.reduce(z))
        return np.array(rows)


def search(learner, seed, vocab, eos, peak, bos, k, max_len, alpha):
    """The learner's beam_search over a MarkovModel made from `seed`, as plain lists."""
    step = MarkovModel(np.random.default_rng(seed), vocab, eos, peak)
    got = learner.call("beam_search", step, bos, eos, k, max_len, length_penalty=alpha)
    if not isinstance(got, list | tuple):
        return {"type": type(got).__name__}
    out = []
    for h in got:
        if not isinstance(h, list | tuple) or len(h) != 2:
            return {"bad": repr(h)[:200]}
        tokens, score = h
        tokens = tokens.tolist() if hasattr(tokens, "tolist") else list(tokens)
        out.append(([int(t) for t in tokens], float(score)))
    return {"hypotheses": out}
