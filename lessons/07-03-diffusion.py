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
# # 07-03 · Diffusion: noising in closed form, predicting the noise, DDPM and DDIM
#
# A **diffusion model** (Sohl-Dickstein et al. 2015; Ho, Jain & Abbeel 2020, "DDPM") learns
# to undo a process that is easy to run forwards: add a little Gaussian noise, many times,
# until the data is pure noise. If a network can take one small step *back*, then starting
# from fresh noise and stepping back all the way produces new data. This lesson:
#
# 1. runs the **forward process** and checks its closed form $q(x_t \mid x_0)$ against
#    iterating the chain, and against dllab's schedule;
# 2. derives the **noise-prediction loss** and the **reverse step** (the posterior
#    $q(x_{t-1} \mid x_t, x_0)$, checked by regression on samples);
# 3. trains a **tiny DDPM** on eight Gaussians in the plane in a few seconds, and samples it
#    along the reverse process, by hand and with dllab's sampler;
# 4. samples it again with **DDIM** in a fraction of the steps.

# %%
import math
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from dllab.models.diffusion import (
    NoiseSchedule,
    ddim_sample,
    ddpm_sample,
    q_sample,
    timestep_embedding,
)
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("07-03-diffusion")
torch.set_num_threads(1)  # tiny networks: one thread is fastest, and the timings are fair
torch.manual_seed(0)
started = time.process_time()

# The data: eight Gaussians (standard deviation 0.1) on the unit circle.
angles = torch.arange(8) * (2 * math.pi / 8)
centres = torch.stack([angles.cos(), angles.sin()], dim=1)  # (8, 2)


def eight_gaussians(n: int, g: torch.Generator) -> torch.Tensor:
    """n points (n, 2): a random centre plus N(0, 0.1²) noise."""
    return centres[torch.randint(0, 8, (n,), generator=g)] + 0.1 * torch.randn(n, 2, generator=g)


data = eight_gaussians(2000, torch.Generator().manual_seed(1))

# %% [markdown]
# ## 1. The forward process, and its closed form
#
# Each step shrinks the point a little and adds noise of variance $\beta_t$:
#
# $$q(x_t \mid x_{t-1}) = N\big(\sqrt{1 - \beta_t}\, x_{t-1},\ \beta_t I\big).$$
#
# The shrinking keeps the variance from growing: data of unit variance stays at unit
# variance. Composing Gaussian steps gives a Gaussian, so any step can be reached in **one**
# draw (Ho et al., eq. 4), with $\alpha_t = 1 - \beta_t$ and $\bar\alpha_t = \prod_{s \le t}
# \alpha_s$:
#
# $$q(x_t \mid x_0) = N\big(\sqrt{\bar\alpha_t}\, x_0,\ (1 - \bar\alpha_t) I\big), \qquad
#   x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, \varepsilon.$$
#
# Training needs exactly that: a noisy $x_t$ at a random step, in one line, without running
# the chain. We use $T = 50$ steps with Ho et al.'s linear $\beta$ (1e-4 to 0.02 over
# 1,000 steps), which dllab rescales for a shorter $T$ so that the total noise stays alike;
# steps are numbered $0 \ldots T - 1$ as in dllab.

# %%
T = 50
schedule = NoiseSchedule.create("linear", T)
betas = torch.linspace(1e-4 * 1000 / T, 0.02 * 1000 / T, T, dtype=torch.float64)
alpha_bar = torch.cumprod(1 - betas, dim=0)
torch.testing.assert_close(schedule.betas, betas)
torch.testing.assert_close(schedule.alphas_cumprod, alpha_bar)
print(
    f"beta from {betas[0]:.4f} to {betas[-1]:.2f}; alpha_bar at the last step {alpha_bar[-1]:.1e}"
)

# Composing the steps exactly: the mean's factor and the variance, step by step.
factor, variance = torch.tensor(1.0, dtype=torch.float64), torch.tensor(0.0, dtype=torch.float64)
for t in range(T):
    factor = factor * (1 - betas[t]).sqrt()
    variance = (1 - betas[t]) * variance + betas[t]
    assert abs(factor - alpha_bar[t].sqrt()) < 1e-12 and abs(variance - (1 - alpha_bar[t])) < 1e-12
print("the chain's mean factor == sqrt(alpha_bar) and its variance == 1 - alpha_bar, at every t")

