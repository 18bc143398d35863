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
# # 01-05 · Gradient descent and optimisers
#
# Backpropagation gives the gradient $g = \nabla_\theta L$; an **optimiser** decides how to
# move the parameters with it. The simplest rule is **gradient descent**,
#
# $$\theta_{t+1} = \theta_t - \eta\, g_t,$$
#
# with learning rate $\eta$. With a mini-batch estimate of $g$ it is *stochastic* gradient
# descent (SGD). Everything else — momentum, RMSprop, Adam — is a fix for a weakness of this
# rule that shows up on badly shaped loss surfaces. To *see* those weaknesses we run the
# optimisers on two-parameter functions, where the whole path fits on a plot:
#
# - an **ill-conditioned quadratic** bowl, steep in one direction and flat in the other;
# - the **Rosenbrock** function, a curved, narrow valley.
#
# All runs use the optimisers of `dllab.scratch.optim`, and section 5 proves that they take
# exactly the same steps as `torch.optim`.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import LogNorm
from threadpoolctl import threadpool_limits

import dllab.scratch as st
import dllab.scratch.functional as SF
import dllab.scratch.nn as snn
from dllab.data.digits import load_digits_arrays
from dllab.viz import setup_lesson

# Figures go to the folder given on the command line, else to lesson-output/<name>.
lesson = setup_lesson("01-05-optimizers")

# dllab.scratch multiplies small matrices, for which one BLAS thread is faster than several
# that wait for each other (5-10x faster on a busy 2-core machine).
threadpool_limits(limits=1, user_api="blas")

# %% [markdown]
# Two test functions. They use only indexing and arithmetic, so the same Python function
# works on a `dllab.scratch` tensor and on a `torch` tensor. `run` minimises one of them with
# an optimiser built by `make(lib, params)`, where `lib` is either engine, and records the
# path.

# %%
LAMBDA_MIN, LAMBDA_MAX = 1.0, 50.0  # curvatures of the bowl along x and along y


def quadratic(p):
    """f(x, y) = (λ_min x² + λ_max y²) / 2: Hessian diag(1, 50), condition number κ = 50."""
    return 0.5 * (LAMBDA_MIN * p[0] ** 2 + LAMBDA_MAX * p[1] ** 2)


def rosenbrock(p):
    """f(x, y) = (1 - x)² + 100 (y - x²)²: a curved valley with its minimum 0 at (1, 1)."""
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


def run(make, f, start, steps, lib=st):
    """Minimise f from `start`; return the path (steps + 1, 2) and the losses (steps,)."""
    if lib is st:
        p = st.tensor(np.array(start), requires_grad=True)
    else:
        p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    optimizer = make(lib, [p])
    path, losses = [np.array(start)], []
    for _ in range(steps):
        loss = f(p)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        path.append(p.detach().numpy().copy())
        losses.append(loss.item())
    return np.array(path), np.array(losses)


# %% [markdown]
# ## 1. Gradient descent and the learning rate
#
# Near a minimum every smooth loss looks like a quadratic, $L \approx \tfrac12 \theta^\top H
# \theta$, so the quadratic tells us what gradient descent does everywhere. Along an
# eigenvector of $H$ with curvature $\lambda$, one step multiplies the distance to the
# minimum by $(1 - \eta\lambda)$. That gives the central fact about learning rates:
#
# $$\text{gradient descent converges} \iff |1 - \eta\lambda| < 1 \text{ for every } \lambda \iff \eta < \frac{2}{\lambda_{\max}}.$$
#
# The steepest direction sets the largest usable step; the flattest direction, moving by a
# factor $(1 - \eta\lambda_{\min})$ per step, sets how long it takes. Their ratio, the
# **condition number** $\kappa = \lambda_{\max}/\lambda_{\min}$, is what makes a problem hard.

# %%
start = [-8.0, 1.2]
rates = {f"η = {k:g} / $λ_{{max}}$": k / LAMBDA_MAX for k in (0.2, 1.0, 1.9, 2.05)}
lr_runs = {
    name: run(lambda lib, P, lr=lr: lib.optim.SGD(P, lr=lr), quadratic, start, 100)[1]
    for name, lr in rates.items()
}
diverged = {name: bool(losses[-1] > losses[0]) for name, losses in lr_runs.items()}
for name, lr in rates.items():
    print(
        f"η = {lr:.3f} ({lr * LAMBDA_MAX:.2f} / λ_max):",
        "diverges" if diverged[name] else "converges",
    )
assert diverged == {name: lr > 2 / LAMBDA_MAX for name, lr in rates.items()}

fig, ax = plt.subplots(figsize=(7, 4.5))
for name, losses in lr_runs.items():
    ax.semilogy(losses, label=name)
