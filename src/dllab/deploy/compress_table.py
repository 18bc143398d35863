"""The table `dllab compress` writes: one row per model, the columns users compare.

Sizes, CPU latency p50/p95 at batch 1 and 32, throughput, test accuracy, and each model's
deltas from the first row (PyTorch eager fp32) and the second (its fp32 ONNX export).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from dllab.deploy.latency import Timing

BATCHES = (1, 32)  # the latency columns: one request, and a batch a server would gather


@dataclass
class Settings:
    """How `compress` measures; the defaults are the issue's table."""

    threads: int = 2  # intra-op threads for both runtimes (the goal is stated at 2)
    warmup: int = 10  # untimed calls before timing each model at each batch size
    iterations: int = 100  # timed calls per model and batch size
    compile: bool = True  # pt2e: also time the graphs compiled by Inductor (tens of seconds)


@dataclass
class Row:
    """One model of the table."""

    name: str
    size_bytes: int  # the file (or, for eager, the fp32 tensors) a deployment ships
    gzip_bytes: int  # the same bytes gzipped: what unstructured sparsity saves
    latency: list[Timing]  # one per batch size in BATCHES
    accuracy: float  # on the run's full test split
    sparsity: float  # fraction of conv/linear weights that are exactly zero

    def at(self, batch: int) -> Timing:
        return next(t for t in self.latency if t.batch == batch)


COLUMNS = [
    "model", "size MB", "gzip MB", "sparsity",
    "b1 p50 ms", "b1 p95 ms", "b32 p50 ms", "b32 p95 ms", "img/s b32",
    "test acc", "Δacc vs eager (pts)", "Δacc vs onnx fp32 (pts)",
    "b1 ×eager", "b32 ×eager", "b1 ×onnx fp32", "b32 ×onnx fp32",
]  # fmt: skip


def table_rows(rows: list[Row]) -> list[dict[str, Any]]:
    """Every row as {column: value}; the deltas are against the first row (eager) and the
    second (fp32 ONNX). A speed-up above 1 means faster than the reference."""
    eager, onnx_fp32 = rows[0], rows[1]
    out = []
    for r in rows:
        b1, b32 = r.at(1), r.at(32)
        out.append({
            "model": r.name,
            "size MB": r.size_bytes / 1e6,
            "gzip MB": r.gzip_bytes / 1e6,
            "sparsity": r.sparsity,
            "b1 p50 ms": b1.p50_ms,
            "b1 p95 ms": b1.p95_ms,
            "b32 p50 ms": b32.p50_ms,
            "b32 p95 ms": b32.p95_ms,
            "img/s b32": b32.throughput,
            "test acc": r.accuracy,
            "Δacc vs eager (pts)": 100 * (r.accuracy - eager.accuracy),
            "Δacc vs onnx fp32 (pts)": 100 * (r.accuracy - onnx_fp32.accuracy),
            "b1 ×eager": eager.at(1).p50_ms / b1.p50_ms,
            "b32 ×eager": eager.at(32).p50_ms / b32.p50_ms,
            "b1 ×onnx fp32": onnx_fp32.at(1).p50_ms / b1.p50_ms,
            "b32 ×onnx fp32": onnx_fp32.at(32).p50_ms / b32.p50_ms,
        })  # fmt: skip
    return out


def _cell(column: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if column == "test acc" or column == "sparsity":
        return f"{value:.4f}" if column == "test acc" else f"{value:.2f}"
    if column.startswith("Δ"):
        return f"{value:+.2f}"
    if "×" in column:
        return f"{value:.2f}x"
    if column == "img/s b32":
        return f"{value:,.0f}"
    return f"{value:.3f}" if "MB" in column else f"{value:.2f}"


def markdown(title: str, rows: list[Row], notes: list[str], s: Settings, load: str) -> str:
    """The table as Markdown: a title, how it was measured, the rows, then the notes."""
    cells = table_rows(rows)
    lines = [
        f"# {title}",
        "",
        f"CPU, {s.threads} intra-op threads for PyTorch and onnxruntime, {s.warmup} warm-up "
        f"calls then {s.iterations} timed calls per model and batch size; load average "
        f"{load} when measured. Accuracy: the run's whole test split; eager runs in fp32. "
        "Speed-ups compare p50 latencies (above 1x is faster).",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    lines += ["| " + " | ".join(_cell(c, r[c]) for c in COLUMNS) + " |" for r in cells]
    lines += ["", *(f"- {n}" for n in notes), ""]
    return "\n".join(lines)


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as text: what the timings competed with."""
    try:
        return ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"
