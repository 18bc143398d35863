"""int8 ONNX models with onnxruntime's quantisation tools, as ORT's CPU guide does it.

* **dynamic**: weights stored as int8 (per output channel); each activation's scale is
  computed at run time from the tensor itself, so no data are needed — but that min/max pass
  runs on every call.
* **static** (QDQ format, in `quantize_static.py`): activation scales are fixed beforehand
  from calibration batches of the run's *validation* split (never the test split, which
  measures the result). ORT fuses the QuantizeLinear/DequantizeLinear pairs around each op
  into int8 kernels (QLinearConv, QGemm) when it loads the graph.

Both start from `quant_pre_process` (shape inference and graph optimisation), which ORT
recommends before quantising.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch


def pre_process(fp32: Path, out: Path) -> None:
    """ORT's recommended preparation: symbolic shape inference and ORT graph optimisation."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    quant_pre_process(str(fp32), str(out))


def calibration_batches(
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]], limit: int
) -> list[np.ndarray]:
    """The first `limit` inputs of `batches` (as float32 arrays), cut to exactly `limit`."""
    out, seen = [], 0
    for x, _ in batches:
        if seen >= limit:
            break
        x = x[: limit - seen]
        out.append(x.float().contiguous().numpy())
        seen += len(x)
    return out


def quantize_dynamic_int8(pre: Path, out: Path) -> None:
    """int8 weights per output channel; activations quantised at run time."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(pre), str(out), per_channel=True, weight_type=QuantType.QInt8)


def op_counts(path: Path) -> dict[str, int]:
    """How many nodes of each op type the ONNX graph at `path` has."""
    import onnx

    graph = onnx.load(str(path)).graph
    ops = sorted(n.op_type for n in graph.node)
    return {op: len(list(group)) for op, group in itertools.groupby(ops)}
