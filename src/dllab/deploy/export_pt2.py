"""Export a run's model as `torch.export` programs (`.pt2`), the successor of TorchScript.

The graphs are the ones `dllab export --format onnx` writes: a task's one forward pass
(its `example_input`), or the pieces of its loop (`export_ner.py`, `export_lm.py`,
`export_translation.py`: emissions, prefill and decode, encoder and decoder). Each is
`torch.export.export`-ed with the same named dynamic axes (draft mode when a check on tensor
values stops the strict export), saved with `torch.export.save`, loaded back with
`torch.export.load`, and kept only if the loaded program matches the eager model on the
example and on a probe of other sizes within `TOLERANCE`. Files are written under temporary
names and renamed when every graph passed; `model.json` gains a `pt2` section.

Recurrent models (the NER BiLSTM, `gru-seq2seq`, RNN text classifiers) are refused:
`torch.export` unrolls `nn.LSTM`/`nn.GRU` over time and specialises the sequence axis to the
example's length (checked with torch 2.14: "your code specialized it to be a constant"), and
packed sequences leave unbacked sizes it cannot return. ONNX exports them.

Safety: `torch.export.load` is not safe for untrusted files. Its own docstring warns
"uses pickle under the hood … Never load data from an untrusted source", and in torch 2.14
`torch/export/pt2_archive/_package.py` reads weights and constants with
`torch.load(..., weights_only=False)` and `pickle.loads`: opening a `.pt2` can run code. Load
only `.pt2` files you made (dllab loads only the file it has just written); ship the
safetensors checkpoint or ONNX to anyone who should not trust you.
"""

from __future__ import annotations

import importlib
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dllab.deploy.export import (
    GRAPH_PLANS,
    ExportResult,
    _first_line,
    _quiet,
    _refuse_to_overwrite,
    export_spec,
    frozen_sequence,
)
from dllab.deploy.export_graphs import Graph, exported_program, write_model_json
from dllab.errors import InputError
from dllab.experiment import load_trained, trained_precision
from dllab.train.checkpoint import usual_permissions

__all__ = ["TOLERANCE", "export_pt2", "load_pt2"]

TOLERANCE = 1e-4  # max abs difference, the loaded program vs eager PyTorch


def load_pt2(path: Path) -> nn.Module:
    """The module of a `.pt2` file. Unpickles (see the module docstring): trusted files only."""
    return torch.export.load(str(path)).module()


def _outputs(out: Any) -> tuple[torch.Tensor, ...]:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _parity(graph: Graph, loaded: nn.Module) -> float:
    worst = 0.0
    for inputs in (graph.spec.inputs, graph.spec.probe):
        with torch.no_grad():
            want, got = _outputs(graph.module(*inputs)), _outputs(loaded(*inputs))
        for w, g in zip(want, got, strict=True):
            if w.shape != g.shape:
                return float("inf")
            if w.numel():
                worst = max(worst, float((w.float() - g.float()).abs().max()))
    return worst


def _graphs(model: nn.Module, meta: dict[str, Any]) -> list[list[Graph]]:
    """The graphs to export, as alternatives tried in turn (a text model's frozen axis)."""
    if meta.get("task") in GRAPH_PLANS:
        return [importlib.import_module(GRAPH_PLANS[meta["task"]]).plan(model, meta).graphs]
    spec = export_spec(meta, model)
    specs = [spec]
    if "sequence" in spec.axes[0].values():
        specs.append(frozen_sequence(spec, meta))
    return [[Graph("", model, s, [s.output], TOLERANCE)] for s in specs]


def _save_one(graph: Graph, folder: Path) -> tuple[str, float]:
    """Export, save, load back and compare one graph: (temporary file, parity)."""
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".pt2.tmp")
    os.close(fd)
    try:
        with _quiet(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = exported_program(graph.module.eval(), graph.spec)
            torch.export.save(program, tmp)
            diff = _parity(graph, load_pt2(Path(tmp)))  # the file we just wrote: trusted
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp, diff


def export_pt2(run_dir: Path, out: Path | None = None, *, force: bool = False) -> ExportResult:
    """Write `run_dir/export/model.pt2` (or `model.<graph>.pt2` for each piece of a task's
    loop) with dynamic axes, checked after `torch.export.load` against eager PyTorch.

    A file named by `out` (or a graph or `model.json` beside it) that already exists is
    replaced only with `force`; the run folder's own files are refreshed.
    """
    model, meta = load_trained(run_dir)
    if any(isinstance(m, nn.RNNBase) for m in model.modules()):
        raise InputError(
            f"cannot export model {meta['model']!r} with torch.export: it unrolls recurrent "
            "layers over time, so their sequence axis cannot stay dynamic; use --format onnx"
        )
    alternatives = _graphs(model, meta)
    target = out or run_dir / "export" / "model.pt2"

    def path_of(g: Graph) -> Path:
        return target if not g.name else target.with_name(f"{target.stem}.{g.name}.pt2")

    if out is not None and not force:
        _refuse_to_overwrite(*(path_of(g) for g in alternatives[0]), target.with_name("model.json"))
    target.parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    for graphs in alternatives:
        temps: dict[str, str] = {}
        try:
            described = []
            for g in graphs:
                tmp, diff = _save_one(g, target.parent)
                temps[g.name] = tmp
                if diff > g.tolerance:
                    raise ValueError(f"the loaded program differs by {diff:.2e}")
                described.append(
                    {
                        "file": path_of(g).name,
                        "inputs": g.spec.describe(),
                        "outputs": g.outputs,
                        "max_abs_diff": diff,
                        "tolerance": g.tolerance,
                    }
                )
            for name, tmp in temps.items():
                usual_permissions(tmp)
                os.replace(tmp, path_of(next(g for g in graphs if g.name == name)))
        except Exception as exc:  # noqa: BLE001  torch.export fails in many ways
            failures.append(f"{type(exc).__name__}: {_first_line(exc)}")
            continue
        finally:
            for tmp in temps.values():
                Path(tmp).unlink(missing_ok=True)
        section = {
            "graphs": described,
            "trained_precision": trained_precision(run_dir),
            "load": "torch.export.load(path).module(); it unpickles: trusted files only",
        }
        write_model_json(target.with_name("model.json"), meta, "pt2", section)
        return ExportResult(
            path_of(graphs[0]),
            max(d["max_abs_diff"] for d in described),
            TOLERANCE,
            exporter="torch.export",
            inputs=described[0]["inputs"],
            checked_with="torch.export.load",
            graphs={g.name: path_of(g) for g in graphs},
        )
    raise InputError(
        f"cannot export model {meta['model']!r} with torch.export: " + "; ".join(failures)[:400]
    )
