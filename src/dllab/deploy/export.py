"""Export a run's model to ONNX and prove it computes what PyTorch computes.

Every task whose model maps tensors to tensors exports as one graph: image classifiers
(`(B, C, H, W)` floats), forecasters (`(B, context)` windows of floats) and text classifiers
(token ids `(B, T)` and `lengths (B,)`). The example inputs are built from the checkpoint's
metadata alone (no dataset), with a dynamic batch axis and, for text, a dynamic sequence axis.
Tasks whose answer is a loop around the network export that network as the graphs the loop
calls (`GRAPH_PLANS`, `export_graphs.py`): NER its emissions with the CRF's Viterbi beside them
in NumPy (`export_ner.py`), the language model a prefill and a decode step with a KV cache
(`export_lm.py`), translation an encoder and a decoder step (`export_translation.py`); each is
checked end to end (the same entities, tokens or translations as PyTorch). P01's inspectors
go the same way, their verdict a threshold beside the graph, checked on the run's own parts:
the defect classifier's P(defective) (`export_defects.py`) and PatchCore whole, memory bank
included (`export_anomaly.py`). The one-graph tasks are checked end to end too, on the run's
test items (`END_TO_END`): labels of images (`export_images.py`) and reviews
(`export_text.py`), boxes, forecasts (`export_timeseries.py`), the class of every pixel or
voxel (`export_segmentation.py`). `export_run` also writes `torch.export` programs
(`export_pt2.py`) and TensorFlow Lite (`export_tflite.py`).

Two exporters are tried in turn: `torch.export` (the dynamo exporter, also in its "draft"
mode that turns data-dependent checks into runtime asserts), then the TorchScript tracer,
which handles packed RNN sequences that `torch.export` cannot. A candidate is kept only if
onnxruntime matches PyTorch on the example *and* on a probe of other sizes (another batch
size and sequence length), so an axis that an exporter silently froze is caught. A model
whose sequence axis no exporter keeps dynamic is exported at its `max_len` (texts are padded
up to it) and `model.json` says so.

The exported file carries its metadata (model name, classes, preprocessing, recipe, inputs)
as ONNX metadata properties, and a `model.json` beside it says the same for humans, so
`predict` and `serve` never need hand-copied preprocessing.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dllab.deploy.export_graphs import write_model_json
from dllab.errors import InputError
from dllab.experiment import load_trained, task_class, trained_precision
from dllab.tasks.example_inputs import text_sizes, token_batch
from dllab.train.checkpoint import usual_permissions
from dllab.train.protocol import ExampleInput

TOLERANCE = 1e-4  # max abs difference between onnxruntime and PyTorch on the example input

ExportSpec = ExampleInput  # what the exported graph takes: the task's example input

# Tasks whose answer is a loop around the network (Viterbi, generation, a decoder run step
# by step): the module whose `plan(model, meta)` names their graphs and the loop's check.
GRAPH_PLANS = {
    "ner": "dllab.deploy.export_ner",
    "language_model": "dllab.deploy.export_lm",
    "translation": "dllab.deploy.export_translation",
    "defect-classifier": "dllab.deploy.export_defects",
    "anomaly": "dllab.deploy.export_anomaly",
}
# Plans checked end to end on the run's own parts: their `plan` also takes the run folder.
RUN_PLANS = {"defect-classifier", "anomaly"}
# Tasks exported as one graph and checked end to end on the run's test items: the module
# whose `end_to_end(path, model, meta, run_dir)` compares both engines' answers (InputError
# when they differ) and returns the report model.json keeps.
END_TO_END = {
    "classification": "dllab.deploy.export_images",
    "distillation": "dllab.deploy.export_images",
    "detection": "dllab.deploy.export_images",
    "sentiment": "dllab.deploy.export_text",
    "timeseries": "dllab.deploy.export_timeseries",
    "segmentation": "dllab.deploy.export_segmentation",
    "medical-segmentation": "dllab.deploy.export_segmentation",
}


@dataclass
class ExportResult:
    path: Path
    max_abs_diff: float
    tolerance: float = TOLERANCE
    exporter: str = ""  # which exporter produced the file
    inputs: list[dict[str, Any]] = field(default_factory=list)
    graphs: dict[str, Path] = field(default_factory=dict)  # several graphs: name -> file
    end_to_end: dict[str, Any] = field(default_factory=dict)  # the loop's check, both engines
    checked_with: str = "onnxruntime"  # what ran the file for the parity check

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance


def frozen_sequence(spec: ExportSpec, meta: dict[str, Any]) -> ExportSpec:
    """`spec` with the sequence axis fixed at the model's `max_len`: texts are padded to it."""
    vocab, pad, longest = text_sizes(meta)

    def padded(lengths: list[int], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        ids, n = token_batch(vocab, lengths, pad, seed)
        return torch.nn.functional.pad(ids, (0, longest - ids.shape[1]), value=pad), n

    lengths = [int(v) for v in spec.inputs[1]]
    probe = [int(v) for v in spec.probe[1]]
    note = (
        f"the sequence axis is fixed at max_len={longest}: pad token ids with {pad} up to "
        "it (the model masks padding, so the logits do not change)"
    )
    return replace(
        spec,
        inputs=padded(lengths, 0),
        probe=padded(probe, 1),
        axes=[{0: "batch"}, {0: "batch"}],
        notes=[note],
    )


def export_spec(meta: dict[str, Any], model: nn.Module) -> ExportSpec:
    """The inputs a run's model takes, from its task and checkpoint metadata; InputError if
    the task cannot be exported."""
    return task_class(meta).example_input(meta, model)


# ---------------------------------------------------------------- exporters
def _dynamo(model: nn.Module, spec: ExportSpec, path: str) -> None:
    """torch.export, then its draft mode (data-dependent checks become runtime asserts)."""
    dims: dict[str, Any] = {}
    shapes = tuple(
        {axis: dims.setdefault(name, torch.export.Dim(name, min=1)) for axis, name in a.items()}
        for a in spec.axes
    )
    try:
        program: Any = torch.export.export(model, spec.inputs, dynamic_shapes=shapes)
    except Exception:  # noqa: BLE001  a check on tensor values; draft mode asserts it instead
        program = torch.export.draft_export(model, spec.inputs, dynamic_shapes=shapes)
    onnx_program = torch.onnx.export(
        program, spec.inputs, dynamo=True, input_names=spec.names, output_names=[spec.output]
    )
    assert onnx_program is not None
    onnx_program.save(path)


def _torchscript(model: nn.Module, spec: ExportSpec, path: str) -> None:
    """The TorchScript tracer (dynamo=False): exports packed RNN sequences."""
    torch.onnx.export(
        model,
        spec.inputs,
        path,
        dynamo=False,
        input_names=spec.names,
        output_names=[spec.output],
        dynamic_axes={name: dict(a) for name, a in zip(spec.names, spec.axes, strict=True)},
    )


EXPORTERS: dict[str, Callable[[nn.Module, ExportSpec, str], None]] = {
    "torch.export": _dynamo,
    "torchscript": _torchscript,
}


def _parity(model: nn.Module, path: str, spec: ExportSpec) -> float:
    """Max abs difference onnxruntime vs PyTorch over the example and the probe."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4  # a failing run raises; its C++ log line would be noise
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    worst = 0.0
    for inputs in (spec.inputs, spec.probe):
        with torch.no_grad():
            expected = model(*inputs).float().numpy()
        feed = {n: x.numpy() for n, x in zip(spec.names, inputs, strict=True)}
        got = session.run(None, feed)[0]
        if got.shape != expected.shape:
            return float("inf")
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst


@dataclass
class _Attempt:
    path: str  # the temporary .onnx file
    diff: float  # parity over the example and the probe
    exporter: str
    spec: ExportSpec


def _export_first_that_matches(
    model: nn.Module, specs: list[ExportSpec], folder: Path, failures: list[str]
) -> _Attempt | None:
    """Try each spec with each exporter; return the first attempt within TOLERANCE, else the
    closest one (None if every exporter failed). Other temporary files are removed and each
    failure is appended to `failures`."""
    import onnx

    # torch.export cannot trace packed RNN sequences: try the tracer first for RNNs.
    order = list(EXPORTERS)
    if any(isinstance(m, nn.RNNBase) for m in model.modules()):
        order.reverse()
    best: _Attempt | None = None
    for spec in specs:
        for name in order:
            exporter = EXPORTERS[name]
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".onnx.tmp")
            os.close(fd)
            try:
                # The exporters narrate their passes and warn about tracing; the parity
                # check decides.
                with _quiet(), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    exporter(model, spec, tmp)
                onnx.checker.check_model(tmp)
                attempt = _Attempt(tmp, _parity(model, tmp, spec), name, spec)
            except Exception as exc:  # noqa: BLE001  each exporter fails in its own way
                Path(tmp).unlink(missing_ok=True)
                failures.append(f"{name}: {type(exc).__name__}: {_first_line(exc)}")
                continue
            if attempt.diff > TOLERANCE:
                failures.append(f"{name}: onnxruntime differs by {attempt.diff:.2e}")
            if best is None or attempt.diff < best.diff:
                if best is not None:
                    Path(best.path).unlink(missing_ok=True)
                best = attempt
            else:
                Path(tmp).unlink(missing_ok=True)
            if best.diff <= TOLERANCE:
                return best
    return best


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence stdout and stderr, Python's and the C++ exporters' (file descriptors 1, 2)."""
    sys.stdout.flush(), sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1), os.dup2(devnull, 2)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        os.dup2(saved[0], 1), os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else ""


