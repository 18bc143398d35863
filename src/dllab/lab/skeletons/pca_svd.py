"""Exercise pca_svd: principal component analysis (PCA) through the SVD, in NumPy.

PCA finds the orthogonal directions along which data X (N samples, D features) varies most.
Centre the data (subtract each feature's mean); the singular value decomposition of the
centred matrix, Xc = U S Vt, gives them at once: the rows of Vt are the directions (principal
components), sorted by the singular values S, and the variance along component i is
S_i**2 / (N - 1). Projecting onto the first k components reduces X to k numbers per sample.

The results must equal sklearn.decomposition.PCA(n_components=k, svd_solver="full"): `mean_`,
`components_` (each up to its sign, which the SVD does not fix), `explained_variance_`,
`explained_variance_ratio_` and `transform`. NumPy only: torch and sklearn are refused.
Grade it with `dllab lab check pca_svd`.
"""

from __future__ import annotations

import numpy as np


def pca_fit(X: np.ndarray, n_components: int) -> tuple:
    """Return (mean, components, explained_variance, explained_variance_ratio).

    Args:
        X: (N, D) data, one sample per row. n_components: k, 1 <= k <= min(N, D).

    Returns:
        mean (D,), components (k, D) with unit-length rows, largest variance first,
        explained_variance (k,): the sample variance (N - 1) along each component, and
        explained_variance_ratio (k,): each one's share of the TOTAL variance.

    Example:
        >>> X = np.array([[0.0, 0.0], [2.0, 0.0], [4.0, 0.0]])
        >>> mean, comps, var, ratio = pca_fit(X, 1)
        >>> mean, np.abs(comps), var, ratio
        (array([2., 0.]), array([[1., 0.]]), array([4.]), array([1.]))

    TODO: centre, np.linalg.svd(..., full_matrices=False), then read the four answers off
    S and Vt.
    """
    raise NotImplementedError("Need to implement for exercise pca_svd")


def pca_transform(X: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """Project X (M, D) onto the components (k, D): (M, k) coordinates, like PCA.transform.

    TODO: the same centring as in the fit (with the fitted mean), then one matrix product.
    """
    raise NotImplementedError("Need to implement for exercise pca_svd")
