"""Export a run's model to ONNX and prove it computes what PyTorch computes.

Every task whose model maps tensors to tensors exports: image classifiers (`(B, C, H, W)`
floats), forecasters (`(B, context)` windows of floats) and text classifiers (token ids
`(B, T)` and `lengths (B,)`). The example inputs are built from the checkpoint's metadata
alone (no dataset), with a dynamic batch axis and, for text, a dynamic sequence axis. Tasks
whose answer comes from a search or a sampling loop around the network (beam search,
Viterbi, sampling) are refused with one line that says so.

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
import inspect
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

from dllab.errors import InputError
from dllab.experiment import load_trained
from dllab.train.checkpoint import atomic_write_text

TOLERANCE = 1e-4  # max abs difference between onnxruntime and PyTorch on the example input

# Tasks whose result is not one forward pass of the network, with the reason shown to users.
NOT_EXPORTABLE = {
    "translation": "translation decodes with beam search, a loop over the decoder that ONNX "
    "export of one forward pass does not capture",
    "language_model": "a language model generates by sampling token after token with a KV "
    "cache, a loop that ONNX export of one forward pass does not capture",
    "ner": "NER decodes its tag scores with the CRF's Viterbi search, which ONNX export of "
    "one forward pass does not capture",
    "masked_lm": "a masked-LM run is a pretraining artefact; export the classifier fine-tuned "
    "from it",
    "word2vec": "word2vec runs hold embedding tables, not a model to run; read the vectors "
    "from the run folder",
}


@dataclass
class ExportSpec:
    """What the exported graph takes: example tensors, their names and dynamic axes."""

    inputs: tuple[torch.Tensor, ...]  # the example the graph is traced with
    probe: tuple[torch.Tensor, ...]  # other sizes along every dynamic axis, for the parity check
    names: list[str]  # input names, one per tensor
    axes: list[dict[int, str]]  # per input: axis -> name of the dynamic size
    output: str = "logits"
    notes: list[str] = field(default_factory=list)  # said in model.json (e.g. a frozen axis)

    def describe(self) -> list[dict[str, Any]]:
        """Inputs for model.json: name, dtype and shape with named dynamic axes."""
        return [
            {
                "name": name,
                "dtype": str(x.dtype).removeprefix("torch."),
                "shape": [axes.get(i, int(n)) for i, n in enumerate(x.shape)],
            }
            for name, x, axes in zip(self.names, self.inputs, self.axes, strict=True)
        ]


@dataclass
class ExportResult:
    path: Path
    max_abs_diff: float
    tolerance: float = TOLERANCE
    exporter: str = ""  # which exporter produced the file
    inputs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance


# ---------------------------------------------------------------- example inputs
def example_batch(meta: dict, batch: int = 4, seed: int = 0) -> torch.Tensor:
    """A seeded, already-normalised image input of the model's shape (B, C, H, W)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(
        batch, meta["in_channels"], meta["image_size"], meta["image_size"], generator=g
    )


def image_spec(meta: dict[str, Any]) -> ExportSpec:
    """Normalised images `(B, C, H, W)`; the batch axis is dynamic."""
    return ExportSpec(
        inputs=(example_batch(meta, 4),),
        probe=(example_batch(meta, 3, seed=1),),
        names=["input"],
        axes=[{0: "batch"}],
    )


def window_spec(meta: dict[str, Any]) -> ExportSpec:
    """Standardised windows of past values `(B, context)`; the batch axis is dynamic."""
    g = torch.Generator().manual_seed(0)
    context = int(meta["context"])
    return ExportSpec(
        inputs=(torch.randn(4, context, generator=g),),
        probe=(torch.randn(3, context, generator=g),),
        names=["window"],
        axes=[{0: "batch"}],
        output="forecast",
    )