ax.set(xlabel="step", ylabel="loss f(x, y)")
ax.set_title("Gradient descent on a quadratic with κ = 50: only η < 2 / $λ_{max}$ converges")
ax.legend(fontsize=8)
lesson.save(fig, "learning-rates.png")

# %% [markdown]
# With $\eta = 1/\lambda_{\max}$ the steep direction is solved in one step, but the flat one
# shrinks by only $1 - 1/50$ per step. At $1.9/\lambda_{\max}$ the steep direction overshoots
# and flips sign every step — a zigzag — yet this run is the fastest, because the flat
# direction, which decides the pace, moves 1.9 times as far per step. Just beyond
# $2/\lambda_{\max}$ the zigzag grows instead of shrinking and the loss blows up: the best
# learning rate is usually close to the largest stable one. The
# best fixed rate, $\eta = 2/(\lambda_{\min} + \lambda_{\max})$, still only reaches a rate of
# $\frac{\kappa - 1}{\kappa + 1} \approx 0.96$ per step.
#
# ## 2. Momentum
#
# **Momentum** (Polyak 1964) keeps a running sum of past gradients, a *velocity*:
#
# $$v_{t+1} = \mu v_t + g_t, \qquad \theta_{t+1} = \theta_t - \eta\, v_{t+1}.$$
#
# In the steep direction consecutive gradients alternate in sign and cancel in $v$; in the
# flat direction they agree and add up, so the effective step there grows towards
# $\eta/(1-\mu)$. With the best $\eta$ and $\mu$ the rate per step improves from
# $\frac{\kappa - 1}{\kappa + 1}$ to $\frac{\sqrt\kappa - 1}{\sqrt\kappa + 1}$ — here from
# 0.96 to 0.75, the difference between 500 and 70 steps per factor of $10^{-9}$. We measure
# the rates and compare them with the theory:

# %%
kappa = LAMBDA_MAX / LAMBDA_MIN
best_gd_lr = 2 / (LAMBDA_MIN + LAMBDA_MAX)
best_mu = ((np.sqrt(kappa) - 1) / (np.sqrt(kappa) + 1)) ** 2
best_momentum_lr = 4 / (np.sqrt(LAMBDA_MAX) + np.sqrt(LAMBDA_MIN)) ** 2
theory = {"GD": (kappa - 1) / (kappa + 1), "momentum": (np.sqrt(kappa) - 1) / (np.sqrt(kappa) + 1)}

gd_path, _ = run(lambda lib, P: lib.optim.SGD(P, lr=best_gd_lr), quadratic, start, 300)
mom_path, _ = run(
    lambda lib, P: lib.optim.SGD(P, lr=best_momentum_lr, momentum=best_mu), quadratic, start, 300
)
for name, path in [("GD", gd_path), ("momentum", mom_path)]:
    distance = np.linalg.norm(path, axis=1)
    measured = (distance[200] / distance[100]) ** (1 / 100)  # average shrink factor per step
    print(f"{name:9s} rate per step: measured {measured:.4f}, theory {theory[name]:.4f}")
    assert abs(measured - theory[name]) < 0.01

# %% [markdown]
# ## 3. Adaptive steps: RMSprop and Adam
#
# Momentum still uses one learning rate for every parameter. **RMSprop** (Hinton 2012) divides
# each parameter's step by a running root-mean-square of its own gradients, so a steep
# direction with big gradients gets a small step and a flat one a large step. **Adam**
# (Kingma & Ba 2015) combines both ideas:
#
# $$
# \begin{aligned}
# m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t, &\quad v_t &= \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \\
# \hat m_t &= m_t / (1 - \beta_1^t), &\quad \hat v_t &= v_t / (1 - \beta_2^t), \\
# \theta_t &= \theta_{t-1} - \eta\, \hat m_t / (\sqrt{\hat v_t} + \epsilon). &&
# \end{aligned}
# $$
#
# The bias corrections $\hat m, \hat v$ undo the zero start of the running averages. A
# consequence worth remembering: the step is roughly $\eta$ in each coordinate whatever the
# gradient's scale — on the first step *exactly* $\eta\, g/(|g| + \epsilon)$. So $\eta$ is
# a distance in parameter space, which is why 1e-3 works for so many networks.

# %%
p = st.tensor(np.array([3.0, -0.001]), requires_grad=True)  # gradients of very different sizes
adam = st.optim.Adam([p], lr=0.1)
quadratic(p).backward()
adam.step()
step = np.array([3.0, -0.001]) - p.detach().numpy()
print("gradient", p.grad.numpy(), "-> Adam's first step", step)
np.testing.assert_allclose(np.abs(step), [0.1, 0.1], rtol=1e-5)

