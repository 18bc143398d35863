# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01-10 · The mathematics underneath: SVD and PCA, maximum likelihood, entropy and KL
#
# Three pieces of mathematics keep coming back in this course:
#
# 1. **Linear algebra — the singular value decomposition.** Every matrix is a rotation, a
#    scaling and another rotation. It gives the best low-rank approximation of a matrix, and
#    with it **principal component analysis** (PCA), the first tool for looking at data.
# 2. **Probability — maximum likelihood.** Choose the parameters under which the observed
#    data is most probable. The losses of lesson 01-04 *are* negative log-likelihoods: squared
#    error for Gaussian noise, cross-entropy for class labels.
# 3. **Information theory — entropy and KL divergence.** How uncertain a distribution is, and
#    how far one distribution is from another. Minimising cross-entropy minimises the KL
#    divergence from the data to the model.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from sklearn.decomposition import PCA

import dllab.scratch as st
import dllab.scratch.functional as SF
from dllab.data.digits import load_digits_arrays
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("01-10-math-foundations")

rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The singular value decomposition
#
# Any real $m \times n$ matrix factors as
#
# $$A = U \Sigma V^\top = \sum_{i=1}^{r} \sigma_i\, u_i v_i^\top,$$
#
# with orthonormal columns in $U$ ($m \times r$) and $V$ ($n \times r$), and singular values
# $\sigma_1 \ge \sigma_2 \ge \dots \ge \sigma_r > 0$. Read right to left: rotate ($V^\top$),
# stretch each axis by $\sigma_i$, rotate again ($U$). Keeping only the first $k$ terms gives
# $A_k$, and the **Eckart–Young theorem** says no rank-$k$ matrix is closer to $A$:
#
# $$\min_{\operatorname{rank} B \le k} \lVert A - B\rVert_F^2 = \lVert A - A_k\rVert_F^2 = \sum_{i > k} \sigma_i^2.$$

# %%
A = rng.standard_normal((6, 4)) @ np.diag([5.0, 2.0, 1.0, 0.1]) @ rng.standard_normal((4, 4))
U, sigma, Vt = np.linalg.svd(A, full_matrices=False)  # (6, 4), (4,), (4, 4)
np.testing.assert_allclose(U @ np.diag(sigma) @ Vt, A, atol=1e-12)
np.testing.assert_allclose(U.T @ U, np.eye(4), atol=1e-12)
np.testing.assert_allclose(Vt @ Vt.T, np.eye(4), atol=1e-12)
assert np.all(np.diff(sigma) <= 0)

for k in range(1, 4):
    A_k = U[:, :k] @ np.diag(sigma[:k]) @ Vt[:k]
    error = np.linalg.norm(A - A_k) ** 2
    assert abs(error - np.sum(sigma[k:] ** 2)) < 1e-9
    # any other rank-k matrix, e.g. a random one projected the same way, is further away
    other = rng.standard_normal((6, k)) @ rng.standard_normal((k, 4))
    assert np.linalg.norm(A - other) ** 2 > error
print("singular values:", np.round(sigma, 3), "-> rank-k errors == sum of the discarded σ²")

# %% [markdown]
# ## 2. PCA is the SVD of the centred data
#
# Let $X$ be $N$ samples (rows) of $D$ features, centred so that every column has mean 0. The
# direction $v$ along which the data varies most maximises $\frac{1}{N-1}\lVert Xv\rVert^2$ —
# that is the first right singular vector $v_1$, and the variance along it is
# $\sigma_1^2/(N-1)$. The next direction, orthogonal to the first, is $v_2$, and so on. So
#
# - the **principal components** are the rows of $V^\top$;
# - the **explained variances** are $\sigma_i^2 / (N-1)$, the eigenvalues of the covariance
#   matrix $X^\top X / (N-1)$;
# - projecting onto the first $k$ components, $Z = X V_k$, keeps as much variance as any
#   $k$-dimensional linear projection can.
#
# On the 8×8 digits ($D = 64$), checked against scikit-learn's `PCA`:

