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

litert-torch cannot share `.venv` with the serving stack: litert-converter 0.5 pins xdsl 0.28,
which needs typing-extensions < 4.13, and pydantic 2.14 (FastAPI) needs 4.16 or later. So it is
the `tflite` extra, installed by `make install-tflite` into `.venv-tflite`, an environment
layered over `.venv` (its own pydantic 2.11 and litert-torch first, torch and the rest from
`.venv`; scripts/layer_venv.py). `.venv-tflite/bin/dllab export RUN --format tflite` converts;
elsewhere the format is refused in one line (exit 2) that says so.
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
from dllab.deploy.export_defects import verdict_report
from dllab.deploy.export_graphs import write_model_json
from dllab.deploy.export_images import CLASSIFIERS, classification_report
from dllab.errors import InputError
from dllab.experiment import load_trained, trained_precision
from dllab.train.checkpoint import usual_permissions
from dllab.train.protocol import ExampleInput

__all__ = ["BLOCKED", "TOLERANCE", "LiteRT", "end_to_end", "export_tflite", "tflite_run"]

TOLERANCE = 1e-4  # max abs difference, the LiteRT interpreter vs PyTorch
ENGINE = "the LiteRT interpreter"
BLOCKED = (
    "--format tflite needs litert-torch, which is not in this environment (its pins clash with "
    "the serving stack's): run `make install-tflite`, then `.venv-tflite/bin/dllab export RUN "
    "--format tflite`; or use --format onnx or pt2"
)


class LiteRT:
    """A one-input `.tflite` file under the LiteRT interpreter. A file with a dynamic batch is
    resized as batches change; a file of batch 1 is fed row by row."""

    def __init__(self, path: Path | str) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(path))
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]["index"]
        self.dynamic = int(self.input["shape_signature"][0]) == -1
        self.shape: tuple[int, ...] | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if not self.dynamic and x.shape[0] != 1:
            return np.concatenate([self(row[None]) for row in x])
        if self.shape != x.shape:  # the tensor's shape now, not the file's: it may be resized
            if tuple(self.interpreter.get_input_details()[0]["shape"]) != x.shape:
                self.interpreter.resize_tensor_input(self.input["index"], list(x.shape))
            self.interpreter.allocate_tensors()
            self.shape = x.shape
        self.interpreter.set_tensor(self.input["index"], x.astype(np.float32))
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output).copy()


def tflite_run(path: Path | str, x: np.ndarray) -> np.ndarray:
    """Run a one-input `.tflite` model on `x` with the LiteRT interpreter (any batch size)."""
    return LiteRT(path)(x)


def end_to_end(path: Path, model: nn.Module, meta: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """The file at `path` against `model` on the run's own test items, by the checks of the
    ONNX export: the same labels of 100 images, or the same P(defective) and verdicts of up to
    100 parts; InputError when they differ; {} for other CNN tasks."""
    engine = LiteRT(path)
    task = meta.get("task")
    if task == "defect-classifier":

        def p_defective(x: np.ndarray) -> np.ndarray:
            return torch.from_numpy(engine(x)).softmax(1)[:, 1].numpy()

        return verdict_report(model, run_dir, int(meta["image_size"]), p_defective, ENGINE)
    if task in CLASSIFIERS:
        return classification_report(model, meta, run_dir, engine, ENGINE)
    return {}


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
    engine, worst = LiteRT(path), 0.0
    for x in inputs:
        with torch.no_grad():
            want = model(x).float().numpy()
        got = engine(x.numpy())
        if got.shape != want.shape:
            return float("inf")
        worst = max(worst, float(np.abs(got - want).max()))
    return worst


def export_tflite(run_dir: Path, out: Path | None = None, *, force: bool = False) -> ExportResult:
    """Write `run_dir/export/model.tflite` for an image CNN and check it with the LiteRT
    interpreter against PyTorch; InputError (blocked) when litert-torch is missing."""
    try:
        with _quiet(), warnings.catch_warnings():  # TensorFlow's and absl's start-up lines
            warnings.simplefilter("ignore")
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
            try:
                with _quiet(), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    _convert(model, x if dynamic else x[:1], tmp, dynamic)
                    checks = [x, probe] if dynamic else [x[:1], probe[:1]]
                    diff = _parity(model, tmp, checks)
            except Exception as exc:  # noqa: BLE001  the converter fails in its own ways
                failures.append(f"{'dynamic' if dynamic else 'batch 1'}: {_first_line(exc)}")
                continue
            if diff > TOLERANCE:
                failures.append(f"LiteRT differs from PyTorch by {diff:.2e}")
                continue
            with _quiet():  # the interpreter's delegate announces itself on stderr
                report = end_to_end(Path(tmp), model, meta, run_dir)
            usual_permissions(tmp)
            os.replace(tmp, out)
        finally:  # a failed attempt, a mismatch, or Ctrl-C mid-conversion: no stray file
            Path(tmp).unlink(missing_ok=True)
        shape = [("batch" if dynamic else 1), *x.shape[1:]]
        section: dict[str, Any] = {
            "inputs": [{"name": spec.names[0], "dtype": "float32", "shape": shape}],
            "output": spec.output,
            "max_abs_diff": diff,
            "tolerance": TOLERANCE,
            "trained_precision": trained_precision(run_dir),
            **extra,
        }
        if report:
            section["end_to_end"] = report
        write_model_json(out.with_name("model.json"), meta, "tflite", section)
        return ExportResult(
            out,
            diff,
            exporter="litert-torch",
            inputs=section["inputs"],
            end_to_end=report,
            checked_with=ENGINE,
        )
    raise InputError(
        f"cannot convert model {meta['model']!r} to tflite: " + "; ".join(failures)[:400]
    )
