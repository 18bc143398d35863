"""`dllab ab report LOG`: which variant is better, from the log the server wrote.

Each variant's accuracy is counted over the requests whose true label came back by
`/feedback`, with a Wilson score interval (good at small n and near 0 or 1, where the
normal approximation is not). Two variants that answered different requests (a traffic
split) are compared by a two-proportion z-test and Fisher's exact test; a shadow variant
scored on the same requests as A is compared by McNemar's exact test on the requests where
exactly one of them was right, as paired outcomes must be. The recommendation says which
to keep, or that it is too early to tell.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from dllab.errors import InputError

__all__ = ["Comparison", "VariantStats", "ab_report", "read_outcomes"]


@dataclass
class VariantStats:
    name: str
    n: int  # predictions with feedback
    correct: int
    low: float  # Wilson interval of the accuracy
    high: float

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else float("nan")


@dataclass
class Comparison:
    a: str
    b: str
    test: str  # "two-proportion z-test" or "McNemar exact"
    statistic: float  # z, or the discordant count b-right-a-wrong for McNemar
    p_value: float
    fisher_p: float | None  # Fisher's exact test (independent samples only)


def read_outcomes(path: Path) -> dict[str, dict[str, bool]]:
    """variant -> request id -> whether its prediction matched the feedback label."""
    predicted: dict[str, dict[str, str]] = {}  # id -> variant -> label
    truth: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise InputError(
            f"A/B log {path} not found; pass the file given to serve --ab-log"
        ) from exc
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            if r["event"] == "assign":
                predicted.setdefault(r["id"], {})[r["variant"]] = r["label"]
            elif r["event"] == "feedback":
                truth[r["id"]] = r["label"]
        except (ValueError, KeyError, TypeError) as exc:
            if i == len(lines):
                continue  # a last line cut short by a crash
            raise InputError(f"{path} line {i} is not an A/B log record: {line[:80]!r}") from exc
    out: dict[str, dict[str, bool]] = {}
    for rid, label in truth.items():
        for variant, guess in predicted.get(rid, {}).items():
            out.setdefault(variant, {})[rid] = guess == label
    return out


def wilson(correct: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval (scipy's `binomtest(...).proportion_ci(method="wilson")`)."""
    from scipy.stats import binomtest

    if n == 0:
        return float("nan"), float("nan")
    ci = binomtest(correct, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def compare(a: str, b: str, outcomes: dict[str, dict[str, bool]]) -> Comparison:
    """Significance of the accuracy difference between variants `a` and `b`."""
    from scipy.stats import binomtest, fisher_exact, norm

    ra, rb = outcomes.get(a, {}), outcomes.get(b, {})
    shared = ra.keys() & rb.keys()
    if shared:  # paired: both scored the same requests (shadow mode)
        b_only = sum(1 for i in shared if rb[i] and not ra[i])
        a_only = sum(1 for i in shared if ra[i] and not rb[i])
        p = binomtest(b_only, b_only + a_only, 0.5).pvalue if a_only + b_only else 1.0
        return Comparison(a, b, "McNemar exact", float(b_only - a_only), float(p), None)
    ka, na, kb, nb = sum(ra.values()), len(ra), sum(rb.values()), len(rb)
    if not na or not nb:
        return Comparison(a, b, "two-proportion z-test", float("nan"), float("nan"), None)
    pooled = (ka + kb) / (na + nb)
    se = math.sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb))
    z = (kb / nb - ka / na) / se if se > 0 else 0.0
    p = float(2 * norm.sf(abs(z)))
    fisher = float(fisher_exact([[ka, na - ka], [kb, nb - kb]]).pvalue)
    return Comparison(a, b, "two-proportion z-test", z, p, fisher)


def recommend(stats: list[VariantStats], comparisons: list[Comparison], alpha: float) -> str:
    """A plain sentence: which variant to keep, or why it is too early."""
    control = stats[0]
    better = [
        (c, s)
        for c, s in zip(comparisons, stats[1:], strict=True)
        if c.p_value < alpha and s.accuracy > control.accuracy
    ]
    worse = [
        s.name
        for c, s in zip(comparisons, stats[1:], strict=True)
        if c.p_value < alpha and s.accuracy < control.accuracy
    ]
    if better:
        c, s = max(better, key=lambda cs: cs[1].accuracy)
        return (
            f"switch to {s.name}: its accuracy {s.accuracy:.3f} beats {control.name}'s "
            f"{control.accuracy:.3f} (p = {c.p_value:.3g} < {alpha})"
        )
    if worse and len(worse) == len(comparisons):
        return f"keep {control.name}: every other variant is significantly worse (p < {alpha})"
    fewest = min(s.n for s in stats)
    return (
        f"keep {control.name} for now: no variant differs from it significantly at {alpha} "
        f"(smallest sample {fewest} labelled predictions); collect more feedback"
    )


def ab_report(
    path: Path, alpha: float = 0.05, confidence: float = 0.95
) -> tuple[list[VariantStats], list[Comparison], str]:
    """Per-variant accuracy with Wilson intervals, each variant against the first (A), and a
    recommendation."""
    outcomes = read_outcomes(path)
    if not outcomes:
        raise InputError(
            f"{path} has no prediction with feedback yet; POST the true labels to /feedback"
        )
    names = sorted(outcomes)
    stats = []
    for name in names:
        k, n = sum(outcomes[name].values()), len(outcomes[name])
        stats.append(VariantStats(name, n, k, *wilson(k, n, confidence)))
    comparisons = [compare(names[0], other, outcomes) for other in names[1:]]
    if not comparisons:
        return stats, [], f"only variant {names[0]} has labelled predictions: nothing to compare"
    return stats, comparisons, recommend(stats, comparisons, alpha)
