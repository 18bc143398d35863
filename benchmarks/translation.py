"""English -> Chinese translation: the GRU+attention baseline against the Transformer, trained
for the same wall-clock budget in this one process.

Both recipes (`translate-en-zh-gru`, `translate-en-zh`) read the same gettext corpus and learn
the same BPE (deterministic), use the same loss, thread count and precision, and are scored
on the same test split with beam search (their recipes' beam size and length penalty), with
the best validation checkpoint (validation every `--val-every` steps, clock paused). Printed:
one row per model with its size, steps done, BLEU (sacrebleu, tokenize="zh") and chrF, and
the load average before and after, since timings on a shared machine are pessimistic.

    python benchmarks/translation.py [--budget 240] [--threads 2] [key=value ...]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from _cli import run_main  # benchmarks/_cli.py: user errors as one line

from dllab.config import load_recipe
from dllab.experiment import _configure_torch, build_task, build_trainer
from dllab.train.checkpoint import load_checkpoint
from dllab.train.optim import build_optimizer
from dllab.train.rng import seed_everything

RECIPES = ("translate-en-zh-gru", "translate-en-zh")


def train_and_test(name: str, overrides: list[str], run_dir: Path) -> dict:
    recipe = load_recipe(name, overrides)
    run_dir.mkdir(parents=True)
    _configure_torch(recipe)
    seed_everything(recipe.train.seed)
    device = torch.device("cpu")
    t = time.perf_counter()
    task = build_task(recipe)  # task options (beam size, BPE...) from the recipe's task section
    task.setup()
    setup_s = time.perf_counter() - t
    model = task.build_model()
    optimizer = build_optimizer(recipe.optim, model)
    trainer = build_trainer(recipe, task, model, optimizer, run_dir, device, progress=False)
    state = trainer.fit(task, model, optimizer)
    best = load_checkpoint(run_dir / "checkpoints" / "best.safetensors")
    model.load_state_dict(best["model"])
    trainer.model = model
    t = time.perf_counter()
    test, _ = trainer.test(task.test_batches())  # the test split decoded once, with beam search
    return {
        "recipe": name,
        "model": recipe.model.name,
        "params": sum(p.numel() for p in model.parameters()),
        "steps": state.step,
        "train_s": state.train_seconds,
        "best_step": best["step"],
        "val_bleu": best["metrics"].get("val/bleu", float("nan")),
        "bleu": test["test/bleu"],
        "chrf": test["test/chrf"],
        "test_s": time.perf_counter() - t,
        "setup_s": setup_s,
        "pairs": task.corpus_.stats.summary(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=240.0, help="training seconds each")
    parser.add_argument("--threads", type=int, default=2, help="1 if the machine is shared")
    parser.add_argument("--val-every", type=int, default=400, help="steps between validations")
    parser.add_argument("overrides", nargs="*", help="key=value for both recipes")
    args = parser.parse_args()
    common = [
        f"train.max_time={args.budget}",
        "train.max_epochs=1000",
        f"train.threads={args.threads}",
        f"train.val_every={args.val_every}",
        *args.overrides,
    ]
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in RECIPES:
            rows.append(train_and_test(name, common, Path(tmp) / name))
    load_after = os.getloadavg()
    print(f"corpus: {rows[0]['pairs']}")
    print(
        f"budget {args.budget:.0f} s of training each, {args.threads} thread(s); "
        f"load average before {load_before[0]:.2f} / after {load_after[0]:.2f} "
        f"(1 min), {load_after[1]:.2f} (5 min)"
    )
    header = (
        f"{'recipe':<22} {'model':<20} {'params':>8} {'steps':>6} {'train s':>8} "
        f"{'val BLEU':>8} {'test BLEU':>9} {'test chrF':>9} {'test s':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['recipe']:<22} {r['model']:<20} {r['params'] / 1e6:>7.2f}M {r['steps']:>6} "
            f"{r['train_s']:>8.1f} {r['val_bleu']:>8.2f} {r['bleu']:>9.2f} {r['chrf']:>9.2f} "
            f"{r['test_s']:>7.1f}"
        )
    gru, transformer = rows
    verdict = "wins" if transformer["bleu"] > gru["bleu"] else "DOES NOT win"
    print(
        f"Transformer {verdict}: BLEU {transformer['bleu']:.2f} vs {gru['bleu']:.2f} "
        f"(x{transformer['bleu'] / max(gru['bleu'], 1e-9):.2f}), chrF {transformer['chrf']:.2f} "
        f"vs {gru['chrf']:.2f}; total {time.perf_counter() - t0:.0f} s"
    )


if __name__ == "__main__":
    run_main(main)
