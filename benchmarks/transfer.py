"""Transfer learning on few-shot Fashion-MNIST: what ImageNet pretraining buys at each size.

Three regimes of one EfficientNet-Lite0 (`fashion-mnist-probe`, `-finetune`, `-scratch`: a
linear probe on frozen ImageNet features; fine-tuning after a linear-probe warm-up of the head
(LP-FT), with a slower backbone and frozen BatchNorm statistics, as the finetune recipe states;
and training from random weights) on 10 / 50 / 500 labelled training images per class, three
seeded subsets each (the seed also seeds training). Every run gets the same data (64 px, the
same validation and full 10,000-image test set), batch and training-time budget. Written to --out: transfer.csv (one row per run), transfer.md (mean
and spread per cell, and the gain over scratch) and transfer.png (test accuracy against
labelled images per class).

    python benchmarks/transfer.py [--per-class 10 50 500] [--seeds 0 1 2] [--seconds 120]
        [--regimes probe finetune scratch] [--threads 2] [--out benchmarks/results] [key=value…]
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from _cli import run_main  # benchmarks/_cli.py: user errors as one line

from dllab.config import load_recipe
from dllab.experiment import run_recipe

REGIMES = ("probe", "finetune", "scratch")


def one_run(regime: str, per_class: int, seed: int, args: argparse.Namespace, root: Path) -> dict:
    """Train one recipe of the grid; its test accuracy and what it cost."""
    recipe = load_recipe(
        f"fashion-mnist-{regime}",
        [
            f"task.per_class={per_class}",
            f"task.subset_seed={seed}",
            f"train.seed={seed}",
            f"train.max_time={args.seconds}",
            f"train.threads={args.threads}",
            *args.overrides,
        ],
    )
    t = time.perf_counter()
    run = run_recipe(
        recipe, run_dir=root / f"{regime}-{per_class}-{seed}", echo=lambda s: None, progress=False
    )
    summary = json.loads((run / "summary.json").read_text())
    return {
        "regime": regime,
        "per_class": per_class,
        "seed": seed,
        "test_accuracy": summary["test"]["test/accuracy"],
        "train_seconds": round(summary["train_seconds"], 1),
        "steps": summary["steps"],
        "wall_seconds": round(time.perf_counter() - t, 1),
    }


def cells(rows: list[dict]) -> dict[tuple[str, int], list[float]]:
    out: dict[tuple[str, int], list[float]] = {}
    for r in rows:
        out.setdefault((r["regime"], r["per_class"]), []).append(r["test_accuracy"])
    return out


def table(rows: list[dict], regimes: list[str], sizes: list[int]) -> str:
    """Markdown: mean ± spread (population std over seeds) per cell, and gains over scratch."""
    acc = cells(rows)
    lines = [
        "| regime | " + " | ".join(f"{n} / class" for n in sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    for regime in regimes:
        values = [acc.get((regime, n), []) for n in sizes]
        lines.append(
            f"| {regime} | "
            + " | ".join(
                f"{statistics.mean(v):.4f} ± {statistics.pstdev(v):.4f} (n={len(v)})" if v else "-"
                for v in values
            )
            + " |"
        )
    if "scratch" in regimes:
        for regime in (r for r in regimes if r != "scratch"):
            gains = []
            for n in sizes:
                a, b = acc.get((regime, n)), acc.get(("scratch", n))
                gains.append(f"{statistics.mean(a) - statistics.mean(b):+.4f}" if a and b else "-")
            lines.append(f"| {regime} - scratch | " + " | ".join(gains) + " |")
    return "\n".join(lines)


def plot(rows: list[dict], regimes: list[str], sizes: list[int], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    acc = cells(rows)
    fig, ax = plt.subplots(figsize=(6, 4))
    for regime in regimes:
        xs = [n for n in sizes if (regime, n) in acc]
        means = [statistics.mean(acc[(regime, n)]) for n in xs]
        spread = [statistics.pstdev(acc[(regime, n)]) for n in xs]
        ax.errorbar(xs, means, yerr=spread, marker="o", capsize=3, label=regime)
    ax.set_xscale("log")
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.set_xlabel("labelled training images per class")
    ax.set_ylabel("test accuracy (10,000 images)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-class", type=int, nargs="+", default=[10, 50, 500])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=REGIMES)
    ap.add_argument("--seconds", type=float, default=120.0, help="training time per run")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("overrides", nargs="*", help="recipe overrides for every run")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for per_class in args.per_class:
            for seed in args.seeds:
                for regime in args.regimes:
                    row = one_run(regime, per_class, seed, args, Path(tmp))
                    rows.append(row)
                    print(
                        f"{regime:8} {per_class:4d}/class seed {seed}: test accuracy "
                        f"{row['test_accuracy']:.4f} ({row['steps']} steps in "
                        f"{row['train_seconds']} s of training, {row['wall_seconds']} s wall)",
                        flush=True,
                    )
    with (args.out / "transfer.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    text = table(rows, args.regimes, args.per_class)
    (args.out / "transfer.md").write_text(
        f"EfficientNet-Lite0 on Fashion-MNIST (64 px), {args.seconds:g} s of training per run, "
        f"{args.threads} threads, seeds {args.seeds}\n\n{text}\n",
        encoding="utf-8",
    )
    title = f"Fashion-MNIST, EfficientNet-Lite0, {args.seconds:g} s per run"
    png = plot(rows, args.regimes, args.per_class, args.out / "transfer.png", title)
    print(f"\n{text}\n\nwrote {args.out / 'transfer.csv'}, {args.out / 'transfer.md'}, {png}")


if __name__ == "__main__":
    run_main(main)
