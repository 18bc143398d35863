"""What computes a batch: the run's PyTorch model or its ONNX export in ONNX Runtime.

Both take the model's inputs as arrays (images `(B, C, H, W)` float32; texts token ids
`(B, T)` and lengths `(B,)`) and return logits `(B, classes)` as float32, so the batcher and
the app never know which one runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from dllab.errors import InputError

__all__ = ["Backend", "load_backend"]

BACKENDS = ("torch", "onnx")


class Backend(Protocol):
    name: str

    def __call__(self, *inputs: np.ndarray) -> np.ndarray: ...


class TorchBackend:
    name = "torch"

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model.eval()

    @torch.inference_mode()
    def __call__(self, *inputs: np.ndarray) -> np.ndarray:
        return self.model(*(torch.from_numpy(x) for x in inputs)).float().numpy()


class OrtBackend:
    name = "onnx"

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.names = [i.name for i in self.session.get_inputs()]

    def __call__(self, *inputs: np.ndarray) -> np.ndarray:
        feed = dict(zip(self.names, inputs, strict=True))
        return self.session.run(None, feed)[0].astype(np.float32)


def load_backend(run_dir: Path, kind: str) -> tuple[Backend, dict[str, Any]]:
    """The run's model as a backend, and its metadata. For "onnx" the run's
    `export/model.onnx` is used, exported (and checked against PyTorch) first if missing."""
    from dllab.experiment import load_trained

    if kind not in BACKENDS:
        raise InputError(f"unknown backend {kind!r}; choose one of {', '.join(BACKENDS)}")
    model, meta = load_trained(run_dir)
    if kind == "torch":
        return TorchBackend(model), meta
    if meta.get("task", "classification") != "classification":
        # a text model's export may fix its sequence axis at max_len (see deploy/export.py)
        raise InputError(f"{run_dir} is a text run: serve it with --backend torch")
    path = run_dir / "export" / "model.onnx"
    if not path.is_file():
        from dllab.deploy.export import export_onnx

        res = export_onnx(run_dir)
        if not res.ok:
            raise InputError(
                f"the ONNX export of {run_dir} differs from PyTorch by {res.max_abs_diff:.1e}; "
                "serve it with --backend torch"
            )
    return OrtBackend(path), meta