# %%
images, labels = load_digits_arrays()
X = images.reshape(len(images), -1) / 255.0  # (1797, 64)
mean = X.mean(axis=0)
Xc = X - mean
_, s, Vt = np.linalg.svd(Xc, full_matrices=False)
explained = s**2 / (len(X) - 1)

reference = PCA().fit(X)
np.testing.assert_allclose(explained, reference.explained_variance_, rtol=1e-8, atol=1e-12)
for mine, theirs in zip(Vt[:10], reference.components_[:10], strict=True):
    assert abs(abs(mine @ theirs) - 1) < 1e-8  # the same direction, up to its sign
eigenvalues = np.linalg.eigvalsh(Xc.T @ Xc / (len(X) - 1))[::-1]
np.testing.assert_allclose(explained, eigenvalues, atol=1e-10)

ratio = np.cumsum(explained) / explained.sum()
k90 = int(np.searchsorted(ratio, 0.9)) + 1
print(f"first 2 components: {ratio[1]:.1%} of the variance; {k90} components reach 90%")

# %% [markdown]
# Reconstructing from $k$ components, $\hat X = Z V_k^\top + \bar x$, loses exactly the
# variance of the discarded components — Eckart–Young again.

# %%
for k in (2, 10, 30):
    recon = Xc @ Vt[:k].T @ Vt[:k]
    lost = np.sum((Xc - recon) ** 2) / (len(X) - 1)
    assert abs(lost - explained[k:].sum()) < 1e-9

fig = plt.figure(figsize=(13, 8))
ax = fig.add_subplot(2, 2, 1)
ax.bar(np.arange(1, 65), explained / explained.sum(), label="each component")
ax.plot(np.arange(1, 65), ratio, "k.-", ms=3, label="cumulative")
ax.axhline(0.9, color="grey", ls=":")
ax.set(xlabel="principal component", ylabel="fraction of total variance")
ax.set_title(f"Explained variance (90% with {k90} of 64 components)")
ax.legend(fontsize=8)

ax = fig.add_subplot(2, 2, 2)
Z = Xc @ Vt[:2].T  # (1797, 2)
points = ax.scatter(Z[:, 0], Z[:, 1], c=labels, cmap="tab10", s=6)
fig.colorbar(points, ax=ax, label="digit")
ax.set(xlabel="component 1", ylabel="component 2")
ax.set_title("Digits projected on the first two components")

ax = fig.add_subplot(2, 2, 3)
tiles = np.ones((2 * 9 - 1, 4 * 9 - 1)) * np.nan
for i in range(8):
    r, c = divmod(i, 4)
    tiles[r * 9 : r * 9 + 8, c * 9 : c * 9 + 8] = Vt[i].reshape(8, 8)
ax.imshow(tiles, cmap="RdBu_r")
ax.set(xlabel="pixel column (8 per component)", ylabel="pixel row", xticks=[], yticks=[])
ax.set_title("The first 8 principal components as images")

ax = fig.add_subplot(2, 2, 4)
ks = [1, 2, 5, 10, 20, 64]
grid = np.ones((5 * 9 - 1, len(ks) * 9 - 1)) * np.nan
for row in range(5):
    for col, k in enumerate(ks):
        recon = Xc[row] @ Vt[:k].T @ Vt[:k] + mean
        grid[row * 9 : row * 9 + 8, col * 9 : col * 9 + 8] = recon.reshape(8, 8)
ax.imshow(grid, cmap="gray_r")
ax.set_xticks([col * 9 + 3.5 for col in range(len(ks))], [str(k) for k in ks])
ax.set_yticks([])
ax.set(xlabel="components kept (k)", ylabel="five digits")
ax.set_title("Reconstruction from k components")
lesson.save(fig, "pca-digits.png")

