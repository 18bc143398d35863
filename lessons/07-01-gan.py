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
# # 07-01 · GANs: the minimax game, saturation, mode collapse, and WGAN-GP
#
# A **generative adversarial network** (Goodfellow et al. 2014) trains two networks against
# each other. The generator $G$ turns noise $z \sim p_z$ into samples; the discriminator $D$
# says how likely a sample is to be real. They play
#
# $$\min_G \max_D\; V(D, G) = \mathbb{E}_{x \sim p_\text{data}}[\log D(x)]
#   + \mathbb{E}_{z \sim p_z}[\log(1 - D(G(z)))].$$
#
# Nobody writes down a density: $G$ only has to *sample*, and $D$ tells it where its samples
# look wrong. This lesson takes the game apart on distributions of one and two dimensions,
# where everything trains in a second and can be seen whole:
#
# 1. the **optimal discriminator** and what the game then minimises (a Jensen–Shannon
#    divergence);
# 2. why nobody trains $G$ on the minimax loss itself: it **saturates**;
# 3. a GAN on a ring of eight Gaussians, and **mode collapse** when the generator outruns
#    its discriminator;
# 4. **Wasserstein GANs** and the **gradient penalty** of WGAN-GP, by hand and against
#    autograd and dllab;
# 5. how sample quality is measured (**FID**), and with which features.

# %%
import math
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Normal
from torchmetrics.image.fid import FrechetInceptionDistance

from dllab.tasks.gan import gradient_penalty
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("07-01-gan")
torch.set_num_threads(1)  # tiny networks: one thread is fastest, and the timings are fair
torch.manual_seed(0)
started = time.process_time()

# %% [markdown]
# ## 1. The optimal discriminator
#
# For a fixed generator, $V$ is an integral over $x$ of
# $p_\text{data}(x) \log D(x) + p_g(x) \log(1 - D(x))$, and $a \log y + b \log(1 - y)$ is
# largest at $y = a / (a + b)$. So the best discriminator is the density ratio
#
# $$D^*(x) = \frac{p_\text{data}(x)}{p_\text{data}(x) + p_g(x)},$$
#
# and putting it back into $V$ gives, with $m = (p_\text{data} + p_g)/2$,
#
# $$V(D^*, G) = -\log 4 + 2\,\mathrm{JSD}(p_\text{data} \,\|\, p_g).$$
#
# With a perfect discriminator the generator minimises the Jensen–Shannon divergence, which
# is zero only when $p_g = p_\text{data}$. We check both on a grid with two 1-D Gaussians, and
# train a small discriminator by binary cross-entropy to see that it learns $D^*$ where there
# are samples (beyond them, on the right, nothing tells it that $p_g$'s wider tail wins).

# %%
p_data, p_g = Normal(2.0, 0.5), Normal(0.0, 1.0)
grid = torch.linspace(-5, 6, 4001, dtype=torch.float64)
dx = float(grid[1] - grid[0])


def log_density(dist: Normal) -> torch.Tensor:
    """log p on the grid, normalised so that the grid's p sums to 1 (logs: no underflow)."""
    log_p = dist.log_prob(grid)
    return log_p - torch.logsumexp(log_p, 0) - math.log(dx)


def kl_on_grid(log_p: torch.Tensor, log_q: torch.Tensor) -> float:
    return float((log_p.exp() * (log_p - log_q)).sum() * dx)


def jsd_on_grid(log_p: torch.Tensor, log_q: torch.Tensor) -> float:
    log_m = torch.logaddexp(log_p, log_q) - math.log(2)  # m = (p + q) / 2
    return 0.5 * kl_on_grid(log_p, log_m) + 0.5 * kl_on_grid(log_q, log_m)


log_pd, log_pg = log_density(p_data), log_density(p_g)
pd, pg = log_pd.exp(), log_pg.exp()
d_star = torch.sigmoid(log_pd - log_pg)  # p_data / (p_data + p_g)


def value_on_grid(logit: torch.Tensor) -> float:
    """V(D, G) for the discriminator D = sigmoid(logit) given on the grid."""
    return float((pd * F.logsigmoid(logit) + pg * F.logsigmoid(-logit)).sum() * dx)


