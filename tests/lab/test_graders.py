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


@pytest.mark.parametrize(
    "name",
    ["scalar_autograd", "rnn_bptt", "quantize", "distillation_loss", "miou_confusion",
     "dice_loss", "conv_transpose", "gradient_penalty", "reparam_kl", "ddpm_step",
     "value_iteration", "q_learning_update", "gae", "ppo_clip_loss"],
)  # fmt: skip
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
    pytest.param(
        "miou_confusion",
        "keep = target != ignore_index",
        "keep = target >= 0",
        ["`confusion_matrix` raised", "count nowhere"],
        id="miou-ignored-pixels-counted",
    ),
    pytest.param(
        "miou_confusion",
        "index = target[keep] * num_classes + preds[keep]",
        "index = preds[keep] * num_classes + target[keep]",
        ["confusion_matrix(preds, target): largest difference", "TRUE class"],
        id="miou-rows-and-columns-swapped",
    ),
    pytest.param(
        "miou_confusion",
        "union = cm.sum(axis=0) + cm.sum(axis=1) - tp",
        "union = cm.sum(axis=0)",
        ["per-class IoU: largest difference", "precision"],
        id="miou-iou-computed-as-precision",
    ),
    pytest.param(
        "miou_confusion",
        "return iou, float(iou[present].mean())",
        "return iou, float(iou.mean())",
        ["mIoU: largest difference", "leave it out of the mean"],
        id="miou-absent-classes-averaged-as-zero",
    ),
    pytest.param(
        "dice_loss",
        "p = _softmax(logits)",
        "p = logits",
        ["loss: largest difference", "softmax over the CLASS"],
        id="dice-without-softmax",
    ),
    pytest.param(
        "dice_loss",
        "dice = (2 * inter + smooth) / (denom + smooth)",
        "dice = (2 * inter) / (denom + smooth)",
        ["loss: largest difference", "numerator AND the denominator"],
        id="dice-smooth-only-in-the-denominator",
    ),
    pytest.param(
        "dice_loss",
        "loss = float(np.mean(1 - dice))",
        "loss = float(np.mean((1 - dice).sum(axis=1)))",
        ["loss: largest difference", "image AND class"],
        id="dice-summed-over-classes",
    ),
    pytest.param(
        "dice_loss",
        "dlogits = p * (dp - (p * dp).sum(axis=1, keepdims=True))",
        "dlogits = p * (1 - p) * dp",
        ["dlogits: largest difference", "back through the softmax"],
        id="dice-softmax-gradient-diagonal-only",
    ),
    pytest.param(
        "conv_transpose",
        "return full - 2 * padding + output_padding",
        "return full - 2 * padding",
        ["conv_transpose2d_output_size(", "output_padding adds"],
        id="conv-transpose-output-padding-ignored",
    ),
    pytest.param(
        "conv_transpose",
        "return full - 2 * padding + output_padding",
        "return full + 2 * padding + output_padding",
        ["conv_transpose2d_output_size(", "padding CROPS"],
        id="conv-transpose-padding-added-as-in-a-convolution",
    ),
    pytest.param(
        "conv_transpose",
        "weight[:, :, i, j])",
        "weight[:, :, kh - 1 - i, kw - 1 - j])",
        ["conv_transpose2d(x, weight, bias): largest difference", "Scatter the kernel as it is"],
        id="conv-transpose-kernel-flipped",
    ),
    pytest.param(
        "conv_transpose",
        "full = (size - 1) * stride + dilation * (kernel_size - 1) + 1",
        "full = (size - 1) * stride + (kernel_size - 1) + 1",
        ["conv_transpose2d_output_size(", "Dilation spreads"],
        id="conv-transpose-dilation-ignored",
    ),
    pytest.param(
        "gradient_penalty",
        "dz = w2 * (1.0 - h**2)",
        "dz = w2 + 0 * h",
        ["critic_input_grad: largest difference", "derivative 1 - tanh(z)^2"],
        id="gp-without-the-tanh-derivative",
    ),
    pytest.param(
        "gradient_penalty",
        "norms = np.sqrt(np.sum(grad**2, axis=1))",
        "norms = np.sqrt(np.sum(grad**2))",
        ["gradient_penalty: largest difference", "PER SAMPLE"],
        id="gp-norm-over-the-whole-batch",
    ),
    pytest.param(
        "gradient_penalty",
        "np.mean((norms - 1.0) ** 2)",
        "np.mean(np.abs(norms - 1.0))",
        ["gradient_penalty: largest difference", "SQUARED distance"],
        id="gp-without-the-square",
    ),
    pytest.param(
        "gradient_penalty",
        "grad = critic_input_grad(x_hat, W1, b1, w2)",
        "grad = critic_input_grad(real, W1, b1, w2)",
        ["gradient_penalty: largest difference", "at the interpolates"],
        id="gp-gradient-at-the-real-samples",
    ),
    pytest.param(
        "gradient_penalty",
        "float(lam * np.mean(",
        "float(np.mean(",
        ["gradient_penalty: largest difference", "Multiply by lam"],
        id="gp-without-lambda",
    ),
    pytest.param(
        "reparam_kl",
        "std = np.exp(0.5 * logvar)",
        "std = np.exp(logvar)",
        ["z: largest difference", "sigma = exp(logvar / 2)"],
        id="reparam-sigma-is-exp-logvar",
    ),
    pytest.param(
        "reparam_kl",
        "kl = 0.5 * (mu**2 + np.exp(logvar) - 1.0 - logvar)",
        "kl = -0.5 * (mu**2 + np.exp(logvar) - 1.0 - logvar)",
        ["kl: largest difference", "never negative"],
        id="kl-with-the-wrong-sign",
    ),
    pytest.param(
        "reparam_kl",
        "np.mean(np.sum(kl, axis=1))",
        "np.mean(kl)",
        ["kl: largest difference", "Sum the KL over the latent dimensions"],
        id="kl-mean-over-the-latent-dims",
    ),
    pytest.param(
        "ddpm_step",
        "return np.cumprod(1.0 - betas)",
        "return np.concatenate([[1.0], np.cumprod(1.0 - betas)[:-1]])",
        ["alpha_bar: largest difference", "indexed from 0"],
        id="ddpm-alpha-bar-off-by-one",
    ),
    pytest.param(
        "ddpm_step",
        "ab = alpha_bar[t]",
        "ab = alpha_bar[t - 1]",
        ["x_t: largest difference", "indexed from 0"],
        id="ddpm-q-sample-step-off-by-one",
    ),
    pytest.param(
        "ddpm_step",
        "return np.cumprod(1.0 - betas)",
        "return 1.0 - betas",
        ["alpha_bar: largest difference", "CUMULATIVE"],
        id="ddpm-alpha-instead-of-alpha-bar",
    ),
    pytest.param(
        "ddpm_step",
        "return np.sqrt(ab) * x0 + np.sqrt(1.0 - ab) * eps",
        "return ab * x0 + (1.0 - ab) * eps",
        ["x_t: largest difference", "square roots"],
        id="ddpm-without-square-roots",
    ),
    pytest.param(
        "value_iteration",
        "Q = expected_r + gamma * P @ V  # (S, A)",
        "Q = np.max(P * (R + gamma * V), axis=2)",
        ["V: largest difference", "never maxed over"],
        id="vi-max-over-the-next-states",
    ),
    pytest.param(
        "value_iteration",
        "new = np.where(terminal, 0.0, Q.max(axis=1))",
        "new = Q.max(axis=1)",
        ["V: largest difference", "terminal state"],
        id="vi-terminal-states-not-handled",
    ),
    pytest.param(
        "value_iteration",
        "expected_r = np.sum(P * R, axis=2)",
        "expected_r = np.sum(R, axis=2)",
        ["V: largest difference", "EXPECTATION"],
        id="vi-reward-not-weighted-by-p",
    ),
    pytest.param(
        "value_iteration",
        "if delta < tol:",
        "if delta < 1e-3:",
        ["V: largest difference", "not converged"],
        id="vi-stops-too-early",
    ),
    pytest.param(
        "value_iteration",
        "policy = np.argmax(best - Q <= TIE, axis=1)",
        "policy = Q.shape[1] - 1 - np.argmax((best - Q <= TIE)[:, ::-1], axis=1)",
        ["policy differs", "LOWEST action index"],
        id="vi-ties-to-the-highest-action",
    ),
    pytest.param(
        "q_learning_update",
        "target = r[i] + gamma * np.max(Q[s_next[i]]) * (1.0 - done[i])",
        "target = r[i] + gamma * np.max(Q[s_next[i]])",
        ["Q (q_learning_update): largest difference", "no next state to bootstrap"],
        id="q-learning-bootstraps-through-done",
    ),
    pytest.param(
        "q_learning_update",
        "target = r[i] + gamma * Q[s_next[i], a_next[i]] * (1.0 - done[i])",
        "target = r[i] + gamma * np.max(Q[s_next[i]]) * (1.0 - done[i])",
        ["Q (sarsa_update): largest difference", "on-policy"],
        id="sarsa-uses-the-max",
    ),
    pytest.param(
        "q_learning_update",
        "Q[s[i], a[i]] += alpha * (target - Q[s[i], a[i]])",
        "Q[s[i], a[i]] += alpha * target",
        ["Q (q_learning_update): largest difference", "scales the ERROR"],
        id="q-learning-rate-on-the-target",
    ),
    pytest.param(
        "gae",
        "not_done = 1.0 - dones[t]",
        "not_done = 1.0",
        ["advantages: largest difference", "must not reach into the next episode"],
        id="gae-not-reset-at-done",
    ),
    pytest.param(
        "gae",
        "last_adv = delta + gamma * lam * not_done * last_adv",
        "last_adv = delta + lam * not_done * last_adv",
        ["advantages: largest difference", "gamma * lam"],
        id="gae-trace-without-gamma",
    ),
    pytest.param(
        "gae",
        "gamma: float,\n    lam: float,",
        "lam: float,\n    gamma: float,",
        ["advantages: largest difference", "swap gamma and lam"],
        id="gae-gamma-and-lambda-swapped",
    ),
    pytest.param(
        "gae",
        "return advantages, advantages + values",
        "return advantages, _rtg(rewards, dones, last_value, gamma)\n\n\ndef _rtg(r, d, last, gamma):\n    out, carry = np.zeros_like(r), last\n    for t in reversed(range(len(r))):\n        carry = r[t] + gamma * carry * (1.0 - d[t])\n        out[t] = carry\n    return out",
        ["returns: largest difference", "advantages + values"],
        id="gae-returns-are-rewards-to-go",
    ),
    pytest.param(
        "ppo_clip_loss",
        "np.mean(np.maximum(unclipped, clipped))",
        "np.mean(np.minimum(unclipped, clipped))",
        ["clip_loss: largest difference", "MAXIMISES"],
        id="ppo-min-instead-of-max",
    ),
    pytest.param(
        "ppo_clip_loss",
        "clipped = -advantages * np.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)",
        "clipped = -np.clip(advantages, 1.0 - clip_eps, 1.0 + clip_eps) * ratio",
        ["clip_loss: largest difference", "RATIO"],
        id="ppo-clips-the-advantage",
    ),
    pytest.param(
        "ppo_clip_loss",
        "ratio = np.exp(logprobs - old_logprobs)",
        "ratio = logprobs - old_logprobs",
        ["clip_loss: largest difference", "exp(logprobs - old_logprobs)"],
        id="ppo-ratio-without-exp",
    ),
    pytest.param(
        "ppo_clip_loss",
        "return float(0.5 * np.mean(",
        "return float(np.mean(",
        ["value_loss: largest difference", "0.5"],
        id="ppo-value-loss-without-the-half",
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
