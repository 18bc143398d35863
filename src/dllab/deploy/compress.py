"""`dllab compress`: a smaller or faster copy of a run's model, and the table that says what it
cost.

Methods:

* `ort-dynamic`: onnxruntime int8, weights quantised ahead, activations at run time;
* `ort-static`: onnxruntime int8 in QDQ format, activation ranges calibrated on the run's
  validation split; a thin first convolution stays fp32 (`quantize_static` says why);
* `pt2e`: int8 for the PyTorch path (torchao's PT2E with the x86 Inductor quantizer,
  calibrated on validation), timed as the reference graph and compiled by Inductor, beside
  fp32 compiled by Inductor so that the compiler's own gain is not credited to int8;
* `prune`: global magnitude pruning with a short fine-tune, saved as a run-like folder
  (`config.yaml` + `checkpoints/best.safetensors`) that `dllab export`, `eval` and `predict`
  read like any run.

Every method writes `compress.md` and `compress.json`: for the run's PyTorch eager model, its
fp32 ONNX export and the compressed model(s), the file size (and gzipped size), CPU latency
p50/p95 at batch 1 and 32 with a fixed thread count, throughput, accuracy on the run's full
test split, and the deltas from PyTorch eager and from the fp32 ONNX model. Latency is
measured on the machine that runs the command, at whatever load it has: the table records the
load average so that numbers from a busy machine are read as such.

Nothing in the output folder is replaced without `force`; every file is first written into a
temporary folder beside it and then renamed into place, so a failure leaves the old files.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dllab.deploy.compress_table import (
    BATCHES,
    COLUMNS,
    Row,
    Settings,
    load_average,
    markdown,
    table_rows,
)
from dllab.deploy.export import export_onnx
from dllab.deploy.latency import (
    eager_runner,
    ort_runner,
    ort_session,
    time_calls,
    torch_threads,
)
from dllab.errors import InputError
from dllab.experiment import build_task, load_trained
from dllab.tasks.classification import ClassificationTask, image_batch
from dllab.train.checkpoint import save_checkpoint
from dllab.train.run_dir import check_run_dir

METHODS = ("ort-dynamic", "ort-static", "pt2e", "prune")


@dataclass
class CompressResult:
    out: Path
    method: str
    rows: list[Row]
    files: list[Path]
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- checks
def check_arguments(method: str, calibration: int, amount: float, finetune_steps: int) -> None:
    """InputError for a request `compress` cannot carry out, before any work."""
    if method not in METHODS:
        raise InputError(
            f"unknown compression method {method!r}; choose one of {', '.join(METHODS)}"
        )
    if calibration < 1:
        raise InputError(
            f"--calibration {calibration}: static quantisation needs at least one validation "
            "image to calibrate on; pass a positive count such as 512"
        )
    if not 0.0 < amount < 1.0:
        raise InputError(
            f"--amount {amount}: give the fraction of weights to prune, 0 < amount < 1"
        )
    if finetune_steps < 0:
        raise InputError(f"--finetune-steps {finetune_steps}: give 0 or more steps")


def targets(method: str) -> list[str]:
    """The files `method` writes in its output folder (relative paths)."""
    table = ["compress.md", "compress.json"]
    if method == "prune":
        return [
            "config.yaml",
            "checkpoints/best.safetensors",
            "model.fp32.onnx",
            "model.json",
            *table,
        ]
    if method == "pt2e":
        return ["model.fp32.onnx", "model.json", "model.int8.pt2", *table]
    return ["model.fp32.onnx", "model.json", "model.int8.onnx", *table]


def _refuse_to_overwrite(out: Path, method: str) -> None:
    existing = [str(out / t) for t in targets(method) if (out / t).exists()]
    if existing:
        raise InputError(
            f"{existing[0]}{f' and {len(existing) - 1} more' if len(existing) > 1 else ''} "
            "already exist; nothing was written: pass --force to replace, or choose another --out"
        )


def _load_classifier(run_dir: Path) -> tuple[nn.Module, dict[str, Any], ClassificationTask]:
    """The run's model, metadata and its (set-up) task; InputError for non-image classifiers,
    whose accuracy column would mean nothing."""
    from dllab.config import load_resolved

    check_run_dir(run_dir)
    task = build_task(load_resolved(run_dir / "config.yaml"), resolved=True)
    if not isinstance(task, ClassificationTask):
        raise InputError(
            f"{run_dir} is a {task.name!r} run; `dllab compress` measures test accuracy of "
            "image classifiers (task: classification): export other models with `dllab export`"
        )
    model, meta = load_trained(run_dir)
    task.setup()
    return model, meta, task


# ---------------------------------------------------------------- measuring
def _test_accuracy(
    predict: Callable[[torch.Tensor], np.ndarray], task: ClassificationTask
) -> float:
    """Top-1 accuracy of `predict` (images -> logits) over the task's whole test split."""
    right = total = 0
    for x, y in task.test_batches().epoch(0):
        x = task.normalize(x) if x.dtype == torch.uint8 else x
        right += int((predict(x).argmax(1) == y.numpy()).sum())
        total += len(y)
    return right / max(total, 1)


