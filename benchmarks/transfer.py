"""Transfer learning on few-shot data: what ImageNet pretraining buys at each size.

Three regimes of one EfficientNet-Lite0 (`fashion-mnist-probe`, `-finetune`, `-scratch`: a
linear probe on frozen ImageNet features; fine-tuning after a linear-probe warm-up of the head
(LP-FT), with a slower backbone and frozen BatchNorm statistics, as the finetune recipe states;
and training from random weights) on 10 / 50 / 500 labelled Fashion-MNIST training images per
class, three seeded subsets each (the seed also seeds training). Within a size every run gets
the same data (64 px, the same 1,000 validation images and the full 10,000-image test set),
batch and training budget: `--steps` optimizer steps (one value, or one per size, since
5,000 images need more steps than 100; fine-tuning trains its head alone for the first half of
them, as the finetune recipe does), or `--seconds` of training. Steps are the default because
on a shared CPU a time budget buys a different number of steps from run to run. `--folder DIR` runs the same three regimes on a user's image folder
(ROOT/CLASS/*.png, or ROOT/{train,val,test}/CLASS/*.png) instead of Fashion-MNIST.

Runs go seed by seed (all sizes and regimes of seed 0 first), each row appended to the CSV as
it finishes, so a grid stopped early still has every cell for the seeds it finished.
Written to --out: transfer.csv (one row per run), transfer.md (mean and spread per cell, and
the gain over scratch) and transfer.png (test accuracy against labelled images per class);
with --folder, transfer_folder.csv / .md. `--replot CSV…` rebuilds the table and plot from
earlier CSVs (two halves of a grid run as two processes) without training.

    python benchmarks/transfer.py [--per-class 10 50 500] [--seeds 0 1 2]
        [--steps 100 150 300 | --seconds 40 60 150] [--finetune-warmup-steps N] [--regimes probe finetune scratch]
        [--threads 1] [--out benchmarks/results] [--folder DIR] [--replot CSV…] [key=value…]
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
from dllab.errors import ConfigError
from dllab.experiment import run_recipe

REGIMES = ("probe", "finetune", "scratch")
FIELDS = (
    "data",
    "regime",
    "per_class",
    "seed",
    "budget",
    "test_accuracy",
    "test_images",
    "train_seconds",
    "steps",
    "wall_seconds",
)
# A user's folder has a few dozen images a class, not 60,000: validation and test are a
# quarter each (of ROOT/CLASS/*; ignored for ROOT/{train,val,test}/), grey like the recipes.
FOLDER_OVERRIDES = ("data.val_fraction=0.25", "data.test_fraction=0.25", "data.channels=1")


def one_run(
    regime: str,
    per_class: int | None,
    seed: int,
    budget: str,
    args: argparse.Namespace,
    root: Path,
) -> dict:
    """Train one recipe of the grid for `budget` ("300 steps" or "40 s"); its test accuracy
    and what it cost."""
    amount, unit = budget.split()
    overrides = [f"task.subset_seed={seed}", f"train.seed={seed}", f"train.threads={args.threads}"]
    if unit == "steps":  # the schedule spans the steps, whatever the machine's speed
        overrides += [
            f"train.max_steps={amount}",
            "train.max_time=null",
            "schedule.follow_time=false",
        ]
    else:
        overrides.append(f"train.max_time={amount}")
    if per_class is not None:
        overrides.append(f"task.per_class={per_class}")
    else:  # the folder's own train split, whole
        overrides.append("task.per_class=null")
    if args.folder is not None:
        overrides += [*FOLDER_OVERRIDES, "data.name=folder", f"data.path={args.folder}"]
    warmup = args.finetune_warmup_steps
    if warmup is None and unit == "steps":
        warmup = int(amount) // 2  # the recipe's own proportion: 100 head-only steps of 200
    if regime == "finetune" and warmup is not None:
        overrides.append(f"model.kwargs.head_warmup_steps={warmup}")
    recipe = load_recipe(f"fashion-mnist-{regime}", [*overrides, *args.overrides])
    t = time.perf_counter()
    run = run_recipe(
        recipe, run_dir=root / f"{regime}-{per_class}-{seed}", echo=lambda s: None, progress=False
    )
    summary = json.loads((run / "summary.json").read_text())
    with (run / "per_class.csv").open(encoding="utf-8") as f:
        test_images = sum(int(row.get("support") or 0) for row in csv.DictReader(f))
    return {
        "data": "folder" if args.folder is not None else "fashion-mnist",
        "regime": regime,
        "per_class": per_class if per_class is not None else "all",
        "seed": seed,
        "budget": budget,
        "test_accuracy": summary["test"]["test/accuracy"],
        "test_images": test_images,
        "train_seconds": round(summary["train_seconds"], 1),
        "steps": summary["steps"],
        "wall_seconds": round(time.perf_counter() - t, 1),
    }


def cells(rows: list[dict]) -> dict[tuple[str, int], list[float]]:
    """Test accuracies of each (regime, images per class) cell, one per seed."""
    out: dict[tuple[str, int], list[float]] = {}
    for r in rows:
        out.setdefault((r["regime"], r["per_class"]), []).append(float(r["test_accuracy"]))
    return out


def _mean_spread(values: list[float]) -> str:
    return f"{statistics.mean(values):.3f} ± {statistics.pstdev(values):.3f} (n={len(values)})"


def table(rows: list[dict], regimes: list[str], sizes: list) -> str:
    """Markdown: mean ± spread (population std over seeds) per cell, and gains over scratch."""
    acc = cells(rows)
    budget = {r["per_class"]: r["budget"] for r in rows}
    lines = [
        "| regime | " + " | ".join(f"{n} / class ({budget[n]})" for n in sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    for regime in regimes:
        values = [acc.get((regime, n), []) for n in sizes]
        lines.append(
            f"| {regime} | " + " | ".join(_mean_spread(v) if v else "-" for v in values) + " |"
        )
    if "scratch" in regimes:
        for regime in (r for r in regimes if r != "scratch"):
            gains = []
            for n in sizes:
                a, b = acc.get((regime, n)), acc.get(("scratch", n))
                gains.append(f"{statistics.mean(a) - statistics.mean(b):+.3f}" if a and b else "-")
            lines.append(f"| {regime} − scratch | " + " | ".join(gains) + " |")
    return "\n".join(lines)


def plot(rows: list[dict], regimes: list[str], sizes: list[int], path: Path, title: str) -> Path:
    """Test accuracy (mean over seeds, error bars ± one std) against images per class, log x."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    acc = cells(rows)
    budget = {r["per_class"]: r["budget"] for r in rows}
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    for regime in regimes:
        xs = [n for n in sizes if (regime, n) in acc]
        means = [statistics.mean(acc[(regime, n)]) for n in xs]
        spread = [statistics.pstdev(acc[(regime, n)]) for n in xs]
        ax.errorbar(xs, means, yerr=spread, marker="o", capsize=4, label=regime)
    ax.set_xscale("log")
    ax.set_xticks(sizes, [f"{n}\n({budget[n]})" for n in sizes])
    ax.minorticks_off()
    ax.set_xlabel("labelled training images per class (log scale)")
    ax.set_ylabel("test accuracy (10,000 images)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(title="mean ± std over seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def read_rows(paths: list[Path]) -> list[dict]:
    """Rows of earlier transfer CSVs, numbers back as numbers."""
    rows = []
    for path in paths:
        if not path.is_file():
            raise ConfigError(f"--replot: {path} does not exist; give CSVs this script wrote")
        with path.open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                pc = row["per_class"]
                row["per_class"] = int(pc) if pc.isdigit() else pc
                rows.append(row)
    return rows


def budgets(args: argparse.Namespace, sizes: list) -> dict:
    """The training budget of each size, "N steps" or "S s": one value for all, or one a size."""
    flag, values, unit = (
        ("--seconds", args.seconds, "s") if args.seconds else ("--steps", args.steps, "steps")
    )
    if len(values) == 1:
        values = values * len(sizes)
    if len(values) != len(sizes):
        raise ConfigError(
            f"{flag} got {len(values)} values for {len(sizes)} sizes "
            f"({' '.join(map(str, sizes))}); give one for all or one per size"
        )
    return {n: f"{v:g} {unit}" for n, v in zip(sizes, values, strict=True)}


def append_row(path: Path, row: dict) -> None:
    """One finished run into the CSV at once: a grid stopped early keeps what it measured."""
    new = not path.exists()
    with path.open("a", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(FIELDS))
        if new:
            writer.writeheader()
        writer.writerow(row)


def write(rows: list[dict], args: argparse.Namespace, folder: str | None) -> None:
    """transfer.csv/.md/.png (Fashion-MNIST) or transfer_folder.csv/.md (a user's folder)."""
    regimes = [r for r in REGIMES if any(row["regime"] == r for row in rows)]
    sizes = sorted({row["per_class"] for row in rows}, key=lambda n: (isinstance(n, str), n))
    seeds = sorted({int(row["seed"]) for row in rows})
    counts = sorted({len(v) for v in cells(rows).values()})
    n_seeds = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    stem = "transfer_folder" if folder else "transfer"
    (args.out / f"{stem}.csv").unlink(missing_ok=True)
    for row in rows:
        append_row(args.out / f"{stem}.csv", row)
    text = table(rows, regimes, sizes)
    data = f"the image folder {folder}" if folder else "Fashion-MNIST (full 10,000-image test set)"
    (args.out / f"{stem}.md").write_text(
        f"EfficientNet-Lite0 on {data}, 64 px grey, seeds {seeds}; the training budget of a run "
        f"in the header (the same for every regime of a size), {args.threads} thread(s). "
        f"Cells: test accuracy, mean ± population std over seeds.\n\n{text}\n",
        encoding="utf-8",
    )
    written = [args.out / f"{stem}.csv", args.out / f"{stem}.md"]
    if not folder and all(isinstance(n, int) for n in sizes):
        title = (
            "What ImageNet pretraining buys: EfficientNet-Lite0 on few-shot Fashion-MNIST\n"
            f"(64 px, {n_seeds} seeded subsets a cell, the same training budget within a size)"
        )
        written.append(plot(rows, regimes, sizes, args.out / "transfer.png", title))
    print(f"\n{text}\n\nwrote " + ", ".join(map(str, written)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-class", type=int, nargs="+", default=None)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=REGIMES)
    budget = ap.add_mutually_exclusive_group()
    budget.add_argument(
        "--steps", type=int, nargs="+", help="optimizer steps per run (default 100 150 300, or 100)"
    )
    budget.add_argument("--seconds", type=float, nargs="+", help="training time per run instead")
    ap.add_argument(
        "--finetune-warmup-steps",
        type=int,
        default=None,
        help="head-only steps before the backbone trains (default: half of --steps, or the "
        "recipe's 100 under --seconds)",
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--folder", type=Path, default=None, help="a user's image folder instead")
    ap.add_argument("--replot", type=Path, nargs="+", default=None, help="CSVs to re-tabulate")
    ap.add_argument("overrides", nargs="*", help="recipe overrides for every run")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    folder = str(args.folder) if args.folder is not None else None
    if args.replot:
        rows = read_rows(args.replot)
        write(rows, args, folder or (rows[0]["data"] if rows[0]["data"] == "folder" else None))
        return
    if args.folder is not None and not args.folder.is_dir():
        raise ConfigError(f"--folder {args.folder} is not a directory of class folders")
    default_sizes = [None] if args.folder is not None else [10, 50, 500]
    sizes = args.per_class or default_sizes
    if not args.steps and not args.seconds:
        args.steps = [100, 150, 300] if sizes == [10, 50, 500] else [100]
    budget = budgets(args, sizes)
    torch.set_num_threads(args.threads)
    partial = args.out / ("transfer_folder.partial.csv" if folder else "transfer.partial.csv")
    partial.unlink(missing_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for per_class in sizes:
                for regime in args.regimes:
                    row = one_run(regime, per_class, seed, budget[per_class], args, Path(tmp))
                    rows.append(row)
                    append_row(partial, row)
                    print(
                        f"{regime:8} {row['per_class']}/class seed {seed}: test accuracy "
                        f"{row['test_accuracy']:.4f} on {row['test_images']} images "
                        f"({row['steps']} steps in {row['train_seconds']} s of training, "
                        f"{row['wall_seconds']} s wall)",
                        flush=True,
                    )
    write(rows, args, folder)
    partial.unlink()


if __name__ == "__main__":
    run_main(main)
