"""Grader for pca_svd: PCA by SVD in NumPy, against sklearn.decomposition.PCA.

Each case draws correlated data with a far-off mean (so forgetting to centre shows) and
well-separated variances (so every component is defined up to its sign). A principal axis is
only defined up to sign: each learner's component is compared after flipping it to agree with
sklearn's. `pca_transform` gets sklearn's mean and components, so its check does not depend on
the learner's fit. In the child (NumPy only), importing sklearn fails the case.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA

from dllab.lab.checks import (
    Case,
    Failed,
    as_array,
    assert_close,
    call,
    drive,
    driver_source,
    text,
    unpack,
)

DRIVER = driver_source("pca_svd")

NOT_CENTRED = text(
    "Centre the data first: without subtracting the mean of each feature, the first "
    "direction points at the mean instead of along the spread.",
    "先把数据中心化：不减去每个特征的均值，第一个方向会指向均值，而不是数据散开的方向。",
)
KEPT_ONLY = text(
    "The ratio divides by the variance of ALL components, not only of the kept ones: kept "
    "ratios add up to less than 1 when components are dropped.",
    "比例要除以所有成分的方差之和，而不只是保留下来的：丢掉一些成分时，保留的比例之和小于 1。",
)
BY_N = text(
    "sklearn's explained_variance_ is the unbiased sample variance along each component: "
    "divide by N - 1, not N.",
    "sklearn 的 explained_variance_ 是沿每个成分的无偏样本方差：除以 N - 1，而不是 N。",
)
COLUMNS = text(
    "The principal components are the ROWS of Vt (the right singular vectors), not its "
    "columns; U holds the samples' coordinates, not directions.",
    "主成分是 Vt 的行（右奇异向量），不是它的列；U 里是样本的坐标，而不是方向。",
)
SKLEARN = text(
    "sklearn was imported: this exercise is PCA by hand with NumPy's SVD, so "
    "sklearn.decomposition.PCA may not do the work",
    "导入了 sklearn：这个练习要用 NumPy 的 SVD 手写 PCA，不能让 sklearn.decomposition.PCA 代劳",
)


def _align(components: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`components` with each row's sign flipped to agree with the same row of `reference`."""
    if components.shape != reference.shape:
        return components
    signs = np.where(np.sum(components * reference, axis=1) < 0, -1.0, 1.0)
    return components * signs[:, None]


def _svd_pca(X, k, *, centre=True, ddof=1):
    """(components, explained variance, ratio over all, ratio over kept) with a switch."""
    Xc = X - X.mean(axis=0) if centre else X
    _, s, vt = np.linalg.svd(Xc, full_matrices=False)
    var = s**2 / (len(X) - ddof)
    return vt[:k], var[:k], var[:k] / var.sum(), var[:k] / var[:k].sum()


def make_case(index: int, rng: np.random.Generator) -> Case:
    n, d = int(rng.integers(10, 41)), int(rng.integers(2, 7))
    k = d if index == 0 else int(rng.integers(1, d + 1))
    scales = np.sort(rng.uniform(0.5, 1.0, size=d) * 2.0 ** -np.arange(d))[::-1] * 3
    rotation, _ = np.linalg.qr(rng.normal(size=(d, d)))
    X = (rng.normal(size=(n, d)) * scales) @ rotation.T + rng.normal(scale=4.0, size=d)
    X_new = rng.normal(size=(int(rng.integers(1, 8)), d)) * 3 + X.mean(axis=0)

    def check(module):
        sk = PCA(n_components=k, svd_solver="full").fit(X)
        reply = drive(module, DRIVER, "fit", X.copy(), k)
        if module.numpy_only and reply["sklearn"]:
            raise Failed(SKLEARN, text("Remove the sklearn import.", "删掉 sklearn 的导入。"))
        mean, comps, var, ratio = unpack("pca_fit", reply["value"], 4)
        assert_close("mean", mean, sk.mean_)
        raw = _svd_pca(X, k, centre=False)
        assert_close(
            "components (each compared up to its sign)",
            _align(as_array("components", comps), sk.components_),
            sk.components_,
            mistakes=[
                (_align(raw[0], sk.components_), NOT_CENTRED),
                (_align(_svd_pca(X, d)[0].T[:k], sk.components_), COLUMNS),
            ],
        )
        assert_close("explained_variance", var, sk.explained_variance_,
                     mistakes=[(raw[1], NOT_CENTRED), (_svd_pca(X, k, ddof=0)[1], BY_N)])  # fmt: skip
        assert_close("explained_variance_ratio", ratio, sk.explained_variance_ratio_,
                     mistakes=[(_svd_pca(X, k)[3], KEPT_ONLY), (raw[2], NOT_CENTRED)])  # fmt: skip
        got = call(module, "pca_transform", X_new.copy(), sk.mean_.copy(),
                   sk.components_.copy())  # fmt: skip
        assert_close("pca_transform", got, sk.transform(X_new),
                     mistakes=[(X_new @ sk.components_.T, NOT_CENTRED)])  # fmt: skip

    return Case(
        text(
            f"X ({n}, {d}), n_components {k}; transform of {len(X_new)} new rows",
            f"X ({n}, {d})，n_components {k}；对 {len(X_new)} 行新数据做 transform",
        ),
        check,
    )