# Running the chain on 20,000 copies of one point, against one draw of the closed form.
x0 = torch.tensor([[0.7, -0.7]]).repeat(20_000, 1)
x = x0.clone()
g = torch.Generator().manual_seed(2)
for t in range(20):
    x = (1 - betas[t]).sqrt().float() * x + betas[t].sqrt().float() * torch.randn(
        x.shape, generator=g
    )
t_check = torch.full((20_000,), 19)
one_shot = q_sample(schedule, x0, t_check, torch.randn(x.shape, generator=g))  # dllab's
mean_expected = alpha_bar[19].sqrt().float() * x0[0]
std_expected = float((1 - alpha_bar[19]).sqrt())
for name, samples in (("20 chain steps", x), ("closed form", one_shot)):
    print(f"{name:>15s}: mean {samples.mean(0).tolist()}, std {samples.std(0).tolist()}")
    standard_error = std_expected / math.sqrt(len(samples))
    assert (samples.mean(0) - mean_expected).abs().max() < 4 * standard_error
    assert (samples.std(0) / std_expected - 1).abs().max() < 0.03
print(f"expected: mean {mean_expected.tolist()}, std {std_expected:.4f}")

# dllab's q_sample is the formula, sample for sample.
eps = torch.randn(8, 2)
t_some = torch.randint(0, T, (8,))
ab = alpha_bar[t_some].float()[:, None]
torch.testing.assert_close(
    q_sample(schedule, data[:8], t_some, eps), ab.sqrt() * data[:8] + (1 - ab).sqrt() * eps
)

fig, axes = plt.subplots(1, 6, figsize=(16, 3.2))
g = torch.Generator().manual_seed(3)
for ax, t in zip(axes[:5], (0, 5, 10, 20, 49), strict=True):
    noisy = q_sample(
        schedule, data, torch.full((len(data),), t), torch.randn(data.shape, generator=g)
    )
    ax.scatter(*noisy.T, s=1)
    ax.set_title(f"t = {t}: ᾱ = {alpha_bar[t]:.3f}", fontsize=9)
    ax.set_xlim(-3, 3)
    ax.set_ylim(-3, 3)
    ax.set_aspect("equal")
    ax.set_xlabel("x₁")
axes[0].set_ylabel("x₂")
axes[5].plot(alpha_bar, label="linear (used here)")
axes[5].plot(NoiseSchedule.create("cosine", T).alphas_cumprod, label="cosine")
axes[5].set_xlabel("step t")
axes[5].set_ylabel("ᾱ_t (signal kept)")
axes[5].set_title("Schedules", fontsize=9)
axes[5].legend(fontsize=7)
fig.suptitle("The forward process: q(x_t | x_0) drawn in one step for each t")
fig.tight_layout()
lesson.save(fig, "forward_process.png")

# %% [markdown]
# ## 2. The loss and the reverse step
#
# **The loss.** Draw $x_0$ from the data, a step $t$ uniformly and the noise $\varepsilon$;
# make $x_t$ in closed form and ask a network $\varepsilon_\theta(x_t, t)$ for the noise that
# was added (Ho et al., eq. 14, "$L_\text{simple}$"):
#
# $$L = \mathbb{E}_{x_0, t, \varepsilon}\, \big\lVert \varepsilon - \varepsilon_\theta\big(\sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, \varepsilon,\ t\big) \big\rVert^2.$$
#
# Knowing the noise is knowing the clean point: $\hat x_0 = (x_t - \sqrt{1 - \bar\alpha_t}\,
# \hat\varepsilon) / \sqrt{\bar\alpha_t}$.
#
# **The reverse step.** Given $x_0$, the step back is Gaussian with a known mean and
# variance (Ho et al., eqs. 6–7):
#
# $$q(x_{t-1} \mid x_t, x_0) = N(\tilde\mu, \tilde\beta_t I), \quad
#   \tilde\mu = \frac{\sqrt{\bar\alpha_{t-1}}\, \beta_t}{1 - \bar\alpha_t}\, x_0
#   + \frac{\sqrt{\alpha_t}\,(1 - \bar\alpha_{t-1})}{1 - \bar\alpha_t}\, x_t, \quad
#   \tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}\, \beta_t.$$
#
# A DDPM samples by putting its $\hat x_0$ in place of $x_0$. We check the formula without
# trusting the algebra: draw pairs $(x_{t-1}, x_t)$ forwards from one $x_0$, regress
# $x_{t-1}$ on $x_t$, and compare slope, intercept and residual variance.

