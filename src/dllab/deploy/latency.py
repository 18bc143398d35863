"""CPU latency the way a deployment sees it: a fixed thread count, warm-up, then percentiles.

One call is timed at a time (no overlap), after `warmup` untimed calls that let the runtime
allocate its buffers and pick its kernels. p50 is what a typical request waits; p95 shows
the tail that a loaded machine adds. Both runtimes are pinned to the same number of
intra-op threads so that the comparison is of kernels, not of how many cores each grabbed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class Timing:
    """Latency of one call at one batch size, in milliseconds."""

    batch: int
    p50_ms: float
    p95_ms: float
    iterations: int

    @property
    def throughput(self) -> float:
        """Items per second at the median latency."""
        return self.batch / (self.p50_ms / 1000.0)


def time_calls(fn: Callable[[], object], batch: int, *, warmup: int, iterations: int) -> Timing:
    """p50 and p95 of `iterations` timed calls of `fn` after `warmup` untimed ones.

    >>> t = time_calls(lambda: None, 1, warmup=1, iterations=5)
    >>> t.p50_ms <= t.p95_ms
    True
    """
    for _ in range(warmup):
        fn()
    times = np.empty(iterations)
    for i in range(iterations):
        start = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - start
    p50, p95 = np.percentile(times * 1000.0, [50, 95])
    return Timing(batch, float(p50), float(p95), iterations)


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """PyTorch's intra-op thread count set to `threads` for the block, then restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def eager_runner(model: nn.Module, x: torch.Tensor) -> Callable[[], object]:
    """One PyTorch eager forward of `x` (inference mode, no autograd bookkeeping)."""

    def run() -> object:
        with torch.inference_mode():
            return model(x)

    return run


def ort_session(path: Path, threads: int):  # -> onnxruntime.InferenceSession
    """A CPU onnxruntime session with `threads` intra-op threads and one inter-op thread."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only; quantised graphs warn about unused inits
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def ort_runner(session, x: np.ndarray) -> Callable[[], object]:
    """One onnxruntime run of `x` on the session's single input."""
    feed = {session.get_inputs()[0].name: x}
    return lambda: session.run(None, feed)
