"""GPT generation with and without the KV cache: same tokens, and how much faster.

The model is the `gpt-peoples-daily` recipe's (random weights, seeded; or a trained run's
best checkpoint with `--run`). The prompt is the first 64 characters of the recipe's test
part; 256 new tokens are generated greedily and by seeded sampling with the recipe's
temperature / top-k / top-p. The context (max_len 320) holds prompt and continuation, so the
cache serves every step. For each mode the two ways must give the same tokens (asserted);
printed: the median seconds of `--repeats` runs each, and the speed-up. The issue asks for
>= 3x; the exit status is 1 below that.

    python benchmarks/gpt_kv_cache.py [--run RUN_DIR] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from _cli import run_main  # benchmarks/_cli.py: user errors as one line

from dllab.config import load_recipe
from dllab.experiment import build_task, load_trained
from dllab.tasks.language_model import EOS, Sampling

REQUIRED = 3.0  # the bar for the speed-up


def timed_generate(model, prompt, new, sampling, use_cache, repeats):
    """(tokens of the first run, median seconds over `repeats` runs)."""
    seconds, tokens = [], None
    for _ in range(repeats):
        g = torch.Generator().manual_seed(sampling.seed)
        t = time.perf_counter()
        out = model.generate(
            prompt,
            new,
            temperature=sampling.temperature,
            top_k=sampling.top_k,
            top_p=sampling.top_p,
            generator=g,
            use_cache=use_cache,
        )
        seconds.append(time.perf_counter() - t)
        tokens = out if tokens is None else tokens
        assert torch.equal(out, tokens), "generation is not reproducible with a fixed seed"
    return tokens, statistics.median(seconds)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, help="a trained gpt-peoples-daily run folder")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="default: the recipe's")
    ap.add_argument("--prompt", type=int, default=64)
    ap.add_argument("--new", type=int, default=256)
    args = ap.parse_args()

    recipe = load_recipe("gpt-peoples-daily")
    torch.set_num_threads(args.threads or recipe.train.threads or torch.get_num_threads())
    task = build_task(recipe)
    task.setup()  # the vocabulary and the test text (a few seconds)
    if args.run:
        model, _ = load_trained(args.run)
        source = f"trained weights of {args.run}"
    else:
        torch.manual_seed(0)
        model = task.build_model()
        source = "random weights (seed 0)"
    model.eval()
    test = task.ids_["test"]
    start = int((test == task.vocab_.index[EOS]).nonzero()[0]) + 1  # a sentence's start
    prompt = test[start : start + args.prompt][None]  # (1, 64)
    max_len = model.config.max_len
    n_weights = sum(p.numel() for p in model.parameters())
    print(
        f"{recipe.model.name}: {n_weights / 1e6:.2f} M weights, context {max_len}, "
        f"vocabulary {model.config.vocab_size}; {source}; {torch.get_num_threads()} thread(s)"
    )
    print(f"prompt {args.prompt} tokens + {args.new} new; median of {args.repeats} runs each")
    if args.prompt + args.new > max_len:
        print(f"note: past {max_len} tokens the window slides and the cache cannot serve")

    r = task.options.sampling
    modes = {
        "greedy": Sampling(temperature=0, top_k=None, top_p=None),
        f"sampled (T={r.temperature}, top-k={r.top_k}, top-p={r.top_p}, seed {r.seed})": r,
    }
    worst = float("inf")
    print(f"{'mode':<52} {'no cache s':>10} {'cache s':>8} {'speed-up':>8}")
    for name, sampling in modes.items():
        model.generate(prompt, 8, use_cache=True)  # warm up the kernels
        cached, t_cache = timed_generate(model, prompt, args.new, sampling, True, args.repeats)
        full, t_full = timed_generate(model, prompt, args.new, sampling, False, args.repeats)
        assert torch.equal(cached, full), f"{name}: the KV cache changed the tokens"
        speedup = t_full / t_cache
        worst = min(worst, speedup)
        print(f"{name:<52} {t_full:>10.3f} {t_cache:>8.3f} {speedup:>7.1f}x")
    text = "".join(task.vocab_.decode(cached[0, args.prompt :].tolist()))
    print(f"same tokens with and without the cache; last sampled text: {text[:60]!r}")
    verdict = "ok" if worst >= REQUIRED else "BELOW"
    print(f"smallest speed-up {worst:.1f}x (required >= {REQUIRED:.0f}x): {verdict}")
    return 0 if worst >= REQUIRED else 1


if __name__ == "__main__":
    run_main(main)
