"""Every reference passes its grader; skeletons and typical mistakes fail with a useful message.

These run the grader in-process (`grade_in_process`) on fixed seeds; the child process and
its time limit are covered by test_grader_robustness.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dllab.lab.catalog import EXERCISES, solution_source
from dllab.lab.checks import in_lang
from dllab.lab.grader import Report, grade, grade_in_process

NAMES = [e.name for e in EXERCISES]
SKELETONS = Path(__file__).parents[2] / "src" / "dllab" / "lab" / "skeletons"


def _reference(tmp_path: Path, name: str) -> Path:
    """The reference solution of `name` (decoded from the package data) as a learner's file."""
    path = tmp_path / f"{name}.py"
    path.write_text(solution_source(name), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed", [0, 1])
def test_reference_solution_passes_its_grader(tmp_path, name: str, seed: int) -> None:
    report = grade_in_process(name, _reference(tmp_path, name), seed=seed)
    failures = [c.message for c in report.cases if not c.passed]
    assert report.passed, failures
    assert report.n_passed == report.n_cases >= 6


@pytest.mark.parametrize("name", NAMES)
def test_unmodified_skeleton_fails_every_case_as_not_implemented(name: str) -> None:
    report = grade_in_process(name, SKELETONS / f"{name}.py", seed=0)
    assert report.problem is None  # graded case by case, nothing crashed
    assert len(report.cases) == report.n_cases
    for case in report.cases:
        assert not case.passed
        assert "not implemented yet" in case.message["en"]
        assert "还没有实现" in case.message["zh"]


@pytest.mark.parametrize("name", ["map50", "sgd_adam"])
def test_reference_passes_through_the_sandboxed_child(tmp_path, name: str) -> None:
    # lists of dicts of arrays go down the pipe, bool arrays and tuples of arrays come back
    report = grade(name, _reference(tmp_path, name), seed=0, n_cases=2)
    assert report.passed, [c.message for c in report.cases if not c.passed] or report.problem


@pytest.mark.parametrize("name", ["scalar_autograd", "rnn_bptt", "quantize", "distillation_loss"])
def test_numpy_only_reference_passes_through_the_sandboxed_child(tmp_path, name: str) -> None:
    # a driver builds the learner's Values in a child that refuses torch; arrays come back
    report = grade(name, _reference(tmp_path, name), seed=0, n_cases=1)
    assert report.passed, [c.message for c in report.cases if not c.passed] or report.problem


def test_pca_handed_to_sklearn_fails_in_the_child(tmp_path) -> None:
    cheat = """
import numpy as np
from sklearn.decomposition import PCA

def pca_fit(X, n_components):
    p = PCA(n_components).fit(X)
    return p.mean_, p.components_, p.explained_variance_, p.explained_variance_ratio_

def pca_transform(X, mean, components):
    return (X - mean) @ components.T
"""
    path = tmp_path / "pca_svd.py"
    path.write_text(cheat, encoding="utf-8")
    assert grade_in_process("pca_svd", path, n_cases=1).passed  # right values, wrong means
    report = grade("pca_svd", path, seed=0, n_cases=1)
    assert not report.passed
    assert "scikit-learn is not allowed in this exercise" in report.problem["en"]


def test_perceptron_handed_to_sklearn_fails_in_the_child(tmp_path) -> None:
    path = tmp_path / "perceptron.py"
    path.write_text("import sklearn.linear_model\n", encoding="utf-8")
    report = grade("perceptron", path, seed=0, n_cases=1)
    assert "scikit-learn is not allowed in this exercise" in report.problem["en"]


@pytest.mark.parametrize("name", ["conv2d", "loss_curves"])
def test_cases_are_generated_from_the_seed(tmp_path, name: str) -> None:
    path = _reference(tmp_path, name)
    a, b = (grade_in_process(name, path, seed=7) for _ in range(2))
    c = grade_in_process(name, path, seed=8)
    assert [x.shapes for x in a.cases] == [x.shapes for x in b.cases]
    assert [x.seed for x in a.cases] == [x.seed for x in b.cases]
    assert [x.shapes for x in a.cases] != [x.shapes for x in c.cases]


def _with_mistake(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """The reference solution of `name` with `old` replaced by `new`, as a learner's file."""
    source = solution_source(name)
    assert old in source, f"{old!r} is not in the reference of {name}"
    path = tmp_path / f"{name}.py"
    path.write_text(source.replace(old, new, 1), encoding="utf-8")
    return path


def _first_failure(report: Report) -> tuple[str, str]:
    """(message, hint) of the first failing case, English then Chinese joined."""
    assert not report.passed
    case = next(c for c in report.cases if not c.passed)
    hint = case.hint or {"en": "", "zh": ""}
    return case.message["en"] + " | " + hint["en"], case.message["zh"] + " | " + hint["zh"]


# (exercise, code in the reference, the typical mistake, words the feedback must contain)
MISTAKES = [
    pytest.param(
        "mlp_backprop",
        "d_y_hat = 2.0 * (y_hat - y) / y.size",
        "d_y_hat = 2.0 * (y - y_hat) / y.size",
        ["opposite sign", "largest difference"],
        id="sign-flip-in-a-gradient",
    ),
    pytest.param(
        "mlp_backprop",
        '"b1": d_b1, ',
        "",
        ["grads['b1'] is missing", "bias gets a gradient"],
        id="missing-bias-gradient",
    ),
    pytest.param(
        "batchnorm",
        "return dx, dgamma, dbeta",
        "return dx, dgamma, None",
        ["dbeta is missing", "dbeta = dout.sum"],
        id="batchnorm-missing-bias-gradient",
    ),
    pytest.param(
        "attention",
        "q @ np.swapaxes(k, -1, -2) / np.sqrt(d)",
        "q @ np.swapaxes(k, -1, -2)",
        ["weights: largest difference", "1/sqrt(d)"],
        id="attention-without-scale",
    ),
    pytest.param(
        "batchnorm",
        "if not training:",
        "if False:",
        ["out (eval mode)", "running_mean and running_var, not the batch"],
        id="batchnorm-eval-with-batch-statistics",
    ),
    pytest.param(
        "conv2d",
        "// stride + 1",
        "// stride",
        ["off by one", "the first position counts too"],
        id="conv-output-size-off-by-one",
    ),
    pytest.param(
        "softmax_xent",
        "shifted = logits - logits.max(axis=1, keepdims=True)",
        "shifted = logits",
        ["nan or inf"],
        id="softmax-overflow",
    ),
    pytest.param(
        "attention",
        "scores = scores - scores.max(axis=-1, keepdims=True)",
        "scores = scores",
        ["nan or inf"],
        id="attention-softmax-overflow",
    ),
    pytest.param(
        "conv2d",
        "out = weight.reshape(o, -1) @ cols",
        "out = weight[:, :, ::-1, ::-1].reshape(o, -1) @ cols",
        ["conv2d(x, weight, bias)", "cross-correlation"],
        id="convolution-with-flipped-kernel",
    ),
    pytest.param(
        "maxpool",
        "np.add.at(dx, (ni, ci, rows, cols), grad_out)",
        "dx[ni, ci, rows, cols] = grad_out",
        ["max_pool2d_backward", "add up"],
        id="maxpool-overwrites-overlapping-gradients",
    ),
    pytest.param(
        "tensor_ops",
        "x = x.permute(0, 2, 4, 1, 3, 5)",
        "x = x.permute(0, 2, 4, 3, 5, 1)",
        ["right values in the wrong places"],
        id="patchify-wrong-permute",
    ),
    pytest.param(
        "custom_module",
        "nn.ModuleList(ResidualMLP(dim, 2 * dim) for _ in range(n_blocks))",
        "[ResidualMLP(dim, 2 * dim) for _ in range(n_blocks)]",
        ["not found in state_dict()", "nn.ModuleList"],
        id="modules-in-a-python-list",
    ),
    pytest.param(
        "window_dataset",
        "return len(self.series) - self.window",
        "return len(self.series) - self.window + 1",
        ["len(dataset)", "windows followed by a target"],
        id="dataset-length-off-by-one",
    ),
    pytest.param(
        "training_loop",
        "        optimizer.zero_grad()  # gradients accumulate in .grad otherwise\n",
        "",
        ["weights after train_epoch", "zero_grad"],
        id="training-without-zero-grad",
    ),
    pytest.param(
        "training_loop",
        "    model.eval()\n",
        "",
        ["evaluate ran the model in train mode", "model.eval()"],
        id="evaluate-in-train-mode",
    ),
    pytest.param(
        "residual_block",
        "if stride != 1 or in_channels != out_channels:",
        "if False:",
        ["state_dict() keys differ", "1x1 conv"],
        id="resnet-block-without-projection",
    ),
    pytest.param(
        "lstm_cell",
        "i, f, g, o = np.split(gates, 4, axis=1)",
        "i, f, o, g = np.split(gates, 4, axis=1)",
        ["c_new", "input, forget, cell (g), output"],
        id="lstm-gate-order",
    ),
    pytest.param(
        "lstm_forecaster",
        "window = torch.cat([window[1:], nxt[None]])",
        "window = torch.cat([window, nxt[None]])",
        ["forecast", "drop the oldest value"],
        id="forecast-with-a-growing-window",
    ),
    pytest.param(
        "positional_encoding",
        "torch.tril(torch.ones(T, T, dtype=torch.bool))",
        "torch.triu(torch.ones(T, T, dtype=torch.bool))",
        ["causal_mask", "never j > i"],
        id="causal-mask-sees-the-future",
    ),
    pytest.param(
        "encoder_layer",
        "heads = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)",
        "heads = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, scale=1 / d**0.5)",
        ["encoder_layer", "1/sqrt(head_dim)"],
        id="encoder-scale-by-model-size",
    ),
    pytest.param(
        "loss_curves",
        "    if val_loss[-1] > 1.1 * min(val_loss):  # validation rose well past its best\n"
        '        return "overfitting"\n',
        "",
        ["diagnosed 'good_fit', but the run is 'overfitting'", "early stopping"],
        id="loss-curves-missing-overfitting",
    ),
    pytest.param(
        "dropout",
        "mask = (u >= p) / (1.0 - p) if training",
        "mask = (u >= p) * 1.0 if training",
        ["out (train mode)", "1 / (1 - p)"],
        id="dropout-without-rescaling",
    ),
    pytest.param(
        "weight_decay",
        "    w = w * (1 - lr * weight_decay)  # decoupled: the decay never enters m or v\n",
        "    grad = grad + weight_decay * w\n",
        ["AdamW step 1", "decouples"],
        id="adamw-as-adam-with-l2",
    ),
    pytest.param(
        "augmentation",
        "flip = rng.random(n) < 0.5",
        "flip = np.repeat(rng.random() < 0.5, n)",
        ["flipped", "probability 0.5"],
        id="augmentation-one-flip-per-batch",
    ),
    pytest.param(
        "checkpoint",
        '    optimizer.load_state_dict(state["optimizer"])\n',
        "",
        ["optimiser state", "optimizer.load_state_dict"],
        id="checkpoint-without-optimizer-state",
    ),
    pytest.param(
        "gru_cell",
        "n = np.tanh(i_n + r * h_n)",
        "n = np.tanh(i_n + (r * h) @ np.split(W_hh, 3)[2].T + np.split(b_hh, 3)[2])",
        ["h_new", "before the matrix product", "r * (h W_hn^T + b_hn)"],
        id="gru-reset-before-the-product",
    ),
    pytest.param(
        "gru_cell",
        "return (1.0 - z) * n + z * h",
        "return z * n + (1.0 - z) * h",
        ["h_new", "share of the OLD state"],
        id="gru-update-gate-swapped",
    ),
    pytest.param(
        "sinusoidal_positions",
        "pe[..., 0::2] = torch.sin(angle)\n    pe[..., 1::2] = torch.cos(angle)",
        "pe[..., 0::2] = torch.cos(angle)\n    pe[..., 1::2] = torch.sin(angle)",
        ["sinusoidal_positions", "sin on the even columns"],
        id="positions-sin-cos-swapped",
    ),
    pytest.param(
        "sinusoidal_positions",
        "return base ** (",
        "return 10000.0 ** (",
        ["sinusoidal_positions", "Use the `base` argument"],
        id="positions-fixed-base",
    ),
    pytest.param(
        "sinusoidal_positions",
        "m[even, even], m[even, odd] = cos, sin",
        "m[even, even], m[even, odd] = cos, -sin",
        ["shift_matrix"],
        id="shift-matrix-wrong-sign",
    ),
    pytest.param(
        "viterbi",
        "paths.append(path[::-1])",
        "paths.append([int(v) for v in em[:length].argmax(axis=1)])",
        ["expected tags", "best tag at each position on its own"],
        id="viterbi-argmax-per-position",
    ),
    pytest.param(
        "viterbi",
        "scores = best[:, None] + transitions",
        "scores = best[:, None] + transitions.T",
        ["expected tags", "transposed"],
        id="viterbi-transitions-transposed",
    ),
    pytest.param(
        "viterbi",
        "length = int(m.sum())",
        "length = len(m)",
        ["expected tags", "real tokens only"],
        id="viterbi-decodes-the-padding",
    ),
    pytest.param(
        "masked_mha",
        "weights = torch.softmax(scores + bias, dim=-1)",
        "weights = torch.softmax(scores - bias, dim=-1)",
        ["weights contain nan", "sign"],
        id="mask-added-with-the-wrong-sign",
    ),
    pytest.param(
        "masked_mha",
        "weights = torch.softmax(scores + bias, dim=-1)",
        "weights = torch.softmax(scores, dim=-1).masked_fill(blocked, 0.0)",
        ["weights: largest difference", "BEFORE the softmax"],
        id="mask-applied-after-softmax",
    ),
    pytest.param(
        "masked_mha",
        "/ math.sqrt(d // n_heads)",
        "/ math.sqrt(d)",
        ["weights: largest difference", "1/sqrt(d_head)"],
        id="mha-scale-by-model-size",
    ),
    pytest.param(
        "beam_search",
        "score / (len(tokens) - 1) ** length_penalty",
        "score",
        ["scores", "favours short hypotheses"],
        id="beam-without-length-normalisation",
    ),
    pytest.param(
        "beam_search",
        "finished += [h for h in extended if h[0][-1] == eos]",
        "pass",
        ["expected the hypotheses", "must be kept"],
        id="beam-forgets-finished-hypotheses",
    ),
    pytest.param(
        "iou",
        "return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])",
        "return (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)",
        ["box_area(boxes1): largest difference", "continuous coordinates", "+1"],
        id="iou-pixel-plus-one",
    ),
    pytest.param(
        "iou",
        "[None, :] - inter",
        "[None, :]",
        ["box_iou(boxes1, boxes2): largest difference", "counts the overlap once"],
        id="iou-union-without-the-overlap",
    ),
    pytest.param(
        "iou",
        "np.clip(bottom_right - top_left, 0, None)",
        "(bottom_right - top_left)",
        ["box_iou(boxes1, boxes2)", "clamp"],
        id="iou-negative-overlap",
    ),
    pytest.param(
        "nms",
        "iou[i] > iou_threshold",
        "iou[i] >= iou_threshold",
        ["nms(boxes, scores", "kept", "GREATER"],
        id="nms-suppresses-ties",
    ),
    pytest.param(
        "nms",
        'for i in np.argsort(-scores, kind="stable"):',
        "for i in range(len(boxes)):",
        ["nms(boxes, scores", "decreasing order of score"],
        id="nms-in-input-order",
    ),
    pytest.param(
        "nms",
        "keep = [np.zeros(0, dtype=np.int64)]",
        "return nms(boxes, scores, iou_threshold)",
        ["batched_nms(boxes, scores, labels", "must not suppress each other"],
        id="nms-across-classes",
    ),
    pytest.param(
        "nms",
        'return kept[np.argsort(-scores[kept], kind="stable")]',
        "return np.sort(kept)",
        ["batched_nms(boxes, scores, labels", "wrong order"],
        id="nms-kept-in-index-order",
    ),
    pytest.param(
        "map50",
        "free = np.where(taken, -1.0, iou[i])",
        "free = iou[i]",
        ["match_detections in image", "expected true positives", "found once"],
        id="map-counts-duplicate-detections",
    ),
    pytest.param(
        "map50",
        "precision = np.maximum.accumulate(precision[::-1])[::-1]",
        "pass",
        ["largest difference", "Interpolate the precision"],
        id="map-without-interpolation",
    ),
    pytest.param(
        "map50",
        'mine, theirs = p["labels"] == c, t["labels"] == c',
        'mine, theirs = p["labels"] >= 0, t["labels"] >= 0',
        ["map50(preds, targets): largest difference", "its own label"],
        id="map-matches-across-classes",
    ),
    pytest.param(
        "sgd_adam",
        "buf = momentum * buf + grad",
        "buf = momentum * buf + (1 - momentum) * grad",
        ["w after SGD", "step 1", "no (1 - momentum) factor"],
        id="sgd-damped-momentum",
    ),
    pytest.param(
        "sgd_adam",
        "step = grad + momentum * buf if nesterov else buf",
        "step = buf",
        ["w after SGD (Nesterov)", "grad + momentum * buf"],
        id="sgd-nesterov-ignored",
    ),
    pytest.param(
        "sgd_adam",
        "m_hat = m / (1 - beta1**t)",
        "m_hat = m",
        ["w after Adam step 1", "Correct the bias"],
        id="adam-without-bias-correction",
    ),
    pytest.param(
        "perceptron",
        "if y_i * (x_i @ w + b) <= 0:",
        "if y_i * (x_i @ w + b) < 0:",
        ["w: largest difference", "ON the boundary"],
        id="perceptron-boundary-is-no-mistake",
    ),
    pytest.param(
        "perceptron",
        "                b = b + lr * y_i\n",
        "",
        ["largest difference", "The bias learns too"],
        id="perceptron-without-bias-update",
    ),
    pytest.param(
        "perceptron",
        "if y_i * (x_i @ w + b) <= 0:",
        "if True:",
        ["w: largest difference", "Update only on a mistake"],
        id="perceptron-updates-on-every-sample",
    ),
    pytest.param(
        "scalar_autograd",
        "self.grad += out.grad  # d(a + b)/da = 1\n            other.grad += out.grad",
        "self.grad = out.grad  # d(a + b)/da = 1\n            other.grad = out.grad",
        ["grad of v0..v1", "v1 = v0 + v0", "largest difference", "add them up"],
        id="autograd-overwrites-a-reused-nodes-gradient",
    ),
    pytest.param(
        "scalar_autograd",
        "self.grad += other.data * out.grad",
        "self.grad = other.data * out.grad",
        ["grad of v0..v3", "v3 = v1 + v2", "add them up"],
        id="autograd-product-overwrites-a-gradient",
    ),
    pytest.param(
        "scalar_autograd",
        "self.grad += (1 - t * t) * out.grad",
        "self.grad += out.grad",
        ["v1 = v0.tanh()", "local derivative of tanh"],
        id="autograd-without-the-tanh-derivative",
    ),
    pytest.param(
        "scalar_autograd",
        "                order.append(v)  # after all its inputs: a topological order\n\n"
        "        visit(self)\n        self.grad = 1.0\n        for v in reversed(order):\n"
        "            v._backward()",
        "\n        def naive(v):\n            v._backward()\n            for child in v._prev:\n"
        "                naive(child)\n\n        self.grad = 1.0\n        naive(self)",
        ["v3 = v1 + v2", "topological order"],
        id="autograd-depth-first-without-topological-order",
    ),
    pytest.param(
        "scalar_autograd",
        "        return self * other",
        "        return other",
        ["Value.__rmul__ returned a float, not a Value"],
        id="autograd-rmul-returns-a-number",
    ),
    pytest.param(
        "pca_svd",
        "Xc = X - mean",
        "Xc = X",
        ["components (each compared up to its sign)", "Centre the data first"],
        id="pca-without-centring",
    ),
    pytest.param(
        "pca_svd",
        "var = S**2 / (len(X) - 1)",
        "var = S**2 / len(X)",
        ["explained_variance: largest difference", "N - 1"],
        id="pca-variance-divided-by-n",
    ),
    pytest.param(
        "pca_svd",
        "return mean, Vt[:n_components]",
        "return mean, Vt.T[:n_components]",
        ["components", "ROWS of Vt"],
        id="pca-components-from-columns",
    ),
    pytest.param(
        "lr_schedules",
        "(step + 1) / warmup_steps",
        "step / warmup_steps",
        ["warmup_cosine at steps", "largest difference", "off by one"],
        id="warmup-off-by-one",
    ),
    pytest.param(
        "lr_schedules",
        "(step - warmup_steps) / (total_steps - warmup_steps)",
        "step / total_steps",
        ["warmup_cosine at steps", "AFTER the warmup"],
        id="cosine-over-the-whole-run",
    ),
    pytest.param(
        "lr_schedules",
        "peak = pct_start * total_steps - 1",
        "peak = pct_start * total_steps",
        ["one_cycle at steps", "one step too late"],
        id="one-cycle-peak-off-by-one",
    ),
    pytest.param(
        "lr_schedules",
        "min_lr = initial_lr / final_div_factor",
        "min_lr = initial_lr",
        ["one_cycle at steps", "final_div_factor"],
        id="one-cycle-without-final-division",
    ),
    pytest.param(
        "conv2d_backward",
        "dx = dxp[:, :, p : p + H, p : p + W]",
        "dx = dxp",
        ["dx: expected shape", "PADDED input"],
        id="conv-backward-dx-not-cropped",
    ),
    pytest.param(
        "conv2d_backward",
        "dxp[:, :, rows, cols] += ",
        "dxp[:, :, rows, cols] = ",
        ["dx: largest difference", "add the contributions"],
        id="conv-backward-overlapping-windows-overwrite",
    ),
    pytest.param(
        "conv2d_backward",
        "dw[:, :, i, j] =",
        "dw[:, :, kh - 1 - i, kw - 1 - j] =",
        ["dw: largest difference", "cross-correlation"],
        id="conv-backward-flipped-kernel",
    ),
    pytest.param(
        "conv2d_backward",
        "db = dout.sum(axis=(0, 2, 3))",
        "db = dout.sum(axis=0)",
        ["db: expected shape (", "every output position"],
        id="conv-backward-bias-not-summed-over-positions",
    ),
    pytest.param(
        "rnn_bptt",
        "dh = dhs[t] + dh_next",
        "dh = dhs[t]",
        ["dW_ih: largest difference", "NEXT step"],
        id="bptt-forgets-the-gradient-from-the-next-step",
    ),
    pytest.param(
        "rnn_bptt",
        "dz = dh * (1 - hs[t] ** 2)",
        "dz = dh",
        ["largest difference", "derivative of tanh"],
        id="bptt-without-the-tanh-derivative",
    ),
    pytest.param(
        "rnn_bptt",
        "h_prev = hs[t - 1] if t > 0 else h0",
        "h_prev = hs[t]",
        ["dW_hh: largest difference", "PREVIOUS hidden state"],
        id="bptt-wrong-hidden-state-for-w-hh",
    ),
    pytest.param(
        "quantize",
        "lo, hi = min(x_min, 0.0), max(x_max, 0.0)",
        "lo, hi = x_min, x_max",
        ["scale: largest difference", "must include 0"],
        id="quantize-range-without-zero",
    ),
    pytest.param(
        "quantize",
        "return scale, int(min(max(zero_point, qmin), qmax))",
        "return scale, min(max(qmin - lo / scale, qmin), qmax)",
        ["zero_point should be an int", "round it"],
        id="quantize-zero-point-not-rounded",
    ),
    pytest.param(
        "quantize",
        "zero_point = qmin - round(lo / scale)",
        "zero_point = qmin - int(np.floor(lo / scale))",
        ["zero_point: largest difference", "halves to even"],
        id="quantize-zero-point-floored",
    ),
    pytest.param(
        "quantize",
        "q = np.round(x / scale) + zero_point",
        "q = np.floor(x / scale + 0.5) + zero_point",
        ["quantize: largest difference", "halves to even"],
        id="quantize-rounds-halves-up",
    ),
    pytest.param(
        "quantize",
        "return np.clip(q, qmin, qmax).astype(np.int64)",
        "return q.astype(np.int64)",
        ["quantize: largest difference", "saturate"],
        id="quantize-without-clamp",
    ),
    pytest.param(
        "quantize",
        "others = tuple(d for d in range(x.ndim) if d != axis % x.ndim)",
        "others = axis",
        ["scales: expected shape", "every OTHER axis"],
        id="quantize-per-channel-along-the-wrong-axis",
    ),
    pytest.param(
        "distillation_loss",
        "loss = alpha * T**2 * kl",
        "loss = alpha * kl",
        ["loss: largest difference", "by T^2"],
        id="distillation-without-t-squared",
    ),
    pytest.param(
        "distillation_loss",
        "kl = float(np.sum(p_t * (log_p_t - log_p_s))) / n",
        "kl = float(np.sum(p_s * (log_p_s - log_p_t))) / n",
        ["loss: largest difference", "from the teacher to the student"],
        id="distillation-kl-direction-swapped",
    ),
    pytest.param(
        "distillation_loss",
        "kl = float(np.sum(p_t * (log_p_t - log_p_s))) / n",
        "kl = float(np.mean(p_t * (log_p_t - log_p_s)))",
        ["loss: largest difference", "batchmean"],
        id="distillation-kl-mean-over-all-elements",
    ),
    pytest.param(
        "distillation_loss",
        "log_p_t = _log_softmax(teacher_logits / T)",
        "log_p_t = _log_softmax(teacher_logits)",
        ["loss: largest difference", "Soften the teacher too"],
        id="distillation-teacher-without-temperature",
    ),
    pytest.param(
        "distillation_loss",
        "z = z - z.max(axis=1, keepdims=True)",
        "z = z + 0.0",
        ["loss: largest difference", "nan or inf"],
        id="distillation-unstable-softmax",
    ),
    pytest.param(
        "distillation_loss",
        "d_kl = T * (p_s - p_t) / n",
        "d_kl = (p_s - p_t) / n",
        ["dstudent: largest difference", "chain rule through s / T"],
        id="distillation-gradient-without-the-chain-rule",
    ),
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow in the learner's exp
@pytest.mark.parametrize(("name", "old", "new", "words"), MISTAKES)
def test_typical_mistake_fails_with_a_useful_message(tmp_path, name, old, new, words) -> None:
    report = grade_in_process(name, _with_mistake(tmp_path, name, old, new), seed=3)
    en, zh = _first_failure(report)
    for word in words:
        assert word in en
    assert zh.strip(" |") and en != zh


def test_a_failing_case_shows_shapes_seed_and_largest_difference(tmp_path) -> None:
    path = _with_mistake(tmp_path, "attention", "/ np.sqrt(d)", "/ d")
    report = grade_in_process("attention", path, seed=3)
    case = next(c for c in report.cases if not c.passed)
    assert in_lang(case.shapes, "en").startswith("q (") and case.seed > 0
    assert "largest difference" in case.message["en"] and "最大差异" in case.message["zh"]
    assert "not 1/d" in case.hint["en"]
    assert "np.sqrt" not in case.message["en"] + case.hint["en"]  # never the reference code
