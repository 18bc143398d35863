"""Grader for perceptron: predictions, and training against sklearn.linear_model.Perceptron."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.linear_model import Perceptron

from dllab.lab.checks import Case, Failed, as_array, assert_close, call, text, unpack


def _train(X, y, lr, epochs, *, strict=False, always=False, bias=True) -> tuple:
    """The learning rule with a known mistake switched on: (w, b, mistakes per epoch)."""
    w, b, mistakes = np.zeros(X.shape[1]), 0.0, []
    for _ in range(epochs):
        count = 0
        for x_i, y_i in zip(X, y, strict=True):
            margin = y_i * (x_i @ w + b)
            if always or (margin < 0 if strict else margin <= 0):
                w, b, count = w + lr * y_i * x_i, b + lr * y_i * bias, count + 1
        mistakes.append(count)
    return w, b, mistakes


STRICT = text(
    "A sample ON the boundary (y * (w . x + b) == 0) is a mistake too: at the start w = 0 and "
    "b = 0 score every sample 0, so with `< 0` nothing is ever learned.",
    "恰好在边界上的样本（y * (w . x + b) == 0）也算错误：一开始 w = 0、b = 0，每个样本的得分都是 "
    "0，用 `< 0` 的话什么也学不到。",
)
ALWAYS = text(
    "Update only on a mistake: a correctly classified sample leaves w and b unchanged.",
    "只在分错时更新：分对的样本不改变 w 和 b。",
)
BIAS = text(
    "The bias learns too: b = b + lr * y on every mistake (it is the weight of a constant "
    "input 1).",
    "偏置也要学习：每次出错 b = b + lr * y（它是常数输入 1 的权重）。",
)


def make_case(index: int, rng: np.random.Generator) -> Case:
    n, d = int(rng.integers(8, 31)), int(rng.integers(1, 5))
    separable = index % 2 == 0
    X = rng.normal(size=(n, d))
    w_true, b_true = rng.normal(size=d), float(rng.normal(scale=0.5))
    score = X @ w_true + b_true + (0.0 if separable else rng.normal(scale=0.5, size=n))
    y = np.where(score > 0, 1, -1)
    y[:2] = [1, -1]  # both classes, always
    lr, epochs = float(rng.uniform(0.1, 2.0)), int(rng.integers(2, 7))
    w_probe, b_probe = rng.normal(size=d), 0.0
    X_probe = np.concatenate([np.zeros((1, d)), rng.normal(size=(5, d))])  # row 0: score 0

    def check(module):
        expected = np.where(X_probe @ w_probe + b_probe > 0, 1, -1)
        assert_close(
            "predict(w, b, X)",
            call(module, "predict", w_probe.copy(), b_probe, X_probe.copy()),
            expected,
            hint=text(
                "+1 where w . x + b > 0, and -1 elsewhere: a score of exactly 0 (row 0 here) "
                "is -1, as sklearn's Perceptron predicts.",
                "w . x + b > 0 处为 +1，其余为 -1：得分恰好为 0（这里的第 0 行）时为 -1，"
                "与 sklearn 的 Perceptron 一致。",
            ),
        )
        out = call(module, "train_perceptron", X.copy(), y.copy(), lr, epochs)
        w, b, mistakes = unpack("train_perceptron", out, 3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn: "max_iter reached before convergence"
            sk = Perceptron(eta0=lr, max_iter=epochs, tol=None, shuffle=False, penalty=None)
            sk.fit(X, y)
        variants = [
            (dict(strict=True), STRICT),
            (dict(always=True), ALWAYS),
            (dict(bias=False), BIAS),
        ]
        alts = [(_train(X, y, lr, epochs, **kw), why) for kw, why in variants]
        assert_close("w", w, sk.coef_[0], mistakes=[(alt[0], why) for alt, why in alts])
        assert_close("b", b, sk.intercept_[0], mistakes=[(alt[1], why) for alt, why in alts])
        expected = _train(X, y, lr, epochs)[2]
        got = as_array("mistakes", mistakes)
        if got.shape != (epochs,) or not np.array_equal(got, expected):
            raise Failed(
                text(
                    f"mistakes per epoch: expected {expected}, got {got.tolist()}",
                    f"每轮的错误数：应为 {expected}，实际为 {got.tolist()}",
                ),
                text(
                    "Count the updates of each epoch (one list entry per epoch, all epochs).",
                    "统计每一轮的更新次数（每轮一个数，所有轮都要）。",
                ),
            )

    kind = text("separable", "线性可分") if separable else text("noisy", "带噪声")
    return Case(
        text(
            f"X ({n}, {d}), {kind['en']} labels, lr {lr:.3g}, {epochs} epochs",
            f"X ({n}, {d})，{kind['zh']}的标签，lr {lr:.3g}，{epochs} 轮",
        ),
        check,
    )
