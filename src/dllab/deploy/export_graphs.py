"""Export a task whose answer is a loop around its network as several ONNX graphs.

A tagger, a language model and a translator do not answer in one forward pass: a CRF's
Viterbi search, a token-by-token generation, an encoder then a decoder run many times. What
exports is the network's part of that loop, as one graph or a few (`Graph`); the loop itself
(Viterbi in NumPy, greedy decoding) runs beside the graphs in plain Python, so the same loop
can drive PyTorch or onnxruntime. A task's plan (`GraphPlan`, built in `export_ner.py`,
`export_lm.py`, `export_translation.py`) names its graphs, what `model.json` must carry for
the loop (a CRF's transitions, the special token ids), and an end-to-end check: the loop run
on onnxruntime's graphs must give the same entities, tokens or translations as on PyTorch.

Each graph is exported with the TorchScript tracer (named dynamic axes), falling back to
`torch.export` (the axes as `torch.export.Dim`s), and kept only if onnxruntime matches PyTorch on its example
and its probe (other sizes along every dynamic axis) within the graph's tolerance. Files are
written to temporary names and renamed into place only when every graph and the end-to-end
check passed, so a failed export leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dllab.errors import InputError
from dllab.train.checkpoint import atomic_write_text, usual_permissions
from dllab.train.protocol import ExampleInput

__all__ = [
    "Graph",
    "GraphPlan",
    "export_plan",
    "exported_program",
    "graph_paths",
    "ort_session",
    "write_model_json",
]

DEFAULT_TOLERANCE = 1e-4  # max abs difference onnxruntime vs PyTorch on a graph's outputs


@dataclass
class Graph:
    """One network piece to export: a module in eval mode and the inputs it takes.

    `spec.inputs`/`spec.probe` are two input tuples of different sizes along every dynamic
    axis named in `spec.axes`; `outputs` names the module's outputs (a tensor or a tuple).
    """

    name: str  # file suffix: model.<name>.onnx ("" for the one graph of a task: model.onnx)
    module: nn.Module
    spec: ExampleInput
    outputs: list[str]
    tolerance: float = DEFAULT_TOLERANCE
    output_axes: dict[str, dict[int, str]] = field(default_factory=dict)  # for model.json

    def describe(self, path: Path, diff: float, exporter: str) -> dict[str, Any]:
        """This graph for model.json: file, inputs and outputs with dynamic axes, parity."""
        return {
            "file": path.name,
            "inputs": self.spec.describe(),
            "outputs": [{"name": n, "axes": self.output_axes.get(n, {})} for n in self.outputs],
            "exporter": exporter,
            "max_abs_diff": diff,
            "tolerance": self.tolerance,
        }


@dataclass
class GraphPlan:
    """What a task exports: its graphs, what model.json adds for the loop around them, and
    the loop run end to end on both engines (`check(paths) -> report`, InputError on a
    difference)."""

    graphs: list[Graph]
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the CRF's transitions
    check: Callable[[dict[str, Path]], dict[str, Any]] | None = None


def graph_paths(out: Path, plan: GraphPlan) -> dict[str, Path]:
    """Where each graph of `plan` goes for the main file `out` (`export/model.onnx`):
    `model.onnx` for a lone unnamed graph, else `model.<name>.onnx` beside it."""
    return {
        g.name: out if not g.name else out.with_name(f"{out.stem}.{g.name}{out.suffix}")
        for g in plan.graphs
    }


def ort_session(path: Path | str, threads: int = 1) -> Any:
    """An onnxruntime CPU session for `path`, quiet unless it fails; one thread by default
    (parity checks are small, and idle worker threads spin on a busy machine)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = threads
    options.log_severity_level = 4  # a failing run raises; its C++ log line would be noise
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


FORMATS = ("onnx", "pt2", "tflite")  # model.json's sections, one per exported format


def write_model_json(path: Path, meta: dict[str, Any], section: str, value: Any) -> dict[str, Any]:
    """Write `model.json`: the run's metadata and this format's section, keeping the other
    formats' sections of a model.json already there (exports of one run share the folder)."""
    kept: dict[str, Any] = {}
    try:
        old = json.loads(path.read_text())
        kept = {k: old[k] for k in FORMATS if k != section and k in old}
    except (OSError, ValueError, TypeError):
        pass  # none yet, or not ours: nothing to keep
    full = {**meta, **kept, section: value}
    atomic_write_text(path, json.dumps(full, indent=2))
    return full


# ---------------------------------------------------------------- one graph
def _as_tuple(out: Any) -> tuple[torch.Tensor, ...]:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def exported_program(module: nn.Module, spec: ExampleInput) -> Any:
    """`torch.export.export` of `module` on `spec.inputs` with every named axis dynamic
    (`Dim.DYNAMIC`: torch.export infers which axes are equal and their ranges, such as a
    sequence no longer than `max_len`); its draft mode, which turns checks on tensor values
    into runtime asserts, when the strict export refuses."""
    shapes = torch.export.ShapesCollection()  # by tensor: a forward(*state) needs no nesting
    for x, axes in zip(spec.inputs, spec.axes, strict=True):
        if axes:
            shapes[x] = {i: torch.export.Dim.DYNAMIC for i in axes}
    try:
        return torch.export.export(module, spec.inputs, dynamic_shapes=shapes)
    except Exception:  # noqa: BLE001  a check on tensor values; draft mode asserts it instead
        return torch.export.draft_export(module, spec.inputs, dynamic_shapes=shapes)


