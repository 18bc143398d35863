"""The five generative models side by side: sample quality, coverage, training and sampling cost.

Rows: DCGAN, WGAN-GP and the conditional GAN (`gan-*`), the VAE (`vae-fashion`) and the DDPM
(`ddpm-fashion`), each trained by its own recipe (with its own time budget) in `--work`; a
finished run there is reused, so an interrupted benchmark resumes where it was. Every row is
then measured the same way, in this process, on `--threads`:

- `--samples` images (10,000 by default, the issue's count) drawn with a fixed seed: a GAN's
  generator on N(0, I) latents (the conditional one asked for the classes in turn), the VAE's
  decoder means on N(0, I) latents, the DDPM through DDIM with 50 steps (η = 0), all in [0, 1];
- FID and KID against the 10,000 test images in the penultimate features of a
  `fashion-mnist-fast` classifier trained by dllab (`dllab.metrics.generative`, torchmetrics'
  statistics). These are NOT comparable to the Inception-feature FIDs of papers (Lucic et al.
  2018 report 21.5-30.7 on Fashion-MNIST); the floor row (real train images against real test
  images) says how low any model can go in these features;
- coverage: the share of the most frequent class under that classifier, the collapse flag
  (one class above 30 %) and, for the conditional GAN, the share of samples classified as the
  class asked for;
- sampling seconds per 1,000 images (wall clock, the chunked loop above, no warm-up beyond
  the first chunk), and the full 1,000-step DDPM timed on `--ddpm-images` images;
- training: the run's own wall seconds and steps, and the CPU seconds of the child that
  trained it (`bench_cpu.json`, written by `_runs.ensure_run`; '-' for a run trained elsewhere).

Written to --out: generative.csv and generative.md.

    python benchmarks/generative.py [--work runs/bench/generative] [--out benchmarks/results]
        [--threads 2] [--samples 10000] [--ddpm-images 100] [--feature-run R]
        [--recipes gan-dcgan …] [--overrides "train.max_time=60 …"]
"""

from __future__ import annotations

import argparse
import csv
import os
import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from _cli import run_main  # benchmarks/_cli.py: user errors as one line
from _runs import cpu_seconds_of, ensure_run  # benchmarks/_runs.py: runs made once, reused

from dllab.config import load_resolved
from dllab.errors import InputError

RECIPES = ("gan-dcgan", "gan-wgan-gp", "gan-conditional", "vae-fashion", "ddpm-fashion")
FEATURE_RECIPE = "fashion-mnist-fast"
CHUNK = 500  # images per forward while sampling
FIELDS = [
    "model",
    "recipe",
    "params (M)",
    "train wall s",
    "train CPU s",
    "steps",
    "FID",
    "KID ×1000",
    "top class share",
    "collapse",
    "asked-class accuracy",
    "sampler",
    "s per 1000 samples",
]


def sampler_for(
    run: Path, model: torch.nn.Module, meta: dict[str, Any], recipe: Any
) -> tuple[str, Callable]:
    """How to draw images in [0, 1] from a trained run (`recipe`: its config.yaml):
    (description, f(n, generator))."""
    task = recipe.task.name
    schedule = _schedule(recipe) if task == "diffusion" else None
    if task == "gan":

        def gan(n: int, g: torch.Generator) -> torch.Tensor:
            return model.sample(n, generator=g, batch_size=CHUNK)

        return "generator, z ~ N(0, I)", gan
    if task == "vae":

        def vae(n: int, g: torch.Generator) -> torch.Tensor:
            z = torch.randn(n, model.latent_dim, generator=g)
            return torch.cat([torch.sigmoid(model.decode(c)) for c in z.split(CHUNK)])

        return "decoder mean, z ~ N(0, I)", vae
    if task == "diffusion":
        from dllab.models.diffusion import ddim_sample

        shape = (meta.get("in_channels", 1), meta.get("image_size", 28), meta.get("image_size", 28))

        def ddim(n: int, g: torch.Generator) -> torch.Tensor:
            out = []
            for start in range(0, n, CHUNK):
                x_T = torch.randn(min(CHUNK, n - start), *shape, generator=g)
                x, _ = ddim_sample(model, schedule, x_T, steps=50, eta=0.0, generator=g)
                out.append((x + 1) / 2)
            return torch.cat(out)

        return "DDIM, 50 steps, η = 0", ddim
    raise InputError(f"{run} is a {task!r} run; this benchmark samples gan, vae and diffusion runs")


def _schedule(recipe: Any) -> Any:
    """The noise schedule a diffusion run trained with."""
    from dllab.models.diffusion import NoiseSchedule

    o = recipe.task.options
    return NoiseSchedule.create(o.get("schedule", "cosine"), o.get("timesteps", 1000))


def ddpm_seconds_per_1000(schedule: Any, model: torch.nn.Module, meta: dict, n: int) -> float:
    """Full ancestral DDPM sampling (every timestep) of `n` images, per 1,000."""
    from dllab.models.diffusion import ddpm_sample

    size = meta.get("image_size", 28)
    x_T = torch.randn(n, meta.get("in_channels", 1), size, size, generator=torch.Generator())
    t0 = time.perf_counter()
    ddpm_sample(model, schedule, x_T, generator=torch.Generator().manual_seed(1))
    return (time.perf_counter() - t0) / n * 1000


