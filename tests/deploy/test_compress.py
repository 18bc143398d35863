"""`dllab compress`: int8 ONNX models that agree with fp32, a pruned run, the table, refusals."""

import json
import sys

import numpy as np
import pytest
import torch

from dllab.config import load_recipe, load_resolved, recipe_to_yaml
from dllab.deploy.compress import COLUMNS, Settings, compress_run
from dllab.deploy.latency import ort_session
from dllab.deploy.ort_quant import op_counts
from dllab.errors import InputError
from dllab.experiment import build_task, load_trained

FAST = Settings(threads=1, warmup=1, iterations=3)  # the table's shape, not its timings
AGREE = 0.95  # int8 and fp32 give the same label on at least this share of the test digits


@pytest.fixture(scope="module")
def run(tmp_path_factory, dllab):
    """Two epochs of quickstart (8x8 digits): a real run folder in seconds."""
    root = tmp_path_factory.mktemp("compress")
    out = dllab("run", "quickstart", "train.max_epochs=2", "--run-dir", "q", cwd=root)
    assert out.returncode == 0, out.stderr
    return root / "q"


@pytest.fixture(scope="module")
def digits(run):
    """The run's normalised test images `(N, 1, 8, 8)`."""
    task = build_task(load_resolved(run / "config.yaml"), resolved=True)
    task.setup()
    return torch.cat([x for x, _ in task.test_batches().epoch(0)]).numpy()


@pytest.fixture(scope="module")
def static(run, tmp_path_factory):
    """`compress --method ort-static` of the run, calibrated on 64 validation digits."""
    out = tmp_path_factory.mktemp("static") / "s"
    return compress_run(run, "ort-static", out, calibration=64, settings=FAST)


def labels(path, images):
    session = ort_session(path, 1)
    return session.run(None, {session.get_inputs()[0].name: images})[0].argmax(1)