# %% [markdown]
# Now the four optimisers side by side, each with a learning rate tuned by hand for the
# surface, on the bowl (150 steps) and on Rosenbrock's valley (3000 steps).


# %%
def optimisers(lrs):
    return {
        "SGD": lambda lib, P: lib.optim.SGD(P, lr=lrs[0]),
        "SGD + momentum 0.9": lambda lib, P: lib.optim.SGD(P, lr=lrs[1], momentum=0.9),
        "RMSprop": lambda lib, P: lib.optim.RMSprop(P, lr=lrs[2]),
        "Adam": lambda lib, P: lib.optim.Adam(P, lr=lrs[3]),
    }


surfaces = {
    "quadratic": (quadratic, start, 150, optimisers([best_gd_lr, 0.01, 0.1, 0.3])),
    "rosenbrock": (rosenbrock, [-1.2, 1.0], 3000, optimisers([1e-3, 2e-4, 1e-2, 0.05])),
}
results = {
    surface: {name: run(make, f, s0, steps) for name, make in makes.items()}
    for surface, (f, s0, steps, makes) in surfaces.items()
}
final = {
    s: {name: round(float(r[1][-1]), 6) for name, r in runs.items()} for s, runs in results.items()
}
print(final)
assert final["rosenbrock"]["Adam"] < 1e-6 < final["rosenbrock"]["SGD"]

# %%
fig, axes = plt.subplots(2, 2, figsize=(12, 9))
views = {
    "quadratic": ((-9, 2), (-1.6, 1.6), (0, 0)),
    "rosenbrock": ((-1.6, 1.6), (-0.5, 2.0), (1, 1)),
}
titles = {"quadratic": "the quadratic bowl (κ = 50)", "rosenbrock": "Rosenbrock's valley"}
for row, (surface, (f, _, steps, _)) in enumerate(surfaces.items()):
    (x0, x1), (y0, y1), minimum = views[surface]
    gx, gy = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
    gz = f(np.stack([gx, gy])) + 1e-3  # NumPy arrays index like tensors here
    ax = axes[row, 0]
    ax.contour(
        gx, gy, gz, levels=np.logspace(-3, 3.5, 25), norm=LogNorm(), cmap="Greys", linewidths=0.6
    )
    for (name, (path, _)), style in zip(
        results[surface].items(), ["-", "--", "-", ":"], strict=True
    ):
        line = ax.plot(path[:, 0], path[:, 1], style, lw=1.2, alpha=0.85, label=name)[0]
        ax.plot(*path[-1], "o", color=line.get_color(), ms=7, mec="k")  # where it ended
    ax.plot(*path[0], "ks", ms=6, label="start")
    ax.plot(*minimum, "r*", ms=14, label="minimum")
    ax.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="x", ylabel="y")
    ax.set_title(f"Paths on {titles[surface]}, {steps} steps (dot: end)")
    ax.legend(fontsize=7, loc="upper right" if surface == "quadratic" else "lower right")
    ax = axes[row, 1]
    for name, (_, losses) in results[surface].items():
        ax.semilogy(losses, label=name)
    ax.set(xlabel="step", ylabel="loss")
    ax.set_title(f"Loss on {titles[surface]}")
    ax.legend(fontsize=7)
lesson.save(fig, "trajectories.png")

# %% [markdown]
# Read the paths:
#
# - **SGD** zigzags across the bowl's steep direction and crawls along the flat one; in
#   Rosenbrock's valley it reaches the floor quickly, then inches along the curved bottom.
# - **Momentum** builds speed along the valley and overshoots the bends, then comes back: it
#   needs a smaller $\eta$ than SGD to stay stable, but covers more ground per step.
# - **RMSprop** and **Adam** rescale each coordinate. The bowl's axes are the parameters
#   themselves, so per-coordinate scaling removes its ill-conditioning: RMSprop heads almost
#   straight for the minimum (rotate the bowl and much of this advantage goes), while Adam's
#   momentum makes it swing like momentum SGD. Rosenbrock's curved valley is not aligned with
#   the axes: RMSprop rattles from wall to wall (the green ticks) and stalls, while Adam's
#   momentum averages the rattling out and carries it all the way to the minimum.
#
# ## 4. On a real network
#
# Two-parameter toys exaggerate, but the same ordering usually holds on real networks. We
# train one MLP on scikit-learn's 8×8 digits for six epochs of mini-batches of 64 (all in
# `dllab.scratch`): SGD and momentum with $\eta = 0.1$, Adam with $\eta = 0.01$.

# %%
images, labels = load_digits_arrays()
features = images.reshape(len(images), -1) / 255.0  # (1797, 64) in [0, 1]