def _refuse_to_overwrite(*paths: Path) -> None:
    existing = [str(p) for p in paths if p.exists() or p.is_symlink()]
    if existing:
        raise InputError(
            f"{' and '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; "
            "nothing was written: pass --force to replace, or choose another --out"
        )


def export_onnx(run_dir: Path, out: Path | None = None, *, force: bool = False) -> ExportResult:
    """Write `run_dir/export/model.onnx` (dynamic batch; dynamic sequence for text) and check
    it with onnxruntime against PyTorch on the example and on inputs of other sizes.

    A file named by `out` (or the `model.json` beside it) that already exists is replaced
    only with `force`; the default file in the run folder is the run's own and is refreshed.
    """
    try:
        import onnx
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise InputError("ONNX export needs the deploy extra: pip install 'dllab[deploy]'") from exc
    model, meta = load_trained(run_dir)
    if meta.get("task") in GRAPH_PLANS:
        return _export_plan(run_dir, model, meta, out, force=force)
    if out is not None and not force:
        _refuse_to_overwrite(out, out.with_name("model.json"))
    spec = export_spec(meta, model)
    specs = [spec]
    if "sequence" in spec.axes[0].values():
        specs.append(frozen_sequence(spec, meta))  # when no exporter keeps T dynamic
    out = out or run_dir / "export" / "model.onnx"
    out.parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    attempt = _export_first_that_matches(model, specs, out.parent, failures)
    if attempt is None:
        raise InputError(
            f"cannot export model {meta['model']!r} to ONNX: " + "; ".join(failures)[:400]
        )
    try:
        onnx_meta = {"inputs": attempt.spec.describe(), "output": attempt.spec.output}
        if attempt.spec.notes:
            onnx_meta["notes"] = attempt.spec.notes
        # The graph computes in fp32 whatever the run trained in (ONNX Runtime's CPU kernels
        # are fp32; quantisation is `dllab compress`); model.json says which it was.
        onnx_meta["trained_precision"] = trained_precision(run_dir)
        # Labels, boxes, forecasts or pixel classes on the run's test items, both engines
        # (InputError on a difference)
        end_to_end = _end_to_end(Path(attempt.path), model, meta, run_dir)
        if end_to_end:
            onnx_meta["end_to_end"] = end_to_end
        described = {**meta, "onnx": onnx_meta}
        proto = onnx.load(attempt.path)
        entry = proto.metadata_props.add()
        entry.key, entry.value = "dllab", json.dumps(described)
        onnx.save(proto, attempt.path)
        usual_permissions(attempt.path)  # mkstemp made it private (0600)
        os.replace(attempt.path, out)
    finally:
        Path(attempt.path).unlink(missing_ok=True)
    write_model_json(out.with_name("model.json"), meta, "onnx", onnx_meta)
    return ExportResult(
        out,
        attempt.diff,
        exporter=attempt.exporter,
        inputs=attempt.spec.describe(),
        end_to_end=end_to_end,
    )