def real_images(feature_run: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST's train and test images as float (N, 1, 28, 28) in [0, 1]."""
    from dllab.data.vision import load_recipe_images  # the data the classifier saw

    data = load_recipe_images(load_resolved(feature_run / "config.yaml"))
    return data.train.images.float() / 255.0, data.test.images.float() / 255.0


@torch.no_grad()
def measure(run: Path, recipe: str, args: argparse.Namespace, real, clf) -> dict[str, Any]:
    """One table row: the run's model sampled, timed and scored."""
    import json

    from dllab.experiment import load_trained
    from dllab.metrics.generative import sample_quality

    model, meta = load_trained(run)
    model = model.float().eval()
    config = load_resolved(run / "config.yaml")
    what, draw = sampler_for(run, model, meta, config)
    g = torch.Generator().manual_seed(2026)
    print(f"{recipe}: drawing {args.samples:,} samples ({what})", flush=True)
    t0 = time.perf_counter()
    samples = draw(args.samples, g).float().clamp(0, 1)
    seconds = time.perf_counter() - t0
    print(f"{recipe}: sampled in {seconds:.0f} s; scoring them", flush=True)
    conditional = bool(getattr(model, "conditional", False))
    labels = torch.arange(args.samples) % len(clf.classes) if conditional else None
    q = sample_quality(samples, real, clf, labels=labels)
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    cpu = cpu_seconds_of(run)
    row = {
        "model": f"{meta.get('model', '?')}",
        "recipe": recipe,
        "params (M)": round(sum(p.numel() for p in model.parameters()) / 1e6, 3),
        "train wall s": round(float(summary.get("train_seconds", float("nan"))), 1),
        "train CPU s": cpu if cpu is not None else "-",
        "steps": summary.get("steps", "-"),
        "FID": round(q["fid"], 2),
        "KID ×1000": f"{q['kid_mean'] * 1000:.2f} ± {q['kid_std'] * 1000:.2f}",
        "top class share": round(max(q["class_histogram"].values()), 3),
        "collapse": q["collapse"] or "none",
        "asked-class accuracy": round(q["accuracy"], 3) if "accuracy" in q else "-",
        "sampler": what,
        "s per 1000 samples": round(seconds / args.samples * 1000, 3),
    }
    if config.task.name == "diffusion" and args.ddpm_images:
        print(f"{recipe}: timing full DDPM sampling on {args.ddpm_images} images", flush=True)
        full = ddpm_seconds_per_1000(_schedule(config), model, meta, args.ddpm_images)
        row["sampler"] += f" (full DDPM, 1,000 steps: {full:.1f} s per 1000)"
    print(f"{recipe}: FID {row['FID']}, top class share {row['top class share']}", flush=True)
    return row


def write(rows: list[dict], floor: float, args: argparse.Namespace, load: str) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "generative.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, FIELDS)
        w.writeheader()
        w.writerows(rows)
    lines = [
        "# Generative models side by side",
        "",
        f"{args.samples:,} samples per model, scored against the 10,000 Fashion-MNIST test "
        f"images in the features of a dllab `{FEATURE_RECIPE}` classifier. These FIDs are NOT "
        "comparable to the Inception-feature FIDs of papers (Lucic et al. 2018: 21.5-30.7 on "
        f"Fashion-MNIST). Floor (real train vs real test images, same features): "
        f"**FID {floor:.2f}**. Sampling on {args.threads} torch thread(s); load average "
        f"{load} at the end.",
        "",
        "| " + " | ".join(FIELDS) + " |",
        "|" + "---|" * len(FIELDS),
    ]
    lines += ["| " + " | ".join(str(r[k]) for k in FIELDS) + " |" for r in rows]
    (args.out / "generative.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("runs/bench/generative"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--samples", type=int, default=10_000, help="samples per model")
    ap.add_argument("--ddpm-images", type=int, default=100, help="images for full DDPM timing")
    ap.add_argument("--feature-run", type=Path, help="a fashion-mnist-fast run (else trained)")
    ap.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    ap.add_argument("--overrides", default="", help="recipe overrides for every run, quoted")
    args = ap.parse_args(argv)
    if args.samples < 2:
        raise InputError(f"--samples {args.samples}: FID needs at least 2 samples")
    torch.set_num_threads(args.threads)
    extra = [*shlex.split(args.overrides), f"train.threads={args.threads}"]
    feature = args.feature_run or ensure_run(args.work, "feature", FEATURE_RECIPE, *extra)
    runs = {
        recipe: ensure_run(args.work, recipe, recipe, f"task.feature_run={feature}", *extra)
        for recipe in args.recipes
    }  # every run trained (or found) before anything is measured
    from dllab.metrics.generative import fid_floor, load_feature_classifier

    clf = load_feature_classifier(feature)
    train, test = real_images(feature)
    floor = fid_floor(train[: len(test)], test, clf)
    rows = [measure(run, recipe, args, test, clf) for recipe, run in runs.items()]
    write(rows, floor, args, f"{os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    run_main(main)
