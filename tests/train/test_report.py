"""report.md: pictures, per-class table, and the text outputs a task writes."""

from __future__ import annotations

import json

from dllab.config import load_recipe
from dllab.train.report import write_report


def test_report_links_pictures_and_inlines_short_markdown(tmp_path):
    (tmp_path / "metrics.jsonl").write_text(
        json.dumps({"step": 1, "epoch": 0, "train/loss": 1.0}) + "\n", "utf-8"
    )
    samples = tmp_path / "samples.md"
    samples.write_text("# Samples\n\n| prompt | text |\n|---|---|\n| 中国 | 中国人民 |\n", "utf-8")
    big = tmp_path / "big.md"
    big.write_text("x" * 30_000, "utf-8")
    table = tmp_path / "neighbours.csv"
    table.write_text("word,neighbour\n", "utf-8")
    picture = tmp_path / "attention.png"
    picture.write_bytes(b"")
    summary = {"epochs": 1, "steps": 1, "train_seconds": 1.0, "stop_reason": "max_steps"}

    text = write_report(
        tmp_path, load_recipe("quickstart"), summary, [picture, samples, big, table]
    ).read_text("utf-8")

    assert "![attention](attention.png)" in text
    assert "### Samples" in text and "| 中国 | 中国人民 |" in text  # inlined, heading nested
    assert "- [big.md](big.md)" in text and "x" * 100 not in text  # too long: linked only
    assert "- [neighbours.csv](neighbours.csv)" in text
