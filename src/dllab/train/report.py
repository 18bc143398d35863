"""report.md: one page that says what was trained, how it went, and links every picture."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from dllab.config import Recipe
from dllab.train.checkpoint import atomic_write_text


def format_value(v: Any) -> str:
    """A metric as the report and the run's last lines show it (4 decimals)."""
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _metrics_table(summary: dict[str, Any]) -> list[str]:
    rows = ["| split | metric | value |", "|---|---|---|"]
    for split in ("best", "test"):
        for k, v in (summary.get(split) or {}).items():
            if k != "step":
                rows.append(
                    f"| {'validation (best)' if split == 'best' else 'test'} "
                    f"| {k.split('/')[-1]} | {format_value(v)} |"
                )
    return rows


def _per_class(run_dir: Path) -> list[str]:
    path = run_dir / "per_class.csv"
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as f:
        rows = list(csv.reader(f))
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return ["## Per-class metrics (test)", "", *lines, ""]


def _text_outputs(outputs: list[Path]) -> list[str]:
    """Markdown a task wrote (samples, neighbour tables) is shown inline when short; other
    files (CSV…) are linked, in one list after it."""
    lines: list[str] = []
    links: list[str] = []
    for p in outputs:
        if p.suffix == ".md" and p.exists() and p.stat().st_size <= 20_000:
            text = p.read_text("utf-8").strip()
            # Demote its headings so they nest under this report's own sections.
            text = "\n".join("##" + ln if ln.startswith("#") else ln for ln in text.splitlines())
            lines += [f"## {p.stem} ([{p.name}]({p.name}))", "", text, ""]
        elif p.suffix != ".png" and p.name != "per_class.csv":  # that one is a table above
            links.append(f"- [{p.name}]({p.name})")
    if links:
        lines += ["## Other outputs", "", *links, ""]
    return lines


def write_report(
    run_dir: Path, recipe: Recipe, summary: dict[str, Any], pictures: list[Path]
) -> Path:
    """Write `run_dir/report.md` linking the curves, confusion matrix, grids and CSVs."""
    from dllab.viz import plot_curves

    records = [
        json.loads(line)
        for line in (run_dir / "metrics.jsonl").read_text("utf-8").splitlines()
        if line.strip()
    ]
    curves = plot_curves(records, run_dir / "curves.png", title=f"{recipe.name}: training curves")
    target = summary.get("target")
    lines = [
        f"# Run report: {recipe.name}",
        "",
        recipe.description or "",
        "",
        f"- task: `{recipe.task}`, model: `{recipe.model.name}`, dataset: `{recipe.data.name}`",
        f"- trained {summary['epochs']} {summary.get('unit', 'epochs')} / {summary['steps']} "
        f"steps in {summary['train_seconds']:.1f} s of training; stopped by: "
        f"{summary['stop_reason']}",
        "- best checkpoint chosen on the validation split; the test split was used once, at the end"
        if summary.get("best") is not None or "unit" not in summary
        else "- evaluated once, at the end, on a fixed list of seeds",
    ]
    if target:
        verdict = "met" if target["met"] else "NOT met"
        lines.append(
            f"- target: {target['metric']} >= {target['value']} -> "
            f"{format_value(target['reached'])} ({verdict})"
        )
    lines += [
        "",
        "## Metrics",
        "",
        *_metrics_table(summary),
        "",
        "## Curves",
        "",
        f"![training curves]({curves.name})",
        "",
    ]
    titles = {
        "confusion.png": "Confusion matrix (test)",
        "predictions.png": "Test images with predicted and true labels",
        "mistakes.png": "The most confident mistakes",
        "samples.png": "Samples from the trained generator",
        "interpolation.png": "Latent interpolations",
        "losses.png": "Generator and critic losses",
        "content_style_result.png": "Content, style and result",
        "style_losses.png": "Content, style and total-variation losses",
        "result.png": "The result",
        "result_original_colors.png": "The result in the content's colours",
        "class_histogram.png": "Classes of the samples, under the feature classifier",
    }
    for p in pictures:
        if p.suffix == ".png":
            lines += [f"## {titles.get(p.name, p.stem)}", "", f"![{p.stem}]({p.name})", ""]
    lines += _per_class(run_dir)
    lines += _text_outputs(pictures)
    lines += [
        "## Files",
        "",
        "- `config.yaml`: the resolved recipe (every default written out)",
        "- `env.json`: versions, commit, seed, hardware, threads, data checksums",
        "- `metrics.jsonl`: one JSON record per log point; `summary.json`: final numbers",
        "- `tensorboard/`: `tensorboard --logdir " + str(run_dir / "tensorboard") + "`",
        "- "
        + ", ".join(
            f"`checkpoints/{n}`"
            for n in ("last.safetensors", "best.safetensors")
            if (run_dir / "checkpoints" / n).exists()
        )
        + ": weights, optimiser and RNG state in safetensors, the rest as JSON in the header",
        "",
    ]
    path = run_dir / "report.md"
    atomic_write_text(path, "\n".join(lines))
    return path
