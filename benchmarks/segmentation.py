"""U-Net against DeepLabV3 and LR-ASPP on generated driving scenes, at equal CPU time.

Rows, trained one after the other in this process, each for the same wall-clock budget
(`--minutes`; `train.max_time` with `schedule.follow_time`, so each cosine schedule ends in
budget) and the same torch threads, on the same scenes (the recipes render them from the same
seeds):

- `segmentation-unet`: our U-Net (random init, 1.9 M parameters at width 16);
- `segmentation-deeplab`: torchvision's DeepLabV3 head on the ImageNet-pretrained
  EfficientNet-Lite0 backbone (output stride 16);
- `segmentation-lraspp`: torchvision's LR-ASPP head on the same backbone.

Each row's mIoU is the run's own test pass: the clear test split, the shifted split (other
light and weather) and the shifted split after AdaBN (BatchNorm statistics re-estimated on its
unlabelled images); `recovered` is the share of the drop AdaBN gets back. Parameters are all
of the model's; GFLOPs are FLOPs (2 x multiply-adds) of one image at --size counted by
`torch.utils.flop_counter.FlopCounterMode`; latency is one image (batch 1) at --size in eval
mode, eager PyTorch, the median of `--repeats` runs after warm-up, on --threads threads.
Written to --out: segmentation.csv (one row per model, with the load average when it finished)
and segmentation.md.

    python benchmarks/segmentation.py [--minutes 20] [--threads 2] [--out benchmarks/results]
        [--models segmentation-unet segmentation-deeplab segmentation-lraspp] [--seconds S]
        [--size 256x512] [--repeats 20] [key=value…]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from _cli import run_main  # benchmarks/_cli.py: user errors as one line
from _measure import gflops, median_ms  # benchmarks/_measure.py: FLOPs and latency

from dllab.config import load_recipe
from dllab.errors import InputError
from dllab.experiment import load_trained, run_recipe

RECIPES = ("segmentation-unet", "segmentation-deeplab", "segmentation-lraspp")
FIELDS = [
    "model",
    "recipe",
    "pretrained",
    "params_m",
    "gflops",
    "trained_at",
    "budget_s",
    "train_s",
    "steps",
    "test_miou",
    "shifted_miou",
    "adabn_miou",
    "recovered",
    "latency_ms",
    "fps",
    "load_1m",
    "note",
]


def parse_size(text: str) -> tuple[int, int]:
    """`256x512` -> (256, 512): height by width."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise InputError(f"--size takes HEIGHTxWIDTH such as 256x512, got {text!r}") from exc
    if h < 16 or w < 16:
        raise InputError(f"--size must be at least 16x16, got {text!r}")
    return h, w


def latency_ms(model: torch.nn.Module, size: tuple[int, int], repeats: int) -> float:
    """Median wall time (ms) of one image's forward pass in eval mode, after 2 warm-ups."""
    x = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return median_ms(lambda: model(x), repeats, warmup=2)


def train_row(recipe_name: str, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """Train one recipe for the budget; its mIoU on the three test passes, size and speed."""
    recipe = load_recipe(recipe_name, budget_overrides(args))
    run = run_recipe(recipe, run_dir=root / recipe_name, echo=lambda s: None, progress=False)
    summary = json.loads((run / "summary.json").read_text("utf-8"))
    shift = json.loads((run / "shift.json").read_text("utf-8"))
    load_1m = os.getloadavg()[0]
    model, meta = load_trained(run)
    clear = shift["test"]["miou"]
    before = shift.get("shifted", {}).get("miou")
    after = shift.get("shifted_adabn", {}).get("miou")
    drop = clear - before if before is not None else 0.0
    ms = latency_ms(model, args.size, args.repeats)
    return {
        "model": recipe.model.name,
        "recipe": recipe_name,
        "pretrained": bool(recipe.model.kwargs.get("pretrained", False)),
        "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 3),
        "gflops": round(gflops(model, args.size), 2),
        "trained_at": f"{meta['height']}x{meta['width']}",
        "budget_s": args.budget,
        "train_s": round(summary["train_seconds"], 1),
        "steps": summary["steps"],
        "test_miou": round(clear, 4),
        "shifted_miou": "" if before is None else round(before, 4),
        "adabn_miou": "" if after is None else round(after, 4),
        "recovered": f"{(after - before) / drop:.0%}"
        if before is not None and drop >= 0.01
        else "",
        "latency_ms": round(ms, 1),
        "fps": round(1e3 / ms, 2),
        "load_1m": round(load_1m, 2),
        "note": summary["stop_reason"],
    }


def budget_overrides(args: argparse.Namespace) -> list[str]:
    """The same budget and threads for every recipe, then the user's overrides."""
    return [
        f"train.max_time={args.budget}",
        "schedule.follow_time=true",
        f"train.threads={args.threads}",
        *args.overrides,
    ]


def markdown(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    head = (
        "| model | recipe | pretrained | params (M) | GFLOPs | trained at | train s | steps | "
        "test mIoU | shifted mIoU | shifted + AdaBN | recovered | latency ms | FPS | "
        "load (1 min) |"
    )
    lines = [head, "|---" * 15 + "|"]
    for r in rows:
        cells = [r[f] for f in FIELDS[:-1] if f != "budget_s"]
        lines.append("| " + " | ".join(str(c) if c != "" else "-" for c in cells) + " |")
    notes = [f"- {r['recipe']}: stopped by {r['note']}" for r in rows if r["note"]]
    h, w = args.size
    return (
        f"Segmentation of generated driving scenes, {args.budget:g} s of training per model "
        f"on {args.threads} torch thread(s), trained one after the other. mIoU over every "
        "class (torchmetrics' MulticlassJaccardIndex) from each run's test pass: clear, "
        "shifted (other light and weather), and shifted after AdaBN; 'recovered' is the share "
        f"of the drop AdaBN gets back. GFLOPs and latency at {h}x{w}, batch 1, eager, "
        f"median of {args.repeats}.\n\n" + "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=20.0, help="training time per model")
    ap.add_argument("--seconds", type=float, help="training time per model (overrides minutes)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=20, help="timed runs per latency")
    ap.add_argument("--size", default="256x512", help="HEIGHTxWIDTH for GFLOPs and latency")
    ap.add_argument("--models", nargs="*", default=list(RECIPES), choices=list(RECIPES))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("overrides", nargs="*", help="recipe overrides for every run")
    args = ap.parse_args()
    args.budget = args.seconds if args.seconds is not None else args.minutes * 60
    args.size = parse_size(args.size)
    for name in args.models:  # a bad override fails now, not after the first row's training
        load_recipe(name, budget_overrides(args))
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            rows.append(train_row(name, args, Path(tmp)))
            print(f"{name}: {json.dumps(rows[-1])}", flush=True)
    with (args.out / "segmentation.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    text = markdown(rows, args)
    (args.out / "segmentation.md").write_text(text, encoding="utf-8")
    print(f"\n{text}\nwrote {args.out / 'segmentation.csv'}, {args.out / 'segmentation.md'}")


if __name__ == "__main__":
    run_main(main)