def _eager_row(
    name: str,
    model: nn.Module,
    meta: dict[str, Any],
    task: ClassificationTask,
    s: Settings,
    size: tuple[int, int] | None = None,
) -> Row:
    """`model` timed and scored in PyTorch; `size` (plain, gzipped bytes) of the file that
    ships it, else of its fp32 tensors."""
    from dllab.deploy.prune import sparsity

    model = model.float().eval()
    blob = b"".join(
        t.detach().cpu().contiguous().numpy().tobytes() for t in model.state_dict().values()
    )
    with torch_threads(s.threads):
        latency = [
            time_calls(
                eager_runner(model, image_batch(meta, b)),
                b,
                warmup=s.warmup,
                iterations=s.iterations,
            )
            for b in BATCHES
        ]
        with torch.inference_mode():
            acc = _test_accuracy(lambda x: model(x).float().numpy(), task)
    plain, packed = size if size is not None else (len(blob), len(gzip.compress(blob)))
    return Row(name, plain, packed, latency, acc, sparsity(model))


def _onnx_row(
    name: str, path: Path, meta: dict[str, Any], task: ClassificationTask, s: Settings, zeros: float
) -> Row:
    session = ort_session(path, s.threads)
    latency = [
        time_calls(
            ort_runner(session, image_batch(meta, b).numpy()),
            b,
            warmup=s.warmup,
            iterations=s.iterations,
        )
        for b in BATCHES
    ]
    feed = session.get_inputs()[0].name
    acc = _test_accuracy(lambda x: session.run(None, {feed: x.float().numpy()})[0], task)
    data = path.read_bytes()
    return Row(name, len(data), len(gzip.compress(data)), latency, acc, zeros)


# ---------------------------------------------------------------- methods
def _ort_method(
    method: str,
    model: nn.Module,
    meta: dict[str, Any],
    task: ClassificationTask,
    run_dir: Path,
    stage: Path,
    calibration: int,
    s: Settings,
    notes: list[str],
) -> list[Row]:
    from dllab.deploy import ort_quant
    from dllab.deploy.prune import sparsity
    from dllab.deploy.quantize_static import quantize_static_int8, runtime_ops

    fp32 = stage / "model.fp32.onnx"
    export_onnx(run_dir, fp32, force=True)
    pre = stage / "fp32.pre.onnx.tmp"
    ort_quant.pre_process(fp32, pre)
    int8 = stage / "model.int8.onnx"
    if method == "ort-dynamic":
        ort_quant.quantize_dynamic_int8(pre, int8)
        label = "onnx int8 dynamic"
    else:
        inputs = ort_quant.calibration_batches(task.val_batches().epoch(0), calibration)
        seen = sum(len(x) for x in inputs)
        if seen < calibration:
            notes.append(f"the validation split has only {seen} images; all were used to calibrate")
        kept = quantize_static_int8(pre, int8, inputs, "input")
        label = f"onnx int8 static (QDQ, {seen} calibration images)"
        if kept:
            notes.append(
                f"kept in fp32: the thin first convolution ({', '.join(kept)}); ONNX Runtime's "
                "int8 conv is slower than fp32 when each output sums only a few inputs (see "
                "dllab.deploy.quantize_static)"
            )
    pre.unlink()
    _carry_metadata(fp32, int8, method)
    ops = ort_quant.op_counts(int8)
    notes.append("int8 graph ops: " + ", ".join(f"{k} {v}" for k, v in ops.items()))
    notes.append(
        "onnxruntime runs, after fusing them: "
        + ", ".join(f"{k} {v}" for k, v in runtime_ops(int8).items())
    )
    if "ConvInteger" in ops:
        notes.append(
            "dynamic quantisation turns each conv into ConvInteger, which finds its "
            "activation range on every call and has no fused int8 kernel on x86: for conv "
            "nets it is usually slower than fp32; prefer ort-static"
        )
    zeros = sparsity(model)
    return [
        _eager_row("pytorch eager fp32", model, meta, task, s),
        _onnx_row("onnx fp32", fp32, meta, task, s, zeros),
        _onnx_row(label, int8, meta, task, s, zeros),
    ]


