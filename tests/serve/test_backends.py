"""The ONNX Runtime backend computes what the PyTorch backend computes, and the batcher
returns each request its own row."""

from __future__ import annotations

import asyncio
import shutil

import numpy as np
import pytest

from dllab.serve.backends import load_backend
from dllab.serve.batcher import MicroBatcher
from dllab.serve.inputs import pixel_array

from .conftest import digit

pytestmark = pytest.mark.xdist_group("serve")


def test_onnx_backend_matches_torch_backend(serve_runs, tmp_path):
    run = tmp_path / "a"
    shutil.copytree(serve_runs[0], run, ignore=shutil.ignore_patterns(".lock"))
    torch_backend, meta = load_backend(run, "torch")
    ort_backend, _ = load_backend(run, "onnx")  # exports run/export/model.onnx first
    assert (run / "export" / "model.onnx").is_file()
    batch = np.stack([pixel_array(digit(i).tolist(), meta) for i in range(5)])
    np.testing.assert_allclose(ort_backend(batch), torch_backend(batch), atol=1e-4)


def test_batcher_answers_each_input_with_its_own_row():
    calls: list[int] = []

    def model(batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        return batch.reshape(len(batch), -1)[:, :1] * 2  # (B, 1): row i is 2 * input i

    async def main() -> list[float]:
        batcher = MicroBatcher(model, max_batch_size=4, max_latency_ms=50)
        batcher.start()
        futures = [batcher.submit(np.full((1, 2, 2), float(i), np.float32)) for i in range(10)]
        out = [float((await f)[0]) for f in futures]
        await batcher.close()
        return out

    assert asyncio.run(main()) == [2.0 * i for i in range(10)]
    assert calls == [4, 4, 2]  # full batches flushed at once, the rest after the window