@pytest.mark.parametrize("method", ["ort-static", "ort-dynamic"])
def test_int8_model_agrees_with_fp32_on_most_labels(run, static, digits, tmp_path, method):
    res = (
        static
        if method == "ort-static"
        else compress_run(run, method, tmp_path / "d", settings=FAST)
    )
    fp32, int8 = res.out / "model.fp32.onnx", res.out / "model.int8.onnx"
    agree = (labels(fp32, digits) == labels(int8, digits)).mean()
    assert agree >= AGREE, agree
    assert int8.stat().st_size < 0.5 * fp32.stat().st_size  # int8 weights: a quarter, plus scales
    assert [p.name for p in res.out.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_pt2e_int8_program_loads_and_agrees_with_fp32(run, digits, tmp_path):
    """torchao PT2E: the saved .pt2 program is int8 (quantize ops in its graph) and gives the
    fp32 model's labels; Inductor is off here (its compile alone takes a minute)."""
    settings = Settings(threads=1, warmup=1, iterations=3, compile=False)
    res = compress_run(run, "pt2e", tmp_path / "p", calibration=64, settings=settings)
    program = torch.export.load(str(res.out / "model.int8.pt2"))
    ops = {str(n.target) for n in program.graph.nodes if n.op == "call_function"}
    assert any("quantize_per_tensor" in op for op in ops), ops
    model, _ = load_trained(run)
    x = torch.from_numpy(digits)
    with torch.no_grad():
        agree = (program.module()(x).argmax(1) == model.eval()(x).argmax(1)).float().mean()
    assert agree >= AGREE, agree
    names = [r.name for r in res.rows]
    assert names == ["pytorch eager fp32", "onnx fp32", "pt2e int8 reference graph"]
    assert abs(res.rows[2].accuracy - res.rows[0].accuracy) < 0.05


def test_static_int8_is_a_qdq_graph_carrying_the_metadata(static):
    import onnx

    res = static
    ops = op_counts(res.out / "model.int8.onnx")
    assert ops.get("QuantizeLinear", 0) >= 2 and ops.get("DequantizeLinear", 0) >= 4, ops
    props = {p.key: p.value for p in onnx.load(res.out / "model.int8.onnx").metadata_props}
    described = json.loads(props["dllab"])
    assert described["onnx"]["quantization"] == "ort-static" and len(described["classes"]) == 10
    assert any(n.startswith("kept in fp32: the thin first convolution") for n in res.notes)


def test_table_has_every_column_for_every_model(static):
    res = static
    record = json.loads((res.out / "compress.json").read_text())
    names = [r["model"] for r in record["rows"]]
    assert names[:2] == ["pytorch eager fp32", "onnx fp32"] and "int8 static" in names[2]
    for row in record["rows"]:
        assert list(row) == COLUMNS
        assert all(np.isfinite(v) for k, v in row.items() if k != "model"), row
        assert 0.5 < row["test acc"] <= 1.0
    eager = record["rows"][0]
    assert eager["b1 ×eager"] == 1.0 and eager["Δacc vs eager (pts)"] == 0.0
    assert record["settings"] == {"threads": 1, "warmup": 1, "iterations": 3, "compile": True}
    header = (res.out / "compress.md").read_text().splitlines()[4]
    assert header == "| " + " | ".join(COLUMNS) + " |"


def stem_model(path, in_channels=1):
    """A bn-cnn in miniature, `(N, in_channels, 8, 8)` -> 3 logits, saved at `path`:
    Conv-Relu-MaxPool twice (4 then 8 channels, BatchNorm folded as the export does), Gemm."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = {
        "w1": rng.normal(0, 0.5, (4, in_channels, 3, 3)),
        "b1": rng.normal(0, 0.1, 4),
        "w2": rng.normal(0, 0.3, (8, 4, 3, 3)),
        "b2": rng.normal(0, 0.1, 8),
        "w3": rng.normal(0, 0.3, (3, 32)),
        "b3": np.zeros(3),
    }
    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], "conv1", pads=[1] * 4),
        helper.make_node("Relu", ["c1"], ["r1"], "relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], "pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], "conv2", pads=[1] * 4),
        helper.make_node("Relu", ["c2"], ["r2"], "relu2"),
        helper.make_node("MaxPool", ["r2"], ["p2"], "pool2", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p2"], ["f"], "flatten"),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["logits"], "linear", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "stem",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", in_channels, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_a_thin_stem_pools_before_its_relu_and_computes_the_same_logits(tmp_path):
    import onnx

    from dllab.deploy.quantize_static import keep_stem_fp32

    src, dst = stem_model(tmp_path / "m.onnx"), tmp_path / "s.onnx"
    assert keep_stem_fp32(src, dst) == ["conv1", "relu1", "pool1"]  # 1·3·3 = 9 < 64
    ops = [n.op_type for n in onnx.load(dst).graph.node]
    assert ops[:4] == ["Conv", "MaxPool", "Relu", "Conv"]
    x = np.random.default_rng(1).normal(size=(5, 1, 8, 8)).astype(np.float32)
    before, after = ort_session(src, 1), ort_session(dst, 1)
    np.testing.assert_allclose(
        after.run(None, {"input": x})[0], before.run(None, {"input": x})[0], rtol=0, atol=1e-6
    )


def test_a_first_conv_summing_64_inputs_or_more_is_quantised(tmp_path):
    import onnx

    from dllab.deploy.quantize_static import keep_stem_fp32

    src, dst = stem_model(tmp_path / "m.onnx", in_channels=8), tmp_path / "s.onnx"
    assert keep_stem_fp32(src, dst) == []  # 8·3·3 = 72: int8 is faster there
    assert [n.op_type for n in onnx.load(dst).graph.node][:3] == ["Conv", "Relu", "MaxPool"]


def test_static_int8_quantises_once_after_the_fp32_stem_pool(tmp_path):
    """What onnxruntime runs: the stem in fp32, then one QuantizeLinear fed by its MaxPool
    (not moved back over it, which would leave an int8 NCHW MaxPool, ten times slower), then
    int8 kernels."""
    import onnx
    import onnxruntime as ort

    from dllab.deploy.ort_quant import pre_process
    from dllab.deploy.quantize_static import quantize_static_int8, runtime_ops

    pre, int8 = tmp_path / "pre.onnx", tmp_path / "int8.onnx"
    pre_process(stem_model(tmp_path / "m.onnx"), pre)
    x = np.random.default_rng(1).normal(size=(16, 1, 8, 8)).astype(np.float32)
    assert quantize_static_int8(pre, int8, [x], "input") == ["conv1", "relu1", "pool1"]
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(int8), options, providers=["CPUExecutionProvider"])
    nodes = onnx.load(tmp_path / "optimized.onnx").graph.node
    made_by = {out: n.op_type for n in nodes for out in n.output}
    quantize = [n for n in nodes if n.op_type == "QuantizeLinear"]
    assert len(quantize) == 1 and made_by[quantize[0].input[0]] == "MaxPool"
    ops = runtime_ops(int8)
    assert ops["Conv"] == 1 and ops["QLinearConv"] == 1 and ops["QGemm"] == 1, ops
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_prune_writes_a_sparse_run_folder_that_loads(run, tmp_path):
    res = compress_run(run, "prune", tmp_path / "p", amount=0.5, finetune_steps=3, settings=FAST)
    model, meta = load_trained(res.out)
    convs = [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    zeros = sum(int((w == 0).sum()) for w in convs) / sum(w.numel() for w in convs)
    assert 0.49 <= zeros <= 0.55  # masks permanent after fine-tuning: the zeros stayed zero
    assert meta["compressed"]["amount"] == 0.5
    rows = json.loads((res.out / "compress.json").read_text())["rows"]
    assert [round(r["sparsity"], 1) for r in rows] == [0.0, 0.0, 0.5, 0.5]
    assert "do not make dense CPU kernels faster" in (res.out / "compress.md").read_text()


def test_existing_files_are_kept_without_force(run, tmp_path):
    out = tmp_path / "o"
    compress_run(run, "ort-dynamic", out, settings=FAST)
    before = {p: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(InputError, match="already exist.*--force"):
        compress_run(run, "ort-dynamic", out, settings=FAST)
    assert {p: p.read_bytes() for p in out.iterdir()} == before


def one_line(monkeypatch, capsys, *args: str) -> str:
    """Run `dllab ARGS` in this process; its single stderr line, after checking exit 2."""
    from dllab.cli import main

    monkeypatch.setattr(sys, "argv", ["dllab", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--method", "gzip"], "unknown compression method 'gzip'; choose one of ort-dynamic"),
        (["--method", "ort-static", "--calibration", "0"], "needs at least one validation"),
        (["--method", "prune", "--amount", "1.5"], "0 < amount < 1"),
    ],
)
def test_bad_arguments_are_one_line(run, monkeypatch, capsys, tmp_path, args, says):
    line = one_line(monkeypatch, capsys, "compress", str(run), *args, "--out", str(tmp_path))
    assert says in line
    assert list(tmp_path.iterdir()) == []


def test_a_missing_run_is_one_line(monkeypatch, capsys, tmp_path):
    line = one_line(monkeypatch, capsys, "compress", str(tmp_path / "nope"), "--method", "prune")
    assert "run folder" in line and "not found" in line


def test_a_run_that_is_not_an_image_classifier_is_refused(monkeypatch, capsys, tmp_path):
    (tmp_path / "config.yaml").write_text(recipe_to_yaml(load_recipe("sunspots-lstm")))
    line = one_line(monkeypatch, capsys, "compress", str(tmp_path), "--method", "ort-static")
    assert "'timeseries' run" in line and "image classifiers" in line