def _dynamo(graph: Graph, path: str) -> None:
    """torch.export with the graph's dynamic axes, then the ONNX translation of that program."""
    spec = graph.spec
    onnx_program = torch.onnx.export(
        exported_program(graph.module, spec),
        spec.inputs,
        dynamo=True,
        input_names=spec.names,
        output_names=graph.outputs,
    )
    assert onnx_program is not None
    onnx_program.save(path)


def _torchscript(graph: Graph, path: str) -> None:
    """The TorchScript tracer (dynamo=False), with the same named dynamic axes."""
    spec = graph.spec
    axes = {n: dict(a) for n, a in zip(spec.names, spec.axes, strict=True) if a}
    axes.update({n: dict(a) for n, a in graph.output_axes.items() if a})
    torch.onnx.export(
        graph.module,
        spec.inputs,
        path,
        dynamo=False,
        input_names=spec.names,
        output_names=graph.outputs,
        dynamic_axes=axes,
    )


# The tracer first: on these small graphs it took 0.3 s where torch.export took 13 s (GPT
# prefill, 2 blocks, load 8 on 2 cores), and the probe's parity proves the axes it kept
# dynamic. It is deprecated; torch.export is the fallback that will outlive it.
EXPORTERS: dict[str, Callable[[Graph, str], None]] = {
    "torchscript": _torchscript,
    "torch.export": _dynamo,
}


def graph_parity(graph: Graph, path: Path | str) -> float:
    """Max abs difference onnxruntime vs PyTorch over every output, on the example and the
    probe (inf if a shape differs)."""
    session = ort_session(path)
    worst = 0.0
    for inputs in (graph.spec.inputs, graph.spec.probe):
        with torch.no_grad():
            expected = [t.float().numpy() for t in _as_tuple(graph.module(*inputs))]
        feed = {n: x.numpy() for n, x in zip(graph.spec.names, inputs, strict=True)}
        got = session.run(graph.outputs, feed)
        for g, e in zip(got, expected, strict=True):
            if g.shape != e.shape:
                return float("inf")
            if e.size:
                worst = max(worst, float(np.abs(g.astype(np.float64) - e).max()))
    return worst


def export_graph(graph: Graph, folder: Path, failures: list[str]) -> tuple[str, float, str] | None:
    """Export `graph` into a temporary file in `folder`: (path, parity, exporter) of the first
    exporter within tolerance, else None with each failure appended to `failures`."""
    import onnx

    from dllab.deploy.export import _first_line, _quiet

    # A new wrapper module is in training mode, and the tracer restores that mode after
    # tracing, recursively: the model inside would then run its dropout in the checks.
    graph.module.eval()
    for name in EXPORTERS:
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".onnx.tmp")
        os.close(fd)
        try:
            with _quiet(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                EXPORTERS[name](graph, tmp)
            onnx.checker.check_model(tmp)
            diff = graph_parity(graph, tmp)
        except Exception as exc:  # noqa: BLE001  each exporter fails in its own way
            Path(tmp).unlink(missing_ok=True)
            failures.append(f"{graph.name or 'model'} via {name}: {_first_line(exc)}")
            continue
        if diff <= graph.tolerance:
            return tmp, diff, name
        Path(tmp).unlink(missing_ok=True)
        failures.append(f"{graph.name or 'model'} via {name}: onnxruntime differs by {diff:.2e}")
    return None


# ---------------------------------------------------------------- a plan
@dataclass
class PlanResult:
    paths: dict[str, Path]  # graph name -> file written
    graphs: list[dict[str, Any]]  # as model.json describes them
    end_to_end: dict[str, Any]  # the check's report

    @property
    def max_abs_diff(self) -> float:
        return max(g["max_abs_diff"] for g in self.graphs)

    @property
    def tolerance(self) -> float:
        return min(g["tolerance"] for g in self.graphs)


def export_plan(
    plan: GraphPlan, meta: dict[str, Any], out: Path, trained_precision: str
) -> PlanResult:
    """Write every graph of `plan` beside `out` with the metadata, after each passed its
    parity and the loop passed end to end; InputError naming what failed otherwise."""
    import onnx

    out.parent.mkdir(parents=True, exist_ok=True)
    paths = graph_paths(out, plan)
    temps: dict[str, str] = {}
    described: list[dict[str, Any]] = []
    failures: list[str] = []
    try:
        for graph in plan.graphs:
            done = export_graph(graph, out.parent, failures)
            if done is None:
                raise InputError(
                    f"cannot export model {meta['model']!r} to ONNX: " + "; ".join(failures)[:400]
                )
            tmp, diff, exporter = done
            temps[graph.name] = tmp
            described.append(graph.describe(paths[graph.name], diff, exporter))
        report = plan.check({k: Path(v) for k, v in temps.items()}) if plan.check else {}
        onnx_meta = {
            "graphs": described,
            **plan.extra,
            "end_to_end": report,
            # The graphs compute in fp32 whatever the run trained in.
            "trained_precision": trained_precision,
        }
        full = {**meta, "onnx": onnx_meta}
        for tmp in temps.values():
            proto = onnx.load(tmp)
            entry = proto.metadata_props.add()
            entry.key, entry.value = "dllab", json.dumps(full)
            onnx.save(proto, tmp)
            usual_permissions(tmp)  # mkstemp made it private (0600)
        for name, tmp in temps.items():
            os.replace(tmp, paths[name])
    finally:
        for tmp in temps.values():
            Path(tmp).unlink(missing_ok=True)
    write_model_json(out.with_name("model.json"), meta, "onnx", onnx_meta)
    return PlanResult(paths, described, report)
