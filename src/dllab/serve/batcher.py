"""Dynamic micro-batching: requests that arrive close together share one forward pass.

As Triton's dynamic batcher and BentoML's adaptive batching do, a batch is flushed when it
holds `max_batch_size` inputs or when its oldest input has waited `max_latency_ms`,
whichever comes first. So a lone request waits at most `max_latency_ms` before the model
runs, and under load the model sees full batches. The model runs in one worker thread, off
the event loop, so requests keep arriving (and queueing) while a batch computes.

Requests also queue while a batch computes, so under load batches form even with a short
wait: the wait only matters at low rates, where every lone request pays it. The default of
2 ms was chosen after `benchmarks/serve_load.py` measured 10 ms (the first default) adding
about 10 ms to every request at 100 req/s (p99 24.7 ms, against 11.7 ms at 2 ms, on a loaded
2-core CPU) while buying no throughput for the small CNNs served here.

`close()` lets everything already queued finish, then stops: shutdown and model reload drain
in-flight requests instead of dropping them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

__all__ = ["MicroBatcher"]

_STOP = object()  # queued by close(): everything before it is still answered


def stack(items: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    """Same-shape inputs `(C, H, W)` as one batch `(B, C, H, W)`."""
    return (np.stack(items),)


class MicroBatcher:
    """Collects inputs into batches (`collate`) for `fn`, which returns one row per input."""

    def __init__(
        self,
        fn: Callable[..., np.ndarray],
        max_batch_size: int = 32,
        max_latency_ms: float = 2.0,
        on_batch: Callable[[int, float], None] | None = None,
        collate: Callable[[list[Any]], tuple[np.ndarray, ...]] = stack,
    ) -> None:
        self.fn = fn
        self.collate = collate
        self.max_batch_size = max_batch_size
        self.max_latency = max_latency_ms / 1000.0
        self.on_batch = on_batch  # (batch size, seconds in the model), for metrics
        self.queue: asyncio.Queue = asyncio.Queue()
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="dllab-model")
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._loop())

    def submit(self, x: Any) -> asyncio.Future:
        """Queue one input now (no await: a caller can pick a batcher and enqueue atomically);
        await the returned future for its output row."""
        fut = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((x, fut, time.perf_counter()))
        return fut

    async def close(self) -> None:
        """Answer everything already queued, then stop the worker."""
        if self.task is not None:
            self.queue.put_nowait(_STOP)
            await self.task
        self.pool.shutdown(wait=True)

    async def _loop(self) -> None:
        stopping = False
        while not stopping:
            first = await self.queue.get()
            if first is _STOP:
                return
            items = [first]
            deadline = first[2] + self.max_latency
            while len(items) < self.max_batch_size:
                timeout = deadline - time.perf_counter()
                try:
                    item = (
                        self.queue.get_nowait()
                        if timeout <= 0
                        else await asyncio.wait_for(self.queue.get(), timeout)
                    )
                except (asyncio.TimeoutError, asyncio.QueueEmpty):
                    break
                if item is _STOP:
                    stopping = True
                    break
                items.append(item)
            await self._run([x for x, _, _ in items], [f for _, f, _ in items])

    async def _run(self, inputs: list[Any], futures: list[asyncio.Future]) -> None:
        start = time.perf_counter()
        try:
            batch = self.collate(inputs)  # e.g. (B, C, H, W), or token ids and lengths
            out = await asyncio.get_running_loop().run_in_executor(self.pool, self.fn, *batch)
        except Exception as exc:  # noqa: BLE001  every waiting request hears of it
            for f in futures:
                if not f.done():
                    f.set_exception(exc)
            return
        if self.on_batch is not None:
            self.on_batch(len(inputs), time.perf_counter() - start)
        for f, row in zip(futures, out, strict=True):
            if not f.done():  # a client that went away cancelled its future
                f.set_result(row)
