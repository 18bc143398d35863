"""Child side of pca_svd: call the learner's pca_fit and say whether sklearn was imported.

The child refuses torch and sklearn in NumPy exercises at import; should a learner get past
that hook, a fit that hands the work to sklearn.decomposition.PCA is still caught here, by
what got imported.
"""

import sys


def fit(learner, X, n_components):
    value = learner.call("pca_fit", X, n_components)
    return {"value": value, "sklearn": "sklearn" in sys.modules}
