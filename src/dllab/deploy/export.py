"""Export a run's model to ONNX and prove it computes what PyTorch computes.

The exported file carries its metadata (model name, classes, preprocessing, recipe) as ONNX
metadata properties, and a `model.json` beside it says the same for humans, so `predict` and
`serve` never need hand-copied preprocessing.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dllab.errors import InputError
from dllab.experiment import load_trained
from dllab.train.checkpoint import atomic_write_text

TOLERANCE = 1e-4  # max abs difference between onnxruntime and PyTorch on the example input


@dataclass
class ExportResult:
    path: Path
    max_abs_diff: float
    tolerance: float = TOLERANCE

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance


def example_batch(meta: dict, batch: int = 4, seed: int = 0) -> torch.Tensor:
    """A seeded, already-normalised input of the model's shape (B, C, H, W)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(
        batch, meta["in_channels"], meta["image_size"], meta["image_size"], generator=g
    )


def export_onnx(run_dir: Path, out: Path | None = None) -> ExportResult:
    """Write `run_dir/export/model.onnx` (dynamic batch) and check it with onnxruntime."""
    try:
        import onnx
        import onnxruntime as ort
    except ImportError as exc:
        raise InputError("ONNX export needs the deploy extra: pip install 'dllab[deploy]'") from exc
    model, meta = load_trained(run_dir)
    out = out or run_dir / "export" / "model.onnx"
    out.parent.mkdir(parents=True, exist_ok=True)
    x = example_batch(meta)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the exporter narrates its passes
            program = torch.onnx.export(
                model,
                (x,),
                dynamo=True,
                input_names=["input"],
                output_names=["logits"],
                dynamic_shapes=({0: torch.export.Dim("batch", min=1)},),
                verbose=False,
            )
        proto = program.model_proto
        for key, value in {"dllab": json.dumps(meta)}.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, tmp)
        onnx.checker.check_model(tmp)
        session = ort.InferenceSession(tmp, providers=["CPUExecutionProvider"])
        with torch.no_grad():
            expected = model(x).numpy()
        got = session.run(None, {"input": x.numpy()})[0]
        diff = float(np.abs(got - expected).max())
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    atomic_write_text(out.with_name("model.json"), json.dumps(meta, indent=2))
    return ExportResult(out, diff)
