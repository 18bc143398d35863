"""`dllab ab report`: Wilson intervals, the tests between variants and the recommendation,
checked against statsmodels and scipy on generated logs."""

from __future__ import annotations

import json

import pytest
from scipy.stats import fisher_exact
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

from dllab.errors import InputError
from dllab.serve.report import ab_report


def write_log(path, rows):
    """rows: (id, variant, predicted, true or None, shadow)"""
    with open(path, "w") as f:
        for rid, variant, pred, true, shadow in rows:
            f.write(
                json.dumps(
                    {
                        "event": "assign",
                        "id": rid,
                        "key": rid,
                        "variant": variant,
                        "label": pred,
                        "shadow": shadow,
                    }
                )
                + "\n"
            )
            if true is not None:
                f.write(json.dumps({"event": "feedback", "id": rid, "label": true}) + "\n")


def split_log(path, counts):
    """A traffic-split log: variant -> (correct, labelled)."""
    rows = []
    for v, (k, n) in counts.items():
        rows += [(f"{v}{i}", v, "1", "1" if i < k else "2", False) for i in range(n)]
        rows.append((f"{v}-unlabelled", v, "1", None, False))  # no feedback: not counted
    write_log(path, rows)


def test_split_report_matches_statsmodels_and_scipy(tmp_path):
    split_log(tmp_path / "ab.jsonl", {"A": (830, 1000), "B": (870, 1000)})
    stats, (cmp,), advice = ab_report(tmp_path / "ab.jsonl")
    for s, (k, n) in zip(stats, [(830, 1000), (870, 1000)], strict=True):
        assert (s.n, s.correct) == (n, k)
        low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
        assert (s.low, s.high) == pytest.approx((low, high), abs=1e-9)
    z, p = proportions_ztest([870, 830], [1000, 1000])
    assert cmp.statistic == pytest.approx(z) and cmp.p_value == pytest.approx(p)
    assert cmp.fisher_p == pytest.approx(fisher_exact([[830, 170], [870, 130]]).pvalue)
    assert p < 0.05 and advice.startswith("switch to B")


def test_no_significant_difference_says_collect_more(tmp_path):
    split_log(tmp_path / "ab.jsonl", {"A": (40, 50), "B": (42, 50)})
    _, (cmp,), advice = ab_report(tmp_path / "ab.jsonl")
    assert cmp.p_value > 0.05 and advice.startswith("keep A for now")


def test_worse_variant_keeps_a(tmp_path):
    split_log(tmp_path / "ab.jsonl", {"A": (900, 1000), "B": (800, 1000)})
    assert ab_report(tmp_path / "ab.jsonl")[2].startswith("keep A: every other variant")


def test_shadow_log_is_compared_paired_with_mcnemar(tmp_path):
    rows = []
    # 100 requests scored by both: both right 70, only A 5, only B 20, both wrong 5
    for i in range(100):
        a_ok, b_ok = (
            (True, True)
            if i < 70
            else (True, False)
            if i < 75
            else (False, True)
            if i < 95
            else (False, False)
        )
        rows.append((f"r{i}", "A", "1" if a_ok else "0", None, False))
        rows.append((f"r{i}", "B", "1" if b_ok else "0", "1", True))
    write_log(tmp_path / "shadow.jsonl", rows)
    stats, (cmp,), advice = ab_report(tmp_path / "shadow.jsonl")
    assert [(s.name, s.correct, s.n) for s in stats] == [("A", 75, 100), ("B", 90, 100)]
    assert cmp.test == "McNemar exact"
    assert cmp.p_value == pytest.approx(mcnemar([[70, 5], [20, 5]], exact=True).pvalue)
    assert advice.startswith("switch to B")


def test_log_without_feedback_or_missing_is_an_input_error(tmp_path):
    write_log(tmp_path / "ab.jsonl", [("r1", "A", "1", None, False)])
    with pytest.raises(InputError, match="no prediction with feedback"):
        ab_report(tmp_path / "ab.jsonl")
    with pytest.raises(InputError, match="not found"):
        ab_report(tmp_path / "missing.jsonl")
    (tmp_path / "bad.jsonl").write_text('{"event": "assign"}\n{"event": "feedback", "id": 1}\n')
    with pytest.raises(InputError, match="line 1 is not an A/B log record"):
        ab_report(tmp_path / "bad.jsonl")