def train_digits(make, epochs=6, batch_size=64, seed=0):
    st.manual_seed(seed)
    model = snn.Sequential(snn.Linear(64, 64), snn.ReLU(), snn.Linear(64, 10))
    optimizer = make(st, list(model.parameters()))
    order_rng = np.random.default_rng(seed)
    losses = []
    for _ in range(epochs):
        order = order_rng.permutation(len(features))
        for i in range(0, len(order), batch_size):
            batch = order[i : i + batch_size]
            loss = SF.cross_entropy(model(st.tensor(features[batch])), st.tensor(labels[batch]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return np.array(losses)


digit_runs = {
    name: train_digits(make)
    for name, make in optimisers([0.1, 0.1, 1e-3, 1e-2]).items()
    if name != "RMSprop"
}
smooth = {
    name: np.convolve(run_losses, np.ones(10) / 10, mode="valid")
    for name, run_losses in digit_runs.items()
}
print({name: round(float(s[-1]), 3) for name, s in smooth.items()}, "<- final training loss")
assert (
    smooth["Adam"][-1] < smooth["SGD"][-1] and smooth["SGD + momentum 0.9"][-1] < smooth["SGD"][-1]
)

fig, ax = plt.subplots(figsize=(7, 4.5))
for name, curve in smooth.items():
    ax.plot(curve, label=name)
ax.set(xlabel="mini-batch step", ylabel="training cross-entropy (mean of 10 steps)", yscale="log")
ax.set_title("A 64-64-10 MLP on digits: six epochs with each optimiser")
ax.legend(fontsize=8)
lesson.save(fig, "digits-optimisers.png")

# %% [markdown]
# ## 5. The scratch optimisers take torch's steps
#
# `dllab.scratch.optim` mirrors `torch.optim`: same classes, arguments, defaults and update
# rules. Running the same 200 steps on Rosenbrock with both engines must give the same path
# to rounding error — including Nesterov momentum, weight decay and AdamW's decoupled decay.

# %%
parity = {
    **optimisers([1e-3, 2e-4, 1e-2, 0.05]),
    "Nesterov + weight decay": lambda lib, P: lib.optim.SGD(
        P, lr=2e-4, momentum=0.9, nesterov=True, weight_decay=0.1
    ),
    "AdamW": lambda lib, P: lib.optim.AdamW(P, lr=0.05, weight_decay=0.1),
}
for name, make in parity.items():
    scratch_path, _ = run(make, rosenbrock, [-1.2, 1.0], 200, lib=st)
    torch_path, _ = run(make, rosenbrock, [-1.2, 1.0], 200, lib=torch)
    np.testing.assert_allclose(scratch_path, torch_path, rtol=1e-9, atol=1e-12, err_msg=name)
print("200-step paths equal to torch.optim for:", ", ".join(parity))

# %% [markdown]
# ## Summary
#
# - Gradient descent converges only for $\eta < 2/\lambda_{\max}$; it then moves along the
#   flattest direction at rate $1 - \eta\lambda_{\min}$. The condition number
#   $\kappa = \lambda_{\max}/\lambda_{\min}$ measures how hard the problem is.
# - Momentum accumulates consistent gradient directions: rate
#   $\frac{\sqrt\kappa - 1}{\sqrt\kappa + 1}$ instead of $\frac{\kappa-1}{\kappa+1}$.
# - RMSprop and Adam scale each parameter's step by its gradient's running RMS; Adam adds
#   momentum and bias correction, and its step size is about $\eta$ per coordinate.
# - Defaults that usually work: SGD with momentum 0.9 (tune $\eta$), or Adam/AdamW with
#   $\eta = 10^{-3}$.
#
# ## Exercises
#
# - `dllab lab start weight_decay` — one step of SGD with L2 weight decay and one step of
#   AdamW, in NumPy, graded step for step against `torch.optim` (`dllab lab check
#   weight_decay`).
# - `dllab lab start training_loop` — the loop that calls the optimiser: `train_epoch`,
#   `evaluate`, `fit`.
# - `dllab lab start loss_curves` — recognise, among others, a run whose learning rate is too
#   high (diverging).
#
# To try here (not graded):
#
# 1. Rotate the bowl by 45° (replace `p[0]`, `p[1]` by $(x+y)/\sqrt2$, $(x-y)/\sqrt2$). How
#    much of Adam's advantage remains?
# 2. Run momentum with $\mu = 0.99$ on the bowl. What does the path look like, and why?
# 3. Find the largest learning rate for which SGD still converges on Rosenbrock from
#    $(-1.2, 1)$. Compare it with $2/\lambda_{\max}$ of the Hessian at the minimum.
