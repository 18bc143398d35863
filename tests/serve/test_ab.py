"""A/B routing: sticky per key, near the split over many keys; shadow mode answers with A
and logs B."""

from __future__ import annotations

import json
import time

import pytest

from dllab.errors import InputError
from dllab.serve.ab import Router, parse_split

from .conftest import B_CLASS, digit, start_server

pytestmark = pytest.mark.xdist_group("serve")


def test_the_same_key_always_meets_the_same_variant():
    router = Router(["A", "B", "C"], [0.5, 0.3, 0.2])
    again = Router(["A", "B", "C"], [0.5, 0.3, 0.2])  # another process: sha256, not hash()
    for i in range(200):
        assert router.assign(f"user-{i}") == again.assign(f"user-{i}")


@pytest.mark.parametrize("shares", [[0.9, 0.1], [0.5, 0.3, 0.2]])
def test_many_keys_split_near_the_shares(shares):
    names = [chr(65 + i) for i in range(len(shares))]
    router = Router(names, shares)
    n = 20_000
    counts = {v: 0 for v in names}
    for i in range(n):
        counts[router.assign(f"session-{i}")[0]] += 1
    for v, share in zip(names, shares, strict=True):
        # binomial standard error at n=20000 is <= 0.0036: 0.015 is over four of them
        assert abs(counts[v] / n - share) < 0.015


def test_split_shorthand_and_mistakes():
    assert parse_split("0.9", 2) == pytest.approx([0.9, 0.1])
    assert parse_split("0.5", 3) == pytest.approx([0.5, 0.25, 0.25])
    assert parse_split(None, 2) == [0.5, 0.5]
    for bad, n in [("0.5,0.6", 2), ("x", 2), ("0.9", 1), ("0.2,0.3,0.5", 2)]:
        with pytest.raises(InputError, match="--split"):
            parse_split(bad, n)


def test_shadow_mode_answers_with_a_and_logs_b(serve_runs):
    a, b = serve_runs
    root = a.parent.parent
    server = start_server(str(a), str(b), "--shadow", "--ab-log", "shadow.jsonl", cwd=root)
    try:
        with server.client() as c:
            answers = [
                c.post("/predict", json={"pixels": digit(i).tolist(), "key": f"u{i}"}).json()
                for i in range(4)
            ]
            assert {r["variant"] for r in answers} == {"A"}
            fb = c.post(
                "/feedback", json={"id": answers[0]["id"], "label": answers[0]["labels"][0]}
            )
            assert fb.json()["variants"] == {
                "A": True,
                "B": answers[0]["labels"][0] == str(B_CLASS),
            }
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # B's line is written when its batch is done
            records = [json.loads(x) for x in (root / "shadow.jsonl").read_text().splitlines()]
            shadow = [r for r in records if r["event"] == "assign" and r["variant"] == "B"]
            if len(shadow) == 4:
                break
            time.sleep(0.1)
        assert {r["id"] for r in shadow} == {r["id"] for r in answers}
        assert all(r["shadow"] and r["label"] == str(B_CLASS) for r in shadow)
        served = {
            r["id"]: r["label"] for r in records if r["event"] == "assign" and r["variant"] == "A"
        }
        assert served == {r["id"]: r["labels"][0] for r in answers}
        assert server.metric('dllab_predictions_total{role="shadow",variant="B"}') == 4
    finally:
        server.stop()
