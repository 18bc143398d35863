"""The NER run's report: entity-level scores per type (a table and a bar chart) and test
sentences with their gold and predicted entities.

Scores are seqeval's (an entity is right only if its type and both ends are), from the tags of
the one test pass: the same numbers as the run's `test/f1_*` metrics.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from dllab.data.bio import tags_to_entities
from dllab.data.ner_text import format_entities

__all__ = ["per_type_table", "plot_per_type", "write_examples", "write_per_type"]

Row = tuple[str, list[str], list[str]]  # (text, gold tags, predicted tags)
Table = list[tuple[str, dict[str, float]]]  # (type or "all", seqeval's report row)


def per_type_table(rows: list[Row]) -> Table:
    """seqeval's precision, recall, F1 and support of PER, LOC, ORG (those present) and all."""
    from seqeval.metrics import classification_report

    report = classification_report(
        [g for _, g, _ in rows], [p for _, _, p in rows], output_dict=True, zero_division=0
    )
    kinds = [k for k in ("PER", "LOC", "ORG") if k in report] + ["micro avg"]
    return [(k if k != "micro avg" else "all", report[k]) for k in kinds]


def write_per_type(table: Table, path: Path) -> Path:
    """per_type.csv: one row per entity type, then `all`."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["type", "precision", "recall", "f1", "support"])
        for kind, r in table:
            w.writerow(
                [kind, f"{r['precision']:.4f}", f"{r['recall']:.4f}", f"{r['f1-score']:.4f}",
                 int(r["support"])]
            )  # fmt: skip
    return path


def plot_per_type(table: Table, path: Path) -> Path:
    """Grouped bars: precision, recall and F1 of each entity type on the test split."""
    from dllab.viz.figure import new_figure, save_figure

    fig = new_figure(7, 3.2)
    ax = fig.add_subplot()
    width = 0.26
    for j, (key, name) in enumerate((("precision", "precision"), ("recall", "recall"),
                                     ("f1-score", "F1"))):  # fmt: skip
        xs = [i + (j - 1) * width for i in range(len(table))]
        values = [r[key] for _, r in table]
        bars = ax.bar(xs, values, width, label=name)
        ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=1)
    ax.set_xticks(range(len(table)), [f"{k}\n({int(r['support'])})" for k, r in table])
    lo = min(r[k] for _, r in table for k in ("precision", "recall", "f1-score"))
    ax.set_ylim(max(0.0, lo - 0.1), 1.02)
    ax.set_ylabel("score")
    ax.set_title("Entity-level precision, recall, F1 on the test split (support)")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    return save_figure(fig, path)


def write_examples(rows: list[Row], counts: dict[str, Any], path: Path, n: int = 12) -> Path:
    """Markdown: the corpus counts, then test sentences with gold and predicted entities —
    the first `n` with entities, then up to `n` whose prediction differs from the gold."""
    lines = ["## Corpus", ""]
    lines += [f"- {k}: {v}" for k, v in counts.items()]
    lines += ["", "## Test sentences: gold vs predicted entities", ""]
    with_entities = [r for r in rows if any(t != "O" for t in r[1]) and len(r[0]) <= 120]
    wrong = [r for r in with_entities if r[1] != r[2]]
    for title, chosen in (("Examples", with_entities[:n]), ("Mistakes", wrong[:n])):
        lines += [f"### {title}", ""]
        for text, gold, pred in chosen:
            lines += [
                f"- {text}",
                f"  - gold: {format_entities(text, tags_to_entities(gold))}",
                f"  - pred: {format_entities(text, tags_to_entities(pred))}",
            ]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