# %%
x0_value, t = 0.8, 10
ab_t, ab_prev, beta_t = alpha_bar[t], alpha_bar[t - 1], betas[t]
g = torch.Generator().manual_seed(4)
n = 400_000
x_prev = ab_prev.sqrt() * x0_value + (1 - ab_prev).sqrt() * torch.randn(
    n, generator=g, dtype=torch.float64
)
x_t = (1 - beta_t).sqrt() * x_prev + beta_t.sqrt() * torch.randn(
    n, generator=g, dtype=torch.float64
)
design = torch.stack([x_t, torch.ones(n, dtype=torch.float64)], dim=1)  # (n, 2)
(slope, intercept) = torch.linalg.lstsq(design, x_prev[:, None]).solution[:, 0]
residual = float((x_prev - slope * x_t - intercept).var())
slope_formula = float((1 - beta_t).sqrt() * (1 - ab_prev) / (1 - ab_t))
intercept_formula = float(ab_prev.sqrt() * beta_t / (1 - ab_t) * x0_value)
variance_formula = float((1 - ab_prev) / (1 - ab_t) * beta_t)
print(f"slope {slope:.4f} vs {slope_formula:.4f}; intercept {intercept:.4f} vs "
      f"{intercept_formula:.4f}; variance {residual:.5f} vs {variance_formula:.5f}")  # fmt: skip
assert abs(float(slope) - slope_formula) < 0.01
assert abs(float(intercept) - intercept_formula) < 0.01
assert abs(residual / variance_formula - 1) < 0.01

# The true noise gives back x_0 exactly; so a network that predicts the noise denoises.
t_some = torch.randint(0, T, (64,))
eps = torch.randn(64, 2)
noisy = q_sample(schedule, data[:64], t_some, eps)
ab = alpha_bar[t_some].float()[:, None]
torch.testing.assert_close(
    (noisy - (1 - ab).sqrt() * eps) / ab.sqrt(), data[:64], atol=1e-4, rtol=0
)

# %% [markdown]
# ## 3. A tiny DDPM on eight Gaussians
#
# The network gets the point and the step. Two choices make it learn in seconds rather than
# minutes, and both are common in small diffusion models:
#
# - the step $t$ enters as a sinusoidal embedding (dllab's `timestep_embedding`, the
#   Transformer's positions), **added inside every residual block**, as DDPM's U-Net does;
# - the point enters with **Fourier features** $\sin(2^{k+1} x), \cos(2^{k+1} x)$,
#   $k = 0 \ldots 3$, beside $x$ itself: a plain MLP learns smooth functions first (the
#   spectral bias; Tancik et al. 2020), and without them, in as many steps, it learned only a
#   blurred circle, not the eight clusters.
#
# Training is the loss of section 2, nothing else: 800 steps of 256 points, Adam with a
# cosine-decayed rate.


# %%
class Denoiser(nn.Module):
    """ε_θ(x_t, t) for points in the plane: (B, 2), (B,) long -> (B, 2)."""

    def __init__(self, width: int = 128, octaves: int = 4, blocks: int = 3) -> None:
        super().__init__()
        self.frequencies = 2.0 * 2.0 ** torch.arange(octaves)  # 2, 4, 8, 16 radians per unit
        self.inp = nn.Linear(2 + 4 * octaves, width)
        self.time = nn.Sequential(nn.Linear(32, width), nn.SiLU(), nn.Linear(width, blocks * width))
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.SiLU(), nn.Linear(width, width)) for _ in range(blocks)
        )
        self.out = nn.Sequential(nn.SiLU(), nn.Linear(width, 2))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        phases = (x[:, :, None] * self.frequencies).flatten(1)  # (B, 2 * octaves)
        h = self.inp(torch.cat([x, phases.sin(), phases.cos()], dim=1))  # (B, width)
        steps = self.time(timestep_embedding(t, 32)).chunk(len(self.blocks), dim=1)
        for block, step in zip(self.blocks, steps, strict=True):
            h = h + block(h + step)  # residual, the step added in every block
        return self.out(h)