def _pt2e_method(
    model: nn.Module,
    meta: dict[str, Any],
    task: ClassificationTask,
    run_dir: Path,
    stage: Path,
    calibration: int,
    s: Settings,
    notes: list[str],
) -> list[Row]:
    from dllab.deploy import ort_quant, pt2e

    fp32 = stage / "model.fp32.onnx"
    export_onnx(run_dir, fp32, force=True)
    model = model.float().eval()
    example = image_batch(meta, 2)
    batches = [torch.from_numpy(x) for x in ort_quant.calibration_batches(
        task.val_batches().epoch(0), calibration
    )]  # fmt: skip
    with torch_threads(s.threads):
        int8 = pt2e.quantize_pt2e(model, example, batches)
        pt2e.save_program(int8, example, stage / "model.int8.pt2")
    data = (stage / "model.int8.pt2").read_bytes()
    size = (len(data), len(gzip.compress(data)))
    rows = [
        _eager_row("pytorch eager fp32", model, meta, task, s),
        _onnx_row("onnx fp32", fp32, meta, task, s, 0.0),
        _eager_row("pt2e int8 reference graph", pt2e.Frozen(int8), meta, task, s, size),
    ]
    seen = sum(len(x) for x in batches)
    notes.append(
        f"pt2e: torchao X86InductorQuantizer (per-channel int8 weights, per-tensor int8 "
        f"activations), calibrated on {seen} validation images; the reference graph runs every "
        "quantize/dequantize as its own op, so it is slower than fp32 by design"
    )
    if s.compile:
        with torch_threads(s.threads):
            rows.append(_eager_row("inductor fp32", torch.compile(model), meta, task, s))
            compiled = pt2e.compile_quantized(int8)
            rows.append(_eager_row("pt2e int8 + inductor", compiled, meta, task, s, size))
        notes.append(
            "inductor rows: torch.compile, which fuses each dq-conv-q into one int8 oneDNN "
            "kernel; its compile time (tens of seconds here) is paid once per process and is "
            "not in the latencies. Compare int8 with inductor fp32, not with eager"
        )
    else:
        notes.append("compile off: no Inductor rows, so no int8 speed is measured")
    return rows


def _carry_metadata(fp32: Path, int8: Path, method: str) -> None:
    """The fp32 export's dllab metadata, plus how it was quantised, on the int8 file."""
    import onnx

    source = {p.key: p.value for p in onnx.load(str(fp32)).metadata_props}
    if "dllab" not in source:
        return
    described = json.loads(source["dllab"])
    described["onnx"] = {**described.get("onnx", {}), "quantization": method}
    proto = onnx.load(str(int8))
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = "dllab", json.dumps(described)
    onnx.save(proto, str(int8))