# %% [markdown]
# ## 3. Maximum likelihood
#
# A model $p_\theta(x)$ assigns a probability to every possible observation. For independent
# observations $x_1,\dots,x_N$ the **likelihood** is $\prod_n p_\theta(x_n)$, and the
# **maximum-likelihood estimate** (MLE) is the $\theta$ that maximises it. Products of many
# small numbers underflow, and sums are easier to differentiate, so we minimise the
# **negative log-likelihood** instead:
#
# $$\hat\theta = \arg\min_\theta \; -\frac1N\sum_{n=1}^{N} \log p_\theta(x_n).$$
#
# **A coin.** With $k$ heads in $n$ tosses, $-\log L(p) = -k\log p - (n-k)\log(1-p)$; setting
# the derivative to zero gives $\hat p = k/n$. More data makes the likelihood sharper around
# it.

# %%
p_grid = np.linspace(0.001, 0.999, 999)
fig, ax = plt.subplots(figsize=(7, 4.5))
for n in (10, 100, 1000):
    k = int(round(0.3 * n))
    log_lik = k * np.log(p_grid) + (n - k) * np.log(1 - p_grid)
    p_hat = p_grid[np.argmax(log_lik)]
    assert abs(p_hat - k / n) < 1e-3
    ax.plot(p_grid, np.exp(log_lik - log_lik.max()), label=f"{k} heads in {n} tosses")
ax.axvline(0.3, color="grey", ls=":", label="MLE k/n = 0.3")
ax.set(xlabel="probability of heads p", ylabel="likelihood / its maximum")
ax.set_title("The likelihood of a coin sharpens with more data")
ax.legend(fontsize=8)
lesson.save(fig, "coin-likelihood.png")

# %% [markdown]
# **A Gaussian, and why squared error.** For $y = f(x) + \varepsilon$ with Gaussian noise
# $\varepsilon \sim \mathcal N(0, s^2)$,
#
# $$-\log p(y \mid x) = \frac{(y - f(x))^2}{2s^2} + \log s + \tfrac12\log 2\pi.$$
#
# For fixed $s$, maximising the likelihood of $f$ *is* minimising the squared error: MSE is
# the Gaussian NLL. Fitting $\mu$ and $s$ themselves has a closed form too: the sample mean
# and the *biased* standard deviation (divide by $N$, not $N-1$). We let gradient descent on
# the NLL find them, with `dllab.scratch`'s autograd, and compare:

# %%
samples = rng.normal(2.0, 0.5, size=200)
mu = st.tensor([0.0], requires_grad=True)
log_s = st.tensor([0.0], requires_grad=True)  # optimise log s so that s stays positive
optimizer = st.optim.Adam([mu, log_s], lr=0.05)
data = st.tensor(samples)
for _ in range(1500):
    nll = (((data - mu) ** 2) / (2 * (2 * log_s).exp()) + log_s).mean() + 0.5 * np.log(2 * np.pi)
    optimizer.zero_grad()
    nll.backward()
    optimizer.step()
fitted_mu, fitted_s = mu.item(), float(np.exp(log_s.item()))
print(f"gradient descent on the NLL: mu {fitted_mu:.5f}, s {fitted_s:.5f}")
print(f"closed form:                 mu {samples.mean():.5f}, s {samples.std(ddof=0):.5f}")
assert abs(fitted_mu - samples.mean()) < 1e-4 and abs(fitted_s - samples.std(ddof=0)) < 1e-4

# %% [markdown]
# **Class labels, and why cross-entropy.** A classifier's softmax output is a categorical
# distribution $p_\theta(y \mid x)$. The NLL of the observed labels is
# $-\frac1N\sum_n \log p_\theta(y_n \mid x_n)$ — exactly the cross-entropy loss:

# %%
logits = rng.standard_normal((8, 5))
targets = rng.integers(0, 5, 8)
probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
likelihood = np.prod(probs[np.arange(8), targets])  # probability of all 8 labels together
nll = -np.log(likelihood) / 8
assert abs(nll - F.cross_entropy(torch.tensor(logits), torch.tensor(targets)).item()) < 1e-12
assert abs(nll - SF.cross_entropy(st.tensor(logits), st.tensor(targets)).item()) < 1e-12
print(f"likelihood of the labels {likelihood:.3e}; -log(likelihood)/N = cross-entropy = {nll:.4f}")