model = Denoiser()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
train_steps = 800
decay = torch.optim.lr_scheduler.CosineAnnealingLR(opt, train_steps)
g = torch.Generator().manual_seed(5)
losses = []
for _ in range(train_steps):
    x0 = eight_gaussians(256, g)
    t = torch.randint(0, T, (256,), generator=g)
    eps = torch.randn(256, 2, generator=g)
    loss = F.mse_loss(model(q_sample(schedule, x0, t, eps), t), eps)
    opt.zero_grad()
    loss.backward()
    opt.step()
    decay.step()
    losses.append(loss.item())
print(f"noise-prediction loss: first 50 steps {sum(losses[:50]) / 50:.3f}, last 50 "
      f"{sum(losses[-50:]) / 50:.3f} (predicting 0 scores 1.0)")  # fmt: skip
assert sum(losses[-50:]) / 50 < 0.7 * sum(losses[:50]) / 50  # the last stretch is the hard part

# %% [markdown]
# ### Sampling: the reverse process
#
# Start from $x_{T-1} \sim N(0, I)$ and, for $t = T-1, \ldots, 0$: predict the noise, form
# $\hat x_0$, and draw $x_{t-1}$ from $N(\tilde\mu(x_t, \hat x_0), \tilde\beta_t I)$; the last
# step adds no noise (Ho et al., algorithm 2). Written out by hand, it must give exactly what
# `dllab.models.diffusion.ddpm_sample` gives from the same noise.


# %%
@torch.no_grad()
def ddpm_by_hand(x: torch.Tensor, g: torch.Generator, keep=(49, 15, 8, 4, 2)):
    shots = {}
    for t in reversed(range(T)):
        if t in keep:
            shots[t] = x.clone()
        ab_t = alpha_bar[t].float()
        ab_prev = alpha_bar[t - 1].float() if t > 0 else torch.tensor(1.0)
        beta = 1 - ab_t / ab_prev
        eps_hat = model(x, torch.full((len(x),), t))
        x0_hat = (x - (1 - ab_t).sqrt() * eps_hat) / ab_t.sqrt()
        mean = (beta * ab_prev.sqrt() * x0_hat + (1 - ab_prev) * (1 - beta).sqrt() * x) / (1 - ab_t)
        z = torch.randn(x.shape, generator=g)  # drawn at every step, as dllab does
        x = mean + ((beta * (1 - ab_prev) / (1 - ab_t)).sqrt() * z if t > 0 else 0)
    return x, shots


x_T = torch.randn(2000, 2, generator=torch.Generator().manual_seed(6))
samples, shots = ddpm_by_hand(x_T, torch.Generator().manual_seed(7))
theirs, _ = ddpm_sample(
    model, schedule, x_T, generator=torch.Generator().manual_seed(7), clip=False
)
torch.testing.assert_close(samples, theirs, atol=1e-4, rtol=1e-4)
print("the reverse process by hand == dllab's ddpm_sample, from the same noise")


def quality(x: torch.Tensor) -> tuple[float, torch.Tensor]:
    """(median distance to the nearest centre, share of the samples nearest each centre)."""
    dist, nearest = torch.cdist(x, centres).min(dim=1)
    return float(dist.median()), torch.bincount(nearest, minlength=8) / len(x)


d_data, _ = quality(data)
d_noise, _ = quality(x_T)
d_ddpm, shares = quality(samples)
print(f"median distance to a centre: data {d_data:.3f}, DDPM samples {d_ddpm:.3f}, "
      f"the starting noise {d_noise:.3f}")  # fmt: skip
print("share of samples per mode:", [round(float(s), 3) for s in shares])
assert d_ddpm < 0.5 * d_noise
assert shares.min() > 0.05  # every one of the eight modes is there: no collapse

fig, axes = plt.subplots(1, 6, figsize=(16, 3.2))
for ax, (t, x) in zip(axes, [*shots.items(), ("end", samples)], strict=True):
    ax.scatter(*data.T, s=1, c="lightgrey")
    ax.scatter(*x.T, s=1, c="C0")
    ax.set_title(f"x_{t}" if t != "end" else "x_0: the samples", fontsize=9)
    ax.set_xlim(-2.5, 2.5)
    ax.set_ylim(-2.5, 2.5)
    ax.set_aspect("equal")
    ax.set_xlabel("x₁")
