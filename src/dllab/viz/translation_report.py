"""translations.md of a translation run: what was read, greedy vs beam scores on the test
split, and the first test pairs with the model's (beam) output.

The rows come from the run's one test pass (`TranslationTask.test_step`), in split order; the
scores are computed by the task from those same outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["write_translations"]


def write_translations(
    rows: list[dict[str, Any]],
    scores: dict[str, dict[str, float]],
    path: Path,
    *,
    notes: list[str],
    n: int = 30,
) -> Path:
    """Markdown: `notes` as a list, a table of BLEU/chrF per search (`scores`: search name ->
    {"bleu", "chrf"}), then the first `n` rows' English, reference and beam output."""
    lines = ["# Translations of the test split", "", *(f"- {note}" for note in notes), ""]
    lines += ["| search | BLEU (zh) | chrF |", "|---|---|---|"]
    lines += [f"| {k} | {s['bleu']:.2f} | {s['chrf']:.2f} |" for k, s in scores.items()]
    lines += ["", "| English | reference | beam output |", "|---|---|---|"]
    for r in rows[:n]:
        cells = (r["source"], r["reference"], r["beam"])
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