value = value_on_grid(log_pd - log_pg)
jsd = jsd_on_grid(log_pd, log_pg)
print(f"V(D*, G) = {value:.6f};  -log 4 + 2 JSD = {-math.log(4) + 2 * jsd:.6f}  (JSD {jsd:.4f})")
assert abs(value - (-math.log(4) + 2 * jsd)) < 1e-9
assert 0 < jsd < math.log(2)  # JSD lies in [0, log 2]


def mlp(inputs: int, outputs: int, width: int = 32) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inputs, width), nn.ReLU(),
        nn.Linear(width, width), nn.ReLU(),
        nn.Linear(width, outputs),
    )  # fmt: skip


disc = mlp(1, 1)
opt = torch.optim.Adam(disc.parameters(), lr=1e-2)
labels = torch.cat([torch.ones(512, 1), torch.zeros(512, 1)])  # real 1, generated 0
for _ in range(300):
    x = torch.cat([p_data.sample((512, 1)), p_g.sample((512, 1))])
    loss = F.binary_cross_entropy_with_logits(disc(x), labels)
    opt.zero_grad()
    loss.backward()
    opt.step()
with torch.no_grad():
    logit_learned = disc(grid.float()[:, None])[:, 0].double()
d_learned = torch.sigmoid(logit_learned)
where = (pd + pg) > 0.05  # where there are samples to learn from
gap = float((d_learned - d_star)[where].abs().max())
value_learned = value_on_grid(logit_learned)
print(f"trained D: largest |D - D*| where the densities live {gap:.3f}; "
      f"V(D, G) = {value_learned:.4f} <= V(D*, G) = {value:.4f}")  # fmt: skip
assert gap < 0.1
assert value_learned <= value + 1e-9  # no discriminator beats the density ratio

fig, ax = plt.subplots(figsize=(8, 3.8))
ax.fill_between(grid, pd, alpha=0.3, label="$p_{data}$ = N(2, 0.5²)")
ax.fill_between(grid, pg, alpha=0.3, label="$p_g$ = N(0, 1)")
ax.plot(grid, d_star, "k-", label="$D^*$ = $p_{data}$ / ($p_{data}$ + $p_g$)")
ax.plot(grid, d_learned, "r--", label="D trained by binary cross-entropy")
ax.set_xlabel("x")
ax.set_ylabel("density / probability of 'real'")
ax.set_title("The optimal discriminator is a density ratio, and a trained one learns it")
ax.legend(fontsize=8, loc="upper left")
fig.tight_layout()
lesson.save(fig, "optimal_discriminator.png")

# %% [markdown]
# ## 2. The saturating loss and the non-saturating one
#
# Early in training the generator is bad and $D$ rejects its samples with confidence:
# $D(G(z)) \approx 0$. Write $D = \sigma(a)$ with $a$ the discriminator's logit. The minimax
# generator loss $\log(1 - \sigma(a))$ has the derivative $-\sigma(a)$ with respect to $a$:
# it **vanishes** exactly when the generator most needs to learn. Goodfellow et al. therefore
# train $G$ to *maximise* $\log D(G(z))$ instead, the **non-saturating** loss
# $-\log \sigma(a)$, whose derivative is $-(1 - \sigma(a))$: close to 1 there. Both push
# $D(G(z))$ up; only the second does it with a usable gradient.

# %%
logits = torch.linspace(-8, 8, 201, requires_grad=True)
saturating = torch.log1p(-torch.sigmoid(logits))  # log(1 - D): G minimises it
non_saturating = -F.logsigmoid(logits)  # -log D: G minimises it
(g_sat,) = torch.autograd.grad(saturating.sum(), logits)
(g_ns,) = torch.autograd.grad(non_saturating.sum(), logits)
d_of = torch.sigmoid(logits).detach()
torch.testing.assert_close(g_sat, -d_of)  # d/da log(1 - σ(a)) = -σ(a)
torch.testing.assert_close(g_ns, -(1 - d_of))  # d/da -log σ(a) = -(1 - σ(a))