axes[0].set_ylabel("x₂")
fig.suptitle("The reverse process, 50 DDPM steps from noise (grey: the data)")
fig.tight_layout()
lesson.save(fig, "reverse_process.png")

# %% [markdown]
# Every mode is there, in about the right share. This is where diffusion differs most from
# the GAN of lesson 07-01: its loss is a regression on every region of the data, so no
# generator can win by covering a single mode.
#
# ## 4. DDIM: the same model, fewer steps
#
# A DDPM needs all $T$ network calls per sample (Ho et al. used $T = 1000$). Song, Meng &
# Ermon (2021) noticed that the loss only ever sees the marginals $q(x_t \mid x_0)$, and many
# processes share them, including a **deterministic** one. Its update (DDIM, eq. 12, with
# $\eta = 0$) jumps from step $t$ to any earlier step $s$:
#
# $$x_s = \sqrt{\bar\alpha_s}\, \hat x_0 + \sqrt{1 - \bar\alpha_s}\, \hat\varepsilon.$$
#
# So one trained model samples on a subsequence of the steps: 10 calls instead of 50, with no
# retraining. The same $x_T$ always gives the same sample. The price is accuracy: each jump
# trusts one prediction of $\hat x_0$ further, and the fewer the steps, the larger the jumps.
# With 25 steps the clusters are as tight as DDPM's; with 10 they smear into arcs along the
# circle, though every mode keeps its share.

# %%
results = {}
for steps in (50, 25, 10):
    began = time.perf_counter()
    x, _ = ddim_sample(model, schedule, x_T, steps=steps, clip=False)
    seconds = time.perf_counter() - began
    results[steps] = (x, *quality(x), seconds)
    print(f"DDIM, {steps:2d} steps: median distance {results[steps][1]:.3f}, smallest mode share "
          f"{results[steps][2].min():.3f}, {seconds * 1000:.0f} ms")  # fmt: skip
again, _ = ddim_sample(model, schedule, x_T, steps=10, clip=False)
assert torch.equal(again, results[10][0])  # eta = 0: deterministic
assert results[10][1] < 0.6 * d_noise  # ten calls still give the eight clusters
assert results[10][2].min() > 0.03

fig, axes = plt.subplots(1, 4, figsize=(14, 3.8))
panels = [(samples, f"DDPM, 50 steps: {d_ddpm:.3f}")]
panels += [(results[s][0], f"DDIM, {s} steps: {results[s][1]:.3f}") for s in (25, 10)]
panels += [(data, f"the data: {d_data:.3f}")]
for ax, (x, title) in zip(axes, panels, strict=True):
    ax.scatter(*x.T, s=1, c="C0" if x is not data else "grey")
    ax.set_title(title, fontsize=9)
    ax.set_xlim(-1.8, 1.8)
    ax.set_ylim(-1.8, 1.8)
    ax.set_aspect("equal")
    ax.set_xlabel("x₁")
axes[0].set_ylabel("x₂")
fig.suptitle("Samples from one trained model (title: median distance to the nearest centre)")
fig.tight_layout()
lesson.save(fig, "ddpm_vs_ddim.png")
print(f"lesson computed in {time.process_time() - started:.1f} s of CPU")

# %% [markdown]
# On Fashion-MNIST the `ddpm-fashion` recipe trains dllab's small U-Net
# (`dllab.models.diffusion.DiffusionUNet`: residual blocks with the step embedding, attention
# at the lowest resolution) with the same loss; its report shows samples along the reverse
# process, times full DDPM sampling on 100 images, and measures FID on DDIM samples with at
# most 50 steps: `dllab run ddpm-fashion`.
#
# ## Exercises
#
# - `dllab lab start ddpm_step` — the linear schedule's $\bar\alpha$, one forward noising step
#   and the noise-prediction loss, checked against a reference.
#
# To try here (not graded):
#
# 1. Train with `NoiseSchedule.create("cosine", T)`: do the DDIM samples with 10 steps
#    improve?
# 2. Remove the Fourier features (`octaves=0`) and train again: what do the samples look like?
# 3. Sample with DDIM and $\eta = 1$ over all 50 steps (`ddim_sample(..., eta=1.0,
#    generator=...)`): how close is it to DDPM?
