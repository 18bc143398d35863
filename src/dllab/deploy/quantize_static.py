"""Static int8 (QDQ) the way ONNX Runtime runs it fast on x86: every convolution int8 except a
thin first one, which stays fp32.

ORT fuses each DequantizeLinear -> Conv -> QuantizeLinear into one QLinearConv and runs the
int8 part in NHWC (QLinearConv, NhwcMaxPool), with one QuantizeLinear at the input and one
DequantizeLinear at the logits. On the `fashion-mnist-fast` CNN (1 -> 24 -> 48 -> 96 channels,
batch 32, one thread, Xeon with AVX512-VNNI and AMX) ORT's profiler shows the int8 kernels of
the second and third convolutions 3.7x faster than fp32, but the first one *5x slower*
(735 µs against 145 µs): its reduction is only Cin·kh·kw = 9 multiply-adds per output, too
short to fill an int8 kernel, while MLAS's fp32 NCHWc kernel handles it well. A one-conv
model, int8 over fp32: 0.36x at Cin·kh·kw = 9, 0.58x at 27, 1.39x at 72, 2.3x at 216. So the
stem stays fp32 and its output is quantised once, after its Relu and MaxPool.

One more step makes that pay. Left as Conv -> Relu -> MaxPool -> Q, ORT's
QDQPropagationTransformer moves the Q back over the MaxPool (which commutes with it), and the
MaxPool then runs on int8 in NCHW, a generic kernel ten times slower than fp32's (1.5 ms).
ReLU and max-pooling commute exactly (ReLU is monotone: max relu = relu max), so the stem is
rewritten Conv -> MaxPool -> Relu: ORT folds the Relu into the Q (its zero point clamps at 0),
and the Q stops there because Relu is not an op it propagates over. Measured on that model,
2 threads, interleaved with fp32 in one process: int8 over fp32 at batch 32 went from
1.4-1.6x to 1.8-2.1x (process CPU time and wall clock), test accuracy within 0.1 point.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx

THIN_K = 64  # Cin·kh·kw under which ORT's int8 conv lost to fp32 here (9 and 27 lost, 72 won)


def thin_stem(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """The first convolution, with the Relu and then MaxPool that alone consume its output,
    if it reads a graph input and is thin (group 1, Cin·kh·kw < THIN_K); else [].

    >>> thin_stem(onnx.GraphProto())
    []
    """
    weights = {t.name: t for t in graph.initializer}
    inputs = {i.name for i in graph.input} - set(weights)
    conv = next((n for n in graph.node if n.op_type == "Conv" and n.input[0] in inputs), None)
    if conv is None or len(conv.input) < 2 or conv.input[1] not in weights:
        return []
    group = next((a.i for a in conv.attribute if a.name == "group"), 1)
    per_output = math.prod(weights[conv.input[1]].dims[1:])  # (Cout, Cin / group, kh, kw)
    if group != 1 or per_output >= THIN_K:
        return []
    chain, outputs = [conv], {o.name for o in graph.output}
    for op in ("Relu", "MaxPool"):
        tensor = chain[-1].output[0]
        users = [n for n in graph.node if tensor in n.input]
        if tensor in outputs or len(users) != 1 or users[0].op_type != op:
            break
        chain.append(users[0])
    return chain


def keep_stem_fp32(src: Path, dst: Path) -> list[str]:
    """Write `src` to `dst` with a thin stem's Conv -> Relu -> MaxPool reordered as
    Conv -> MaxPool -> Relu (the same numbers); return the stem's node names, to keep in fp32
    ([] and an unchanged copy when the model has no thin stem)."""
    model = onnx.load(str(src))
    graph = model.graph
    stem = thin_stem(graph)
    for i, node in enumerate(stem):
        node.name = node.name or f"dllab_stem_{i}"  # quantize_static excludes nodes by name
    if len(stem) == 3 and len(stem[2].output) == 1:  # no Indices output to keep in place
        _, relu, pool = stem
        before, after = relu.input[0], pool.output[0]  # conv output, stem output
        between = relu.output[0]  # was relu -> pool, becomes pool -> relu (another shape)
        pool.input[0], pool.output[0] = before, between
        relu.input[0], relu.output[0] = between, after
        nodes = list(graph.node)
        i, j = nodes.index(relu), nodes.index(pool)
        nodes[i], nodes[j] = nodes[j], nodes[i]  # keep the node list topologically sorted
        del graph.node[:]
        graph.node.extend(nodes)
        stale = [v for v in graph.value_info if v.name == between]
        for v in stale:
            graph.value_info.remove(v)
    onnx.save(model, str(dst))
    return [n.name for n in stem]


def quantize_static_int8(
    pre: Path, out: Path, inputs: list[np.ndarray], input_name: str
) -> list[str]:
    """QDQ graph: int8 weights per output channel, int8 activations whose ranges (MinMax) come
    from `inputs` (batches of the validation split); a thin stem stays fp32. Returns the
    names of the nodes kept in fp32.

    `pre` is the output of ORT's `quant_pre_process`. MinMax is kept: on the
    fashion-mnist-fast CNN, Entropy and Percentile calibration were within 0.02 point of it.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        """Feeds the calibration batches once, then None (what ORT's calibrator expects)."""

        def __init__(self) -> None:
            self.feeds_: Iterator[dict[str, np.ndarray]] = iter([{input_name: x} for x in inputs])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.feeds_, None)

    staged = out.with_name(out.name + ".stem.tmp")
    fp32_nodes = keep_stem_fp32(pre, staged)
    logger = logging.getLogger()  # the calibrator logs each step at INFO on the root logger
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        quantize_static(
            str(staged),
            str(out),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=fp32_nodes,
        )
    finally:
        logger.setLevel(level)
        staged.unlink(missing_ok=True)
    return fp32_nodes


def runtime_ops(path: Path) -> dict[str, int]:
    """How many nodes of each op type onnxruntime's CPU provider runs for the model at `path`,
    after its graph optimisations (the QDQ file's own ops say little: ORT fuses them into
    QLinearConv, QGemm, NhwcMaxPool, ...)."""
    import tempfile
    from collections import Counter

    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        options.log_severity_level = 3
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        nodes = onnx.load(options.optimized_model_filepath).graph.node
    return dict(sorted(Counter(n.op_type for n in nodes).items()))