# The same on a real generator: G(z) = mu + s z far to the left of the data, against the
# optimal discriminator for it (the density ratio, a fixed function of x).
p_far = Normal(-3.0, 0.5)
mu, s = torch.tensor(-3.0, requires_grad=True), torch.tensor(0.5, requires_grad=True)
fake = mu + s * torch.randn(4096)
logit = p_data.log_prob(fake) - p_far.log_prob(fake)  # log D* - log(1 - D*)
(grad_sat,) = torch.autograd.grad(torch.log1p(-torch.sigmoid(logit)).mean(), mu, retain_graph=True)
(grad_ns,) = torch.autograd.grad(-F.logsigmoid(logit).mean(), mu)
print(f"D(G(z)) = {torch.sigmoid(logit).mean():.1e} on average")
print(f"d loss / d mu: saturating {grad_sat:.2e}, non-saturating {grad_ns:.2e}")
assert torch.sigmoid(logit).mean() < 1e-3
assert grad_ns < 0 and grad_sat < 0  # both say "move right", towards the data
assert abs(grad_ns) > 1000 * abs(grad_sat)  # ... but only one says it loudly

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
axes[0].plot(d_of, saturating.detach(), label="saturating: log(1 - D)")
axes[0].plot(d_of, non_saturating.detach(), label="non-saturating: -log D")
axes[0].set_xlabel("D(G(z))")
axes[0].set_ylabel("generator loss (minimised)")
axes[0].set_title("Two losses for the generator")
axes[0].legend(fontsize=8)
axes[1].semilogy(d_of, g_sat.abs(), label="|d loss / d logit|, saturating")
axes[1].semilogy(d_of, g_ns.abs(), label="|d loss / d logit|, non-saturating")
axes[1].set_xlabel("D(G(z))")
axes[1].set_ylabel("gradient magnitude (log scale)")
axes[1].set_title("Where D rejects the samples, only -log D has a gradient")
axes[1].legend(fontsize=8)
fig.tight_layout()
lesson.save(fig, "saturating_loss.png")

# %% [markdown]
# ## 3. A GAN on a ring of eight Gaussians, and mode collapse
#
# The classic toy (Metz et al. 2017, "Unrolled GANs"): eight Gaussians of standard deviation
# 0.05 on a circle of radius 2. A sample is of **high quality** when it lies within 0.2 of a
# centre, and a mode is **covered** when at least 2 % of the samples fall on it.
#
# Training alternates one discriminator step (binary cross-entropy, real against generated)
# and one generator step on the non-saturating loss, both with Adam at $\beta_1 = 0.5$ as in
# DCGAN. Then we break the balance: the generator takes **five** steps per discriminator
# step. It now finds, before $D$ can react, the single point $D$ likes best, and sends every
# $z$ there: **mode collapse**. Then $D$ learns to reject that point, and the generator jumps
# to the next favourite, round and round the ring, never covering it.

# %%
angles = torch.arange(8) * (2 * math.pi / 8)
centres = 2 * torch.stack([angles.cos(), angles.sin()], dim=1)  # (8, 2)


def ring(n: int, g: torch.Generator) -> torch.Tensor:
    """n samples of the mixture (n, 2): a random centre plus N(0, 0.05²) noise."""
    return centres[torch.randint(0, 8, (n,), generator=g)] + 0.05 * torch.randn(n, 2, generator=g)


def coverage(x: torch.Tensor) -> tuple[int, float]:
    """(modes holding >= 2 % of the samples, share of samples within 0.2 of a centre)."""
    dist, nearest = torch.cdist(x, centres).min(dim=1)
    good = dist < 0.2
    counts = torch.bincount(nearest[good], minlength=8)
    return int((counts >= 0.02 * len(x)).sum()), float(good.float().mean())


