"""Fashion-MNIST time-to-accuracy: the stage's baseline against `fashion-mnist-fast`.

Both are trained in this one process, with the same thread count, and evaluated on the test
set every eighth of an epoch with the clock paused. Printed: the median training seconds each
needs to first reach 0.90 test accuracy over three runs, and their ratio; the fast recipe's
final test accuracy and training time (its promise: >= 0.91 within 60 s); and the achieved
training GFLOP/s against a plain matmul's on this machine.

    python benchmarks/fashion_mnist_speed.py [--runs 3] [--threads 2] [--target 0.90]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from _cli import run_main  # benchmarks/_cli.py: user errors as one line
from torch.utils.flop_counter import FlopCounterMode

from dllab.config import load_recipe
from dllab.data import load_image_dataset
from dllab.experiment import run_recipe
from dllab.models import create_model
from dllab.train.callbacks import Callback


@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    was = model.training
    model.eval()
    correct = sum(
        int((model(x[i : i + 2000]).argmax(1) == y[i : i + 2000]).sum())
        for i in range(0, len(y), 2000)
    )
    model.train(was)
    return correct / len(y)


def train_flops(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """FLOPs of one forward+backward pass per sample (torch's own flop counter)."""
    counter = FlopCounterMode(display=False)
    with counter:
        F.cross_entropy(model(x), y).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / len(y)


def matmul_gflops(n: int = 1024, repeat: int = 20) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t = time.perf_counter()
    for _ in range(repeat):
        a @ b
    return 2 * n**3 * repeat / (time.perf_counter() - t) / 1e9


def baseline(data, seed: int, target: float, max_epochs: int = 6) -> dict:
    """The stage's plain loop: seed-cnn, mean 0.1307 / std 0.3081, Adam 1e-3, batch 64."""
    torch.manual_seed(seed)
    x = (torch.cat([data.train.images, data.val.images]).float() / 255 - 0.1307) / 0.3081
    y = torch.cat([data.train.labels, data.val.labels])
    xt = (data.test.images.float() / 255 - 0.1307) / 0.3081
    yt = data.test.labels
    model = create_model("seed-cnn", num_classes=10, in_channels=1, image_size=28)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    per_sample = train_flops(model, x[:64], y[:64])
    probe = len(y) // 64 // 8
    spent, samples, curve = 0.0, 0, []
    for _ in range(max_epochs):
        order = torch.randperm(len(y))
        t = time.perf_counter()
        for b in range(0, len(y), 64):
            idx = order[b : b + 64]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            samples += len(idx)
            if (b // 64 + 1) % probe == 0:
                spent += time.perf_counter() - t
                acc = accuracy(model, xt, yt)
                curve.append((spent, acc))
                if acc >= target:
                    return {
                        "seconds": spent,
                        "curve": curve,
                        "gflops": per_sample * samples / spent / 1e9,
                    }
                t = time.perf_counter()
        spent += time.perf_counter() - t
    return {"seconds": float("inf"), "curve": curve, "gflops": per_sample * samples / spent / 1e9}


class TestProbe(Callback):
    """Every eighth of an epoch, test accuracy with the training clock paused."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, target: float) -> None:
        self.x, self.y, self.target = x, y, target
        self.curve: list[tuple[float, float]] = []
        self.first: float | None = None

    def on_train_batch_end(self, trainer, out) -> None:
        every = max(1, trainer.steps_per_epoch // 8)
        if trainer.state.step % every:
            return
        with trainer.clock_paused():
            acc = accuracy(trainer.bare_model, trainer.task.normalize(self.x), self.y)
            self.curve.append((trainer.elapsed(), acc))
            if self.first is None and acc >= self.target:
                self.first = trainer.elapsed()


def ours(data, seed: int, target: float, threads: int, root: Path, overrides=()) -> dict:
    recipe = load_recipe(
        "fashion-mnist-fast", [f"train.seed={seed}", f"train.threads={threads}", *overrides]
    )
    probe = TestProbe(data.test.images, data.test.labels, target)
    run = run_recipe(
        recipe,
        run_dir=root / f"fast-{seed}",
        extra_callbacks=[probe],
        echo=lambda s: None,
        progress=False,
    )
    import json

    summary = json.loads((run / "summary.json").read_text())
    model = create_model(
        recipe.model.name, num_classes=10, in_channels=1, image_size=28, **recipe.model.kwargs
    )
    x = torch.randn(recipe.data.batch_size, 1, 28, 28)
    per_sample = train_flops(model, x, torch.zeros(len(x), dtype=torch.long))
    samples = summary["steps"] * recipe.data.batch_size
    return {
        "seconds": probe.first if probe.first is not None else float("inf"),
        "curve": probe.curve,
        "final": summary["test"]["test/accuracy"],
        "train_seconds": summary["train_seconds"],
        "gflops": per_sample * samples / summary["train_seconds"] / 1e9,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--target", type=float, default=0.90)
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("overrides", nargs="*", help="recipe overrides for fashion-mnist-fast")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = load_image_dataset("fashion-mnist", val_fraction=0.0833, seed=0)
    peak = matmul_gflops()
    print(f"threads={args.threads}  plain 1024x1024 matmul: {peak:.1f} GFLOP/s")
    base, fast = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.runs):
            if not args.skip_baseline:
                b = baseline(data, seed, args.target)
                base.append(b)
                print(
                    f"baseline seed {seed}: {b['seconds']:.1f} s to {args.target} "
                    f"({b['gflops']:.1f} GFLOP/s)",
                    flush=True,
                )
            f = ours(data, seed, args.target, args.threads, Path(tmp), args.overrides)
            fast.append(f)
            print(
                f"fashion-mnist-fast seed {seed}: {f['seconds']:.1f} s to {args.target}; "
                f"final test accuracy {f['final']:.4f} after {f['train_seconds']:.1f} s "
                f"({f['gflops']:.1f} GFLOP/s)",
                flush=True,
            )
    mf = statistics.median(r["seconds"] for r in fast)
    print(
        f"\nfashion-mnist-fast: median {mf:.1f} s to {args.target}; final accuracy "
        f"median {statistics.median(r['final'] for r in fast):.4f} in "
        f"{statistics.median(r['train_seconds'] for r in fast):.1f} s; "
        f"{statistics.median(r['gflops'] for r in fast):.1f} GFLOP/s "
        f"({statistics.median(r['gflops'] for r in fast) / peak:.0%} of matmul)"
    )
    if base:
        mb = statistics.median(r["seconds"] for r in base)
        print(
            f"baseline seed-cnn: median {mb:.1f} s to {args.target}; "
            f"{statistics.median(r['gflops'] for r in base):.1f} GFLOP/s "
            f"({statistics.median(r['gflops'] for r in base) / peak:.0%} of matmul)"
        )
        print(f"speed-up (baseline / fast): {mb / mf:.2f}x")


if __name__ == "__main__":
    run_main(main)
