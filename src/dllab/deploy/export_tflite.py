"""Export an image CNN to TensorFlow Lite (LiteRT) through litert-torch, for phones.

litert-torch (formerly ai-edge-torch) lowers a `torch.export` program to a `.tflite`
flatbuffer. Only the CNN tasks go this way (`(B, C, H, W)` images in, logits out): image
classification and P01's defect classifier (its network; the threshold of its verdict goes
into model.json, its Grad-CAM map needs gradients and stays in PyTorch). The text and
sequence models have ONNX and `.pt2`. The batch axis is kept dynamic when the converter
accepts it, else fixed at 1 (model.json says which): litert-torch 0.10.0 with torch 2.14.1
fails on a dynamic batch at `Flatten` ("Shapes must be 1D sequences of concrete values"), so
today's files take one image. The file is kept only if the LiteRT interpreter matches
PyTorch within `TOLERANCE` on the example and the probe.

litert-torch is optional and not a dllab dependency: it is not on this machine's offline
package index, and from PyPI (litert-torch 0.10.0) it resolves only by downgrading pydantic
(2.14 to 2.11), typing-extensions and anyio and by pulling in transformers, jax and
kagglehub. Without it, `--format tflite` is blocked in one line (exit 2) naming the problem.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dllab.deploy.export import (
    ExportResult,
    _first_line,
    _quiet,
    _refuse_to_overwrite,
    export_spec,
)
from dllab.deploy.export_graphs import write_model_json
from dllab.errors import InputError
from dllab.experiment import load_trained, trained_precision
from dllab.train.checkpoint import usual_permissions
from dllab.train.protocol import ExampleInput

__all__ = ["BLOCKED", "TOLERANCE", "export_tflite", "tflite_run"]

TOLERANCE = 1e-4  # max abs difference, the LiteRT interpreter vs PyTorch
BLOCKED = (
    "--format tflite is blocked: it needs litert-torch, which is not installed (not on the "
    "offline package index; from PyPI it downgrades pydantic); use --format onnx or pt2"
)


def tflite_run(path: Path | str, x: np.ndarray) -> np.ndarray:
    """Run a one-input `.tflite` model on `x` with the LiteRT interpreter (resized to x)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    index = interpreter.get_input_details()[0]["index"]
    if tuple(interpreter.get_input_details()[0]["shape"]) != x.shape:
        interpreter.resize_tensor_input(index, list(x.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, x.astype(np.float32))
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def _defect_input(model: nn.Module, meta: dict[str, Any]) -> tuple[ExampleInput, dict[str, Any]]:
    """P01's defect classifier: its network on normalised `(B, 3, S, S)` images; the verdict's
    threshold and the normalisation go into model.json (Grad-CAM needs gradients: not here)."""
    s = int(meta["image_size"])
    g = torch.Generator().manual_seed(0)
    spec = ExampleInput(
        inputs=(torch.randn(2, 3, s, s, generator=g),),
        probe=(torch.randn(3, 3, s, s, generator=g),),
        names=["input"],
        axes=[{0: "batch"}],
    )
    extra = {
        "preprocessing": {
            "mean": model.mean.flatten().tolist(),
            "std": model.std.flatten().tolist(),
            "input": "(uint8 RGB / 255 - mean) / std, (B, 3, S, S)",
        },
        "threshold": float(model.threshold),
        "verdict": "defective when softmax(logits)[:, 1] >= threshold (logits: good, defective)",
        "not_included": "the Grad-CAM map, which needs gradients",
    }
    return spec, extra


def _convert(model: nn.Module, x: torch.Tensor, path: str, dynamic: bool) -> None:
    import litert_torch

    shapes = ({0: torch.export.Dim("batch", min=1, max=1024)},) if dynamic else None
    litert_torch.convert(model, (x,), dynamic_shapes=shapes).export(path)


def _parity(model: nn.Module, path: str, inputs: list[torch.Tensor]) -> float:
    worst = 0.0
    for x in inputs:
        with torch.no_grad():
            want = model(x).float().numpy()
        got = tflite_run(path, x.numpy())
        if got.shape != want.shape:
            return float("inf")
        worst = max(worst, float(np.abs(got - want).max()))
    return worst


def export_tflite(run_dir: Path, out: Path | None = None, *, force: bool = False) -> ExportResult:
    """Write `run_dir/export/model.tflite` for an image CNN and check it with the LiteRT
    interpreter against PyTorch; InputError (blocked) when litert-torch is missing."""
    try:
        import ai_edge_litert  # noqa: F401
        import litert_torch  # noqa: F401
    except ImportError as exc:
        raise InputError(BLOCKED) from exc
    if out is not None and not force:
        _refuse_to_overwrite(out, out.with_name("model.json"))
    model, meta = load_trained(run_dir)
    extra: dict[str, Any] = {}
    if meta.get("task") == "defect-classifier":
        spec, extra = _defect_input(model, meta)
    else:
        try:
            spec = export_spec(meta, model)
        except InputError:
            spec = None  # a task of several graphs or none: not a CNN either way
    if spec is None or len(spec.inputs) != 1 or spec.inputs[0].dim() != 4:
        raise InputError(
            f"cannot export a {meta.get('task')} run to tflite: only image CNNs ((B, C, H, W) "
            "in) go through litert-torch; use --format onnx or pt2"
        )
    x, probe = spec.inputs[0], spec.probe[0]
    out = out or run_dir / "export" / "model.tflite"
    out.parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    for dynamic in (True, False):
        fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tflite.tmp")
        os.close(fd)
        try:
            with _quiet(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _convert(model, x if dynamic else x[:1], tmp, dynamic)
                checks = [x, probe] if dynamic else [x[:1], probe[:1]]
                diff = _parity(model, tmp, checks)
        except Exception as exc:  # noqa: BLE001  the converter fails in its own ways
            Path(tmp).unlink(missing_ok=True)
            failures.append(f"{'dynamic' if dynamic else 'batch 1'}: {_first_line(exc)}")
            continue
        if diff > TOLERANCE:
            Path(tmp).unlink(missing_ok=True)
            failures.append(f"LiteRT differs from PyTorch by {diff:.2e}")
            continue
        usual_permissions(tmp)
        os.replace(tmp, out)
        shape = [("batch" if dynamic else 1), *x.shape[1:]]
        section: dict[str, Any] = {
            "inputs": [{"name": spec.names[0], "dtype": "float32", "shape": shape}],
            "output": spec.output,
            "max_abs_diff": diff,
            "tolerance": TOLERANCE,
            "trained_precision": trained_precision(run_dir),
            **extra,
        }
        write_model_json(out.with_name("model.json"), meta, "tflite", section)
        return ExportResult(
            out,
            diff,
            exporter="litert-torch",
            inputs=section["inputs"],
            checked_with="the LiteRT interpreter",
        )
    raise InputError(
        f"cannot convert model {meta['model']!r} to tflite: " + "; ".join(failures)[:400]
    )