# %% [markdown]
# ## 4. Entropy, cross-entropy and KL divergence
#
# The **entropy** of a distribution $p$ over $K$ outcomes measures its uncertainty — the
# average surprise $-\log p(x)$ (in nats with $\ln$, in bits with $\log_2$):
#
# $$H(p) = -\sum_x p(x)\log p(x), \qquad 0 \le H(p) \le \log K.$$
#
# It is 0 for a certain outcome and largest, $\log K$, for the uniform distribution. The
# **cross-entropy** $H(p, q) = -\sum_x p(x)\log q(x)$ is the average surprise when events
# come from $p$ but we expect $q$. The excess over $H(p)$ is the **Kullback–Leibler
# divergence**:
#
# $$H(p, q) = H(p) + D_{KL}(p\,\|\,q), \qquad D_{KL}(p\,\|\,q) = \sum_x p(x)\log\frac{p(x)}{q(x)} \ge 0,$$
#
# with equality only when $q = p$ (Gibbs' inequality). Training a classifier minimises
# $H(p_{data}, q_\theta)$; since $H(p_{data})$ does not depend on $\theta$, that is the same as
# minimising $D_{KL}(p_{data}\,\|\,q_\theta)$ — and the same as maximum likelihood.
#
# Note that KL is not symmetric, and PyTorch's `F.kl_div(input, target)` takes the *log* of
# $q$ first and $p$ second: it computes $D_{KL}(\text{target} \,\|\, \exp(\text{input}))$.


# %%
def entropy(p):
    p = p[p > 0]
    return -np.sum(p * np.log(p))


def cross_entropy(p, q):
    return -np.sum(p * np.log(q))


def kl(p, q):
    return np.sum(p * np.log(p / q))


for _ in range(100):
    p, q = rng.dirichlet(np.ones(6)), rng.dirichlet(np.ones(6))
    assert abs(cross_entropy(p, q) - (entropy(p) + kl(p, q))) < 1e-12
    assert kl(p, q) >= 0 and entropy(p) <= np.log(6) + 1e-12
assert abs(kl(p, p)) < 1e-15 and abs(entropy(np.ones(6) / 6) - np.log(6)) < 1e-12
p, q = np.array([0.8, 0.15, 0.05]), np.array([1 / 3, 1 / 3, 1 / 3])
torch_kl = F.kl_div(torch.tensor(np.log(q)), torch.tensor(p), reduction="sum").item()
assert abs(torch_kl - kl(p, q)) < 1e-12
print(f"p = {p}, q uniform: KL(p||q) = {kl(p, q):.4f}, KL(q||p) = {kl(q, p):.4f} (not symmetric)")
assert abs(kl(p, q) - kl(q, p)) > 0.1

# %% [markdown]
# ### Forward and reverse KL
#
# The asymmetry matters when the model cannot match the data. Fit a single Gaussian $q$ to a
# mixture of two Gaussians $p$:
#
# - **forward** $D_{KL}(p\,\|\,q)$ — what maximum likelihood minimises — is huge wherever $p$
#   has mass and $q$ has none, so $q$ spreads to **cover both modes**. (For a Gaussian $q$ it
#   matches $p$'s mean and variance exactly.)
# - **reverse** $D_{KL}(q\,\|\,p)$ — what variational inference minimises — is huge wherever
#   $q$ has mass and $p$ has none, so $q$ **picks one mode** and stays inside it.
#
# We search a grid of $(\mu, \sigma)$ for each, with the densities on a fine grid of $x$.

# %%
x = np.linspace(-8, 8, 3201)
dx = x[1] - x[0]


def gaussian(x, mu, sigma):
    return np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))


p_mix = 0.6 * gaussian(x, -2.0, 0.7) + 0.4 * gaussian(x, 2.5, 1.0)
mix_mean = np.sum(x * p_mix) * dx
mix_std = np.sqrt(np.sum((x - mix_mean) ** 2 * p_mix) * dx)