def train_gan(steps: int, generator_steps: int, seed: int = 0, batch: int = 128):
    """Alternate 1 discriminator step and `generator_steps` generator steps; return G and
    snapshots {step: samples of a fixed z} at 4 evenly spaced steps."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    gen, disc = mlp(2, 2, 64), mlp(2, 1, 64)
    opt_g = torch.optim.Adam(gen.parameters(), lr=2e-3, betas=(0.5, 0.99))
    opt_d = torch.optim.Adam(disc.parameters(), lr=2e-3, betas=(0.5, 0.99))
    target = torch.cat([torch.ones(batch, 1), torch.zeros(batch, 1)])
    z_fixed, shots = torch.randn(1000, 2, generator=g), {}
    for step in range(1, steps + 1):
        fake = gen(torch.randn(batch, 2, generator=g)).detach()
        d_loss = F.binary_cross_entropy_with_logits(disc(torch.cat([ring(batch, g), fake])), target)
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        for _ in range(generator_steps):
            g_loss = -F.logsigmoid(disc(gen(torch.randn(batch, 2, generator=g)))).mean()
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
        if step % (steps // 4) == 0:
            with torch.no_grad():
                shots[step] = gen(z_fixed)
    return gen, shots


balanced, balanced_shots = train_gan(steps=800, generator_steps=1)
greedy, greedy_shots = train_gan(steps=200, generator_steps=5)
for name, shots in (("1:1", balanced_shots), ("5 G steps per D step", greedy_shots)):
    for step, x in shots.items():
        modes, quality = coverage(x)
        print(f"{name:>21s}  step {step:4d}: {modes} modes covered, {quality:.0%} of samples "
              f"near a centre, spread {x.std(0).mean():.2f}")  # fmt: skip
final_modes, final_quality = coverage(balanced_shots[800])
assert final_modes >= 6 and final_quality > 0.4  # the balanced game finds (nearly) every mode
collapsed = [coverage(x)[0] for x in greedy_shots.values()]
assert max(collapsed) <= 2, collapsed  # the greedy generator never holds more than 2 modes
spread = [float(x.std(0).mean()) for x in greedy_shots.values()]
assert sum(spread) / len(spread) < 0.5 < float(balanced_shots[800].std(0).mean())  # ring: 1.41
centre_of_mass = torch.stack([x.mean(0) for x in greedy_shots.values()])  # (4, 2)
print(
    "where the collapsed generator sits:",
    [tuple(round(v, 1) for v in c.tolist()) for c in centre_of_mass],
)

real_points = ring(2000, torch.Generator().manual_seed(1))
fig, axes = plt.subplots(2, 4, figsize=(13, 6.6), sharex=True, sharey=True)
for row, (name, shots) in enumerate(
    (("1 D step : 1 G step", balanced_shots), ("1 D step : 5 G steps", greedy_shots))
):
    for ax, (step, x) in zip(axes[row], shots.items(), strict=True):
        ax.scatter(*real_points.T, s=2, c="lightgrey", label="data")
        ax.scatter(*x.T, s=2, c="C0" if row == 0 else "C3", label="generated")
        modes, _ = coverage(x)
        ax.set_title(f"{name}, step {step}: {modes}/8 modes", fontsize=9)
        ax.set_xlim(-3, 3)
        ax.set_ylim(-3, 3)
        ax.set_aspect("equal")
for ax in axes[:, 0]:
    ax.set_ylabel("x₂")
for ax in axes[1]:
    ax.set_xlabel("x₁")
axes[0, 0].legend(fontsize=7, markerscale=4, loc="upper left")
fig.suptitle("A balanced game covers the ring; a generator that outruns D collapses and hops")
fig.tight_layout()
lesson.save(fig, "ring_mode_collapse.png")

# %% [markdown]
# ## 4. Wasserstein GANs and the gradient penalty
#
# Section 1 said the generator, facing a perfect discriminator, minimises the JSD. But when
# the two distributions barely overlap, as they do early on (and always, for images on a thin
# manifold), the JSD is stuck at $\log 2$ whatever the distance: **no gradient** tells the
# generator which way to go. The **Wasserstein-1 distance** (the earth mover's distance)
# grows with the distance instead. Arjovsky et al. (2017) show it with two point masses; we
# use two narrow Gaussians, $N(0, 0.1^2)$ and $N(\theta, 0.1^2)$, whose $W_1$ is exactly
# $|\theta|$.

# %%
thetas = torch.linspace(0, 3, 61, dtype=torch.float64)
js_curve = []
js_curve = torch.tensor(
    [
        jsd_on_grid(log_density(Normal(0.0, 0.1)), log_density(Normal(theta, 0.1)))
        for theta in thetas
    ]
)
w1_curve = thetas.abs()
flat = thetas >= 1
print(f"JSD for theta >= 1: {js_curve[flat].min():.6f} .. {js_curve[flat].max():.6f} "
      f"(log 2 = {math.log(2):.6f}); W1 = theta")  # fmt: skip
assert (js_curve[flat] - math.log(2)).abs().max() < 1e-6  # flat: zero gradient in theta
assert js_curve[0] < 1e-9

# %% [markdown]
# By the Kantorovich–Rubinstein duality,
# $W_1(p, q) = \sup_{\lVert f \rVert_L \le 1} \mathbb{E}_p[f] - \mathbb{E}_q[f]$: a
# **critic** $f$ (no sigmoid, any real score) that is 1-Lipschitz. WGAN clipped the weights
# to keep it Lipschitz, which makes the critic too simple and training slow. **WGAN-GP**
# (Gulrajani et al. 2017) instead penalises the gradient norm where it matters, at random
# points $\hat x = \epsilon x + (1 - \epsilon) \tilde x$ between a real $x$ and a generated
# $\tilde x$ ($\epsilon \sim U[0, 1]$, one per pair):
#
# $$L_\text{critic} = \mathbb{E}[f(\tilde x)] - \mathbb{E}[f(x)]
#   + \lambda\, \mathbb{E}\big[(\lVert \nabla_{\hat x} f(\hat x) \rVert_2 - 1)^2\big],
#   \qquad \lambda = 10.$$
#
# The optimal critic has gradient norm 1 on those lines, so the penalty asks for what the
# optimum has anyway. We train one against the far generator of section 2 and measure what
# it hands the generator: a slope of about 1 where the saturating discriminator gave nothing.

# %%
critic = mlp(1, 1)
opt = torch.optim.Adam(critic.parameters(), lr=5e-3, betas=(0.5, 0.9))
for _ in range(150):
    real, fake = p_data.sample((256, 1)), p_far.sample((256, 1))
    eps = torch.rand(256, 1)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (g,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    loss = critic(fake).mean() - critic(real).mean() + 10 * ((g.norm(dim=1) - 1) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
between = torch.linspace(-3.0, 2.0, 101)[:, None].requires_grad_(True)
(slope,) = torch.autograd.grad(critic(between).sum(), between)
fake = mu + s * torch.randn(4096)
(grad_w,) = torch.autograd.grad(-critic(fake[:, None]).mean(), mu)  # the generator's loss
print(f"critic slope between the two: {slope.mean():.2f} +- {slope.std():.2f}; "
      f"d(-f(G(z)))/d mu = {grad_w:.2f} (saturating loss: {grad_sat:.1e})")  # fmt: skip
assert 0.8 < float(slope.mean()) < 1.5  # about 1; a soft penalty lets it exceed 1 a little
assert grad_w < -0.5  # a unit-sized push towards the data

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
axes[0].plot(thetas, js_curve, label="JSD(N(0, 0.1²) ‖ N(θ, 0.1²))")
axes[0].plot(thetas, w1_curve, label="$W_1$ = |θ|")
axes[0].axhline(math.log(2), color="grey", ls=":", label="log 2")
axes[0].set_xlabel("θ (distance between the distributions)")
axes[0].set_ylabel("divergence")
axes[0].set_title("JSD saturates at log 2; W1 keeps growing")
axes[0].legend(fontsize=8)
with torch.no_grad():
    axes[1].plot(grid, critic(grid.float()[:, None])[:, 0], "k-", label="critic f(x) (WGAN-GP)")
axes[1].fill_between(grid, pd * 2, alpha=0.3, label="real N(2, 0.5²)")
axes[1].fill_between(grid, p_far.log_prob(grid).exp() * 2, alpha=0.3, label="generated N(-3, 0.5²)")
axes[1].set_xlabel("x")
axes[1].set_ylabel("critic score / density x 2")
axes[1].set_title("The critic is a ramp of slope ~1 between them")
axes[1].legend(fontsize=8)
fig.tight_layout()
lesson.save(fig, "wasserstein_critic.png")

# %% [markdown]
# ### The penalty by hand
#
# The penalty needs the critic's gradient **with respect to its input**, per sample, and it
# must itself be differentiable with respect to the critic's weights, since it is part of
# the critic's loss: a gradient of a gradient (`create_graph=True`). For a one-hidden-layer
# critic $f(x) = w_2 \cdot \tanh(W_1 x + b_1) + b_2$ the chain rule gives, with
# $h = \tanh(W_1 x + b_1)$,
#
# $$\nabla_x f = W_1^\top \big(w_2 \odot (1 - h^2)\big).$$
#
# We compute the penalty three ways (this formula, autograd, and dllab's
# `dllab.tasks.gan.gradient_penalty` that the `gan-wgan-gp` recipe trains with) and check
# with `gradcheck` that autograd differentiates the penalty itself correctly.

# %%
torch.manual_seed(1)
n, dim, hidden = 16, 2, 8
W1 = torch.randn(hidden, dim, dtype=torch.float64, requires_grad=True)
b1 = torch.randn(hidden, dtype=torch.float64)
w2 = torch.randn(hidden, dtype=torch.float64)
real, fake = torch.randn(n, dim, dtype=torch.float64), torch.randn(n, dim, dtype=torch.float64)
eps = torch.rand(n, 1, dtype=torch.float64)


def tanh_critic(x: torch.Tensor, W1: torch.Tensor = W1) -> torch.Tensor:
    return torch.tanh(x @ W1.T + b1) @ w2 + 0.3  # (N,)


def penalty_by_hand(W1: torch.Tensor) -> torch.Tensor:
    x_hat = eps * real + (1 - eps) * fake  # (N, D): one eps per pair
    h = torch.tanh(x_hat @ W1.T + b1)  # (N, H)
    grad = (w2 * (1 - h**2)) @ W1  # (N, D): the input gradient of each row's score
    return ((grad.norm(dim=1) - 1) ** 2).mean()


x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
(grad_auto,) = torch.autograd.grad(tanh_critic(x_hat).sum(), x_hat)
by_autograd = ((grad_auto.norm(dim=1) - 1) ** 2).mean()
by_dllab = gradient_penalty(tanh_critic, real, fake, eps=eps)
print(f"penalty: by hand {penalty_by_hand(W1):.10f}, autograd {by_autograd:.10f}, "
      f"dllab {by_dllab:.10f}")  # fmt: skip
torch.testing.assert_close(penalty_by_hand(W1), by_autograd)
torch.testing.assert_close(by_dllab, by_autograd)
assert torch.autograd.gradcheck(penalty_by_hand, (W1,))  # its gradient in W1 is right too

# A linear critic with a unit-norm weight has gradient norm 1 everywhere: penalty 0.
unit = torch.tensor([0.6, 0.8], dtype=torch.float64)
assert gradient_penalty(lambda x: x @ unit, real, fake) < 1e-20

# %% [markdown]
# ## 5. Measuring a GAN: FID, and whose features
#
# A GAN has no likelihood to report. The **Fréchet Inception Distance** (Heusel et al. 2017)
# fits a Gaussian to the *features* of real and of generated samples and measures the
# Fréchet (Wasserstein-2) distance between the two Gaussians:
#
# $$\mathrm{FID} = \lVert \mu_r - \mu_g \rVert^2
#   + \operatorname{Tr}\big(\Sigma_r + \Sigma_g - 2 (\Sigma_r \Sigma_g)^{1/2}\big).$$
#
# On the ring the "features" can be the 2-D points themselves. We compute FID by hand,
# check it against torchmetrics (given our features instead of Inception's), and compare the
# balanced GAN, the collapsed one, and the **floor**: two independent real samples, which is
# as low as any model can go with this many samples.


# %%
def sqrt_psd(m: torch.Tensor) -> torch.Tensor:
    """The square root of a symmetric positive semi-definite matrix, from its eigenvectors."""
    values, vectors = torch.linalg.eigh(m)
    return vectors @ torch.diag(values.clamp(min=0).sqrt()) @ vectors.T


def fid_by_hand(a: torch.Tensor, b: torch.Tensor) -> float:
    """FID of two feature sets (N, F). Tr((Σa Σb)^½) = Tr((Σa^½ Σb Σa^½)^½): the same
    eigenvalues, and the second matrix is symmetric, so `eigh` can take its root."""
    a, b = a.double(), b.double()
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)  # (F, F)
    root_a = sqrt_psd(cov_a)
    cross = torch.trace(sqrt_psd(root_a @ cov_b @ root_a))
    return float((a.mean(0) - b.mean(0)).pow(2).sum() + torch.trace(cov_a + cov_b) - 2 * cross)


class Points(nn.Module):
    """The 'feature extractor' handed to torchmetrics: the points are their own features."""

    num_features = 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


with torch.no_grad():
    candidates = {
        "real vs real (floor)": ring(1000, torch.Generator().manual_seed(2)),
        "balanced GAN": balanced(torch.randn(1000, 2)),
        "collapsed GAN": greedy(torch.randn(1000, 2)),
    }
fids = {}
for name, samples in candidates.items():
    fids[name] = fid_by_hand(real_points, samples)
    metric = FrechetInceptionDistance(feature=Points())
    metric.update(real_points.double(), real=True)
    metric.update(samples.double(), real=False)
    assert abs(float(metric.compute()) - fids[name]) < 1e-4 * (1 + fids[name])
    print(f"FID {name:>21s}: {fids[name]:.4f}  (torchmetrics agrees)")
assert fids["real vs real (floor)"] < fids["balanced GAN"] < fids["collapsed GAN"]

# %% [markdown]
# FID sees the collapse because it compares the *spread* (the covariances) as well as the
# centre. It is blind to whatever its features are blind to, so the features are a choice:
#
# - Papers use the 2048 pooled features of an **Inception-v3** trained on ImageNet. Those
#   weights must be downloaded, and dllab runs without a network; and Inception was made for
#   299-pixel colour photographs, not 28-pixel grey clothes.
# - dllab takes the features of a **Fashion-MNIST classifier it trained itself** (the
#   penultimate layer of a `fashion-mnist-fast` run): the usual practice for MNIST-like data.
#   Its FIDs rank models measured with the *same* classifier, and are **not comparable** to
#   the Inception FIDs of papers (Lucic et al. 2018 report 21.5–30.7 on Fashion-MNIST).
#   Every report states the floor (real train images against real test images) beside the
#   models.
#
# To train the real thing on Fashion-MNIST (transposed convolutions, BatchNorm, the
# non-saturating loss, a sample grid per validation and an animation of them):
#
# ```bash
# dllab run fashion-mnist-fast                               # the feature classifier
# dllab run gan-dcgan task.feature_run=runs/<its run folder>  # FID, KID, class histogram
# dllab run gan-wgan-gp task.feature_run=runs/<...>           # the critic with the penalty
# ```
#
# The report also draws the class histogram of 10,000 samples under that classifier and names
# mode collapse when one class takes more than 30 % of them.

# %%
elapsed = time.process_time() - started
print(f"lesson computed in {elapsed:.1f} s of CPU")

# %% [markdown]
# ## Exercises
#
# - `dllab lab start gradient_penalty` — WGAN-GP's penalty with the critic's input gradient
#   written by hand, checked against autograd.
#
# To try here (not graded):
#
# 1. Train the ring GAN of section 3 with the *saturating* generator loss: how many modes at
#    step 800, and how long until the first one?
# 2. Give the greedy generator a discriminator learning rate five times larger: does the
#    balance, not the count of steps, decide the collapse?
# 3. Train the critic of section 4 without the penalty (`10 *` → `0 *`): what happens to its
#    slope, and why does an unconstrained critic give no distance at all?
