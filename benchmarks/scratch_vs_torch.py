"""Forward + backward time of the same MLP and the same conv layer in dllab.scratch and PyTorch.

Both run on the CPU in float32 with identical weights, computing the gradients of the weights
and of the input; each time is the median of several repeats after a warm-up. Prints milliseconds per iteration and the ratio scratch / torch.

    python benchmarks/scratch_vs_torch.py [--repeats 20] [--threads N]

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, which the lab machines set and which slow NumPy's
BLAS, are removed for this benchmark only: the script re-runs itself without them. With
`--threads N` both engines use N threads (OPENBLAS_NUM_THREADS for NumPy, set the same way);
on a machine shared with other jobs, `--threads 1` gives the steadiest numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

SLOW_BLAS_SETTINGS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per case")
    parser.add_argument("--threads", type=int, default=None, help="threads for both engines")
    return parser.parse_args()


def _blas_environment(threads: int | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SLOW_BLAS_SETTINGS}
    if threads is not None:
        env["OPENBLAS_NUM_THREADS"] = str(threads)
    return env


ARGS = _parse()
if _blas_environment(ARGS.threads) != dict(os.environ):  # before NumPy loads OpenBLAS
    os.execve(sys.executable, [sys.executable, *sys.argv], _blas_environment(ARGS.threads))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _cli import run_main  # noqa: E402  (benchmarks/_cli.py)

import dllab.scratch as scratch  # noqa: E402


def mlp(nn):
    return nn.Sequential(
        nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
    )


def conv(nn):
    return nn.Conv2d(16, 32, 3, padding=1)


CASES = {  # name: (builder, input shape, description)
    "MLP 784-256-256-10": (mlp, (128, 784), "batch 128, cross-entropy"),
    "Conv2d 16->32, 3x3": (conv, (32, 16, 28, 28), "batch 32, 28x28, padding 1"),
}


def _step(lib, model, x, labels) -> Callable[[], None]:
    def run() -> None:
        model.zero_grad()
        out = model(x)
        loss = lib.nn.functional.cross_entropy(out, labels) if out.ndim == 2 else out.sum()
        loss.backward()

    return run


def _median_ms(run: Callable[[], None], repeats: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main(args: argparse.Namespace) -> None:
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    numpy_threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"threads: torch {torch.get_num_threads()}, NumPy's OpenBLAS {numpy_threads}")
    print(f"{'case':<22} {'scratch ms':>11} {'torch ms':>9} {'ratio':>7}  setting")
    for name, (build, shape, setting) in CASES.items():
        torch.manual_seed(0)
        theirs = build(torch.nn)
        ours = build(scratch.nn).float()
        ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
        x = rng.standard_normal(shape).astype(np.float32)
        labels = rng.integers(0, 10, shape[0])
        t_x, s_x = torch.tensor(x, requires_grad=True), scratch.tensor(x, requires_grad=True)
        t_ms = _median_ms(_step(torch, theirs, t_x, torch.tensor(labels)), args.repeats)
        s_ms = _median_ms(_step(scratch, ours, s_x, scratch.tensor(labels)), args.repeats)
        print(f"{name:<22} {s_ms:>11.2f} {t_ms:>9.2f} {s_ms / t_ms:>6.1f}x  {setting}")


if __name__ == "__main__":
    run_main(main, ARGS)
