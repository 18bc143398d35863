"""What the model benchmarks measure the same way: FLOPs of one image and median latency."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

__all__ = ["gflops", "median_ms"]


def gflops(model: torch.nn.Module, size: tuple[int, int]) -> float:
    """FLOPs (2 x MACs) / 1e9 of one (1, 3, H, W) image, FlopCounterMode's count."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.rand(1, 3, *size))
    return counter.get_total_flops() / 1e9


def median_ms(step: Callable[[], object], repeats: int, warmup: int = 5) -> float:
    """Median wall time of `step()` in milliseconds, after `warmup` calls."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        step()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)