def token_batch(
    vocab_size: int, lengths: list[int], pad_idx: int = 0, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random token ids `(B, max(lengths))` padded on the right with `pad_idx`, and `lengths`.

    Ids are drawn from the vocabulary without the padding id, so every position up to a
    row's length is a real token (as the tasks' `pad_ids` make them).
    """
    g = torch.Generator().manual_seed(seed)
    t = max(lengths)
    ids = torch.randint(0, vocab_size - 1, (len(lengths), t), generator=g)
    ids = ids + (ids >= pad_idx).long()  # skip pad_idx
    n = torch.tensor(lengths)
    return ids.masked_fill(torch.arange(t)[None, :] >= n[:, None], pad_idx), n


def _text_sizes(meta: dict[str, Any]) -> tuple[int, int, int]:
    """Vocabulary size, padding id and longest text (`max_len`; 64 if unsaid) of a run."""
    kw = meta.get("model_kwargs", {})
    vocab = int(kw.get("vocab_size") or len(meta["vocab"]))
    return vocab, int(kw.get("pad_idx", 0)), int(meta.get("max_len") or 64)


def token_spec(meta: dict[str, Any]) -> ExportSpec:
    """Token ids `(B, T)` and `lengths (B,)`; batch and sequence axes are dynamic.

    The example has 8 tokens; the probe has another batch size and, when the model's context
    (`max_len`) allows, more tokens (an exporter that froze T fails it).
    """
    vocab, pad, longest = _text_sizes(meta)
    t, tp = min(8, longest), min(19, longest)
    ids, n = token_batch(vocab, [t, max(1, t - 3), max(1, t // 2), 1], pad, seed=0)
    pids, pn = token_batch(vocab, [max(1, tp - 6), tp, 2], pad, seed=1)
    return ExportSpec(
        inputs=(ids, n),
        probe=(pids, pn),
        names=["tokens", "lengths"],
        axes=[{0: "batch", 1: "sequence"}, {0: "batch"}],
    )


def frozen_sequence(spec: ExportSpec, meta: dict[str, Any]) -> ExportSpec:
    """`spec` with the sequence axis fixed at the model's `max_len`: texts are padded to it."""
    vocab, pad, longest = _text_sizes(meta)

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
    """The inputs a run's model takes, from its checkpoint metadata; InputError if the task
    cannot be exported."""
    task = meta.get("task", "classification")
    if task in NOT_EXPORTABLE:
        raise InputError(f"cannot export a {task} run to ONNX: {NOT_EXPORTABLE[task]}")
    if "image_size" in meta and "in_channels" in meta:
        return image_spec(meta)
    if task == "timeseries" and "context" in meta:
        return window_spec(meta)
    takes_lengths = "lengths" in inspect.signature(model.forward).parameters
    if "classes" in meta and ("vocab" in meta or "vocab_size" in meta.get("model_kwargs", {})):
        if not takes_lengths:
            raise InputError(
                f"cannot export model {meta['model']!r}: dllab export feeds text models token "
                "ids and lengths, and its forward takes no `lengths`"
            )
        return token_spec(meta)
    raise InputError(
        f"cannot export a {task} run to ONNX: dllab export knows the inputs of image "
        "classifiers, forecasters and text classifiers only"
    )


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


def export_onnx(run_dir: Path, out: Path | None = None) -> ExportResult:
    """Write `run_dir/export/model.onnx` (dynamic batch; dynamic sequence for text) and check
    it with onnxruntime against PyTorch on the example and on inputs of other sizes."""
    try:
        import onnx
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise InputError("ONNX export needs the deploy extra: pip install 'dllab[deploy]'") from exc
    model, meta = load_trained(run_dir)
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
        described = {**meta, "onnx": onnx_meta}
        proto = onnx.load(attempt.path)
        entry = proto.metadata_props.add()
        entry.key, entry.value = "dllab", json.dumps(described)
        onnx.save(proto, attempt.path)
        os.replace(attempt.path, out)
    finally:
        Path(attempt.path).unlink(missing_ok=True)
    atomic_write_text(out.with_name("model.json"), json.dumps(described, indent=2))
    return ExportResult(
        out, attempt.diff, exporter=attempt.exporter, inputs=attempt.spec.describe()
    )