mus, sigmas = np.linspace(-4, 4, 161), np.linspace(0.3, 4, 75)
forward = np.empty((len(mus), len(sigmas)))
reverse = np.empty_like(forward)
for i, m in enumerate(mus):
    for j, sd in enumerate(sigmas):
        q_fit = gaussian(x, m, sd) + 1e-300  # avoid log(0) far in the tails
        forward[i, j] = np.sum(p_mix * np.log((p_mix + 1e-300) / q_fit)) * dx
        reverse[i, j] = np.sum(q_fit * np.log(q_fit / (p_mix + 1e-300))) * dx
# %% [markdown]
# The best $(\mu, \sigma)$ on the grid for each direction — the forward fit should match the
# mixture's mean and standard deviation (moment matching), the reverse fit should sit on the
# heavier mode at $-2$:

# %%
fi, fj = np.unravel_index(np.argmin(forward), forward.shape)
ri, rj = np.unravel_index(np.argmin(reverse), reverse.shape)
print(
    f"forward KL best: mu {mus[fi]:.2f}, sigma {sigmas[fj]:.2f} "
    f"(mixture mean {mix_mean:.2f}, std {mix_std:.2f})"
)
print(f"reverse KL best: mu {mus[ri]:.2f}, sigma {sigmas[rj]:.2f}")
assert abs(mus[fi] - mix_mean) < 0.06 and abs(sigmas[fj] - mix_std) < 0.06  # moment matching
assert abs(mus[ri] - (-2.0)) < 0.3 and sigmas[rj] < 1.0  # sits on the heavier mode

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
ax1.fill_between(x, p_mix, color="grey", alpha=0.4, label="p: mixture of two Gaussians")
ax1.plot(x, gaussian(x, mus[fi], sigmas[fj]), label="q minimising KL(p‖q): covers both")
ax1.plot(x, gaussian(x, mus[ri], sigmas[rj]), label="q minimising KL(q‖p): picks one")
ax1.set(xlabel="x", ylabel="density")
ax1.set_title("Fitting one Gaussian to two modes")
ax1.legend(fontsize=8)
bern = np.linspace(1e-6, 1 - 1e-6, 500)
ax2.plot(
    bern, -(bern * np.log2(bern) + (1 - bern) * np.log2(1 - bern)), label="H(Bernoulli(p)) in bits"
)
ax2.plot(bern, -np.log2(bern), "--", label="surprise of heads, -log₂ p")
ax2.set(xlabel="p = P(heads)", ylabel="bits", ylim=(0, 4))
ax2.set_title("Entropy is the average surprise: largest at p = 1/2")
ax2.legend(fontsize=8)
lesson.save(fig, "kl-entropy.png")

# %% [markdown]
# ## Summary
#
# - $A = U\Sigma V^\top$; truncating to $k$ terms is the best rank-$k$ approximation, with
#   squared error $\sum_{i>k}\sigma_i^2$. PCA = SVD of the centred data; variances
#   $\sigma_i^2/(N-1)$.
# - Maximum likelihood minimises the average negative log-likelihood: MSE for Gaussian noise,
#   cross-entropy for class labels.
# - $H(p,q) = H(p) + D_{KL}(p\|q)$ with $D_{KL} \ge 0$: minimising cross-entropy minimises the
#   KL divergence from the data to the model. KL is asymmetric: the forward direction covers
#   modes, the reverse direction seeks one.
#
# ## Exercises
#
# - `dllab lab start softmax_xent` — the categorical negative log-likelihood (cross-entropy)
#   and its gradient, computed stably; `dllab lab check softmax_xent` grades it.
# - `dllab lab start attention` — the next place where softmax turns scores into a
#   distribution.
#
# To try here (not graded):
#
# 1. Show numerically that PCA's first component maximises the variance: compare
#    $\operatorname{Var}(X_c v)$ for $v = v_1$ with 1,000 random unit vectors.
# 2. Derive the MLE of a Bernoulli with the derivative of $-\log L(p)$, and of a Laplace
#    distribution's location (which loss of lesson 01-04 is its NLL?).
# 3. Compute the entropy of the digits' label distribution. How close is it to $\log 10$?