def _end_to_end(
    path: Path, model: nn.Module, meta: dict[str, Any], run_dir: Path
) -> dict[str, Any]:
    """The task's end-to-end report of the graph at `path` (`END_TO_END`); {} if it has none."""
    import importlib

    module = END_TO_END.get(meta.get("task", ""))
    return importlib.import_module(module).end_to_end(path, model, meta, run_dir) if module else {}


def _export_plan(
    run_dir: Path, model: nn.Module, meta: dict[str, Any], out: Path | None, *, force: bool
) -> ExportResult:
    """Export a task that answers with a loop around its network as its planned graphs
    (`export_graphs.py`); `out` names the main file, the other graphs go beside it."""
    import importlib

    from dllab.deploy.export_graphs import export_plan, graph_paths

    module = importlib.import_module(GRAPH_PLANS[meta["task"]])
    if meta["task"] in RUN_PLANS:
        plan = module.plan(model, meta, run_dir)
    else:
        plan = module.plan(model, meta)
    if out is not None and not force:
        _refuse_to_overwrite(*graph_paths(out, plan).values(), out.with_name("model.json"))
    out = out or run_dir / "export" / "model.onnx"
    done = export_plan(plan, meta, out, trained_precision(run_dir))
    first = next(iter(done.paths.values()))
    return ExportResult(
        first,
        done.max_abs_diff,
        done.tolerance,
        exporter=", ".join(sorted({g["exporter"] for g in done.graphs})),
        inputs=done.graphs[0]["inputs"],
        graphs=done.paths,
        end_to_end=done.end_to_end,
    )


FORMATS = ("onnx", "pt2", "tflite")


def export_run(
    run_dir: Path, fmt: str = "onnx", out: Path | None = None, *, force: bool = False
) -> ExportResult:
    """Export a run's model in `fmt` (onnx, pt2 or tflite), checked against PyTorch."""
    if fmt == "pt2":
        from dllab.deploy.export_pt2 import export_pt2

        return export_pt2(run_dir, out, force=force)
    if fmt == "tflite":
        from dllab.deploy.export_tflite import export_tflite

        return export_tflite(run_dir, out, force=force)
    if fmt != "onnx":
        raise InputError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return export_onnx(run_dir, out, force=force)