def _prune_method(
    model: nn.Module,
    meta: dict[str, Any],
    task: ClassificationTask,
    run_dir: Path,
    stage: Path,
    amount: float,
    steps: int,
    lr: float | None,
    s: Settings,
    notes: list[str],
) -> list[Row]:
    import copy

    from dllab.deploy.prune import prune_and_finetune, sparsity

    rows = [_eager_row("pytorch eager fp32", model, meta, task, s)]
    fp32 = stage / "original.onnx.tmp"
    export_onnx(run_dir, fp32, force=True)
    (stage / "model.json").unlink()  # the original's; the pruned export writes its own
    rows.append(_onnx_row("onnx fp32", fp32, meta, task, s, rows[0].sparsity))
    fp32.unlink()

    lr = lr if lr is not None else task.recipe.optim.lr / 10
    pruned = prune_and_finetune(copy.deepcopy(model), task, amount=amount, steps=steps, lr=lr)
    info = {
        "method": "prune",
        "amount": amount,
        "finetune_steps": steps,
        "lr": lr,
        "from": str(run_dir),
    }
    shutil.copyfile(run_dir / "config.yaml", stage / "config.yaml")
    save_checkpoint(
        stage / "checkpoints" / "best.safetensors",
        {
            "model": pruned.state_dict(),
            "meta": {**meta, "compressed": info},
            "metrics": {},
            "step": 0,
        },
    )
    rows.append(_eager_row(f"pytorch eager pruned {amount:.0%}", pruned, meta, task, s))
    export_onnx(stage, stage / "model.fp32.onnx", force=True)
    rows.append(
        _onnx_row(
            f"onnx fp32 pruned {amount:.0%}",
            stage / "model.fp32.onnx",
            meta,
            task,
            s,
            sparsity(pruned),
        )
    )
    notes.append(
        f"pruned {amount:.0%} of conv/linear weights (global L1), fine-tuned {steps} steps at lr "
        f"{lr:g} (cosine to 0): unstructured zeros do not make dense CPU kernels faster, and "
        "the plain file is as large; the gzipped size is what sparsity saves"
    )
    return rows


# ---------------------------------------------------------------- entry point
def compress_run(
    run_dir: Path,
    method: str,
    out: Path | None = None,
    *,
    calibration: int = 512,
    amount: float = 0.5,
    finetune_steps: int = 200,
    lr: float | None = None,
    settings: Settings | None = None,
    force: bool = False,
) -> CompressResult:
    """Compress a run's best model with `method` into `out` (default
    `run_dir/compress/<method>`) and write the table `compress.md` / `compress.json` there.

    `calibration`: validation images for `ort-static`; `amount`, `finetune_steps` and `lr`
    (default: a tenth of the recipe's) for `prune`.
    """
    check_arguments(method, calibration, amount, finetune_steps)
    s = settings or Settings()
    check_run_dir(run_dir)
    out = out or run_dir / "compress" / method
    if not force:
        _refuse_to_overwrite(out, method)
    model, meta, task = _load_classifier(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    notes: list[str] = []
    try:
        if method == "prune":
            rows = _prune_method(
                model, meta, task, run_dir, stage, amount, finetune_steps, lr, s, notes
            )
        elif method == "pt2e":
            rows = _pt2e_method(model, meta, task, run_dir, stage, calibration, s, notes)
        else:
            rows = _ort_method(method, model, meta, task, run_dir, stage, calibration, s, notes)
        result = CompressResult(out, method, rows, [out / t for t in targets(method)], notes)
        title = f"`dllab compress {run_dir} --method {method}`"
        text = markdown(title, rows, notes, s, load_average())
        (stage / "compress.md").write_text(text, "utf-8")
        record = {
            "method": method,
            "run": str(run_dir),
            "settings": asdict(s),
            "load_average": load_average(),
            "columns": COLUMNS,
            "rows": table_rows(rows),
            "notes": notes,
        }
        (stage / "compress.json").write_text(json.dumps(record, indent=2), "utf-8")
        for name in targets(method):  # each file renamed into place: atomic one by one
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage / name, out / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return result


__all__ = ["COLUMNS", "METHODS", "CompressResult", "Row", "Settings", "compress_run"]
