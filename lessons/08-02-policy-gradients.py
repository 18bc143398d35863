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
# # 08-02 · Policy gradients: REINFORCE, baselines, GAE and PPO's clip
#
# Q-learning (lesson 08-01) learns values and acts greedily on them. **Policy-gradient**
# methods learn the policy itself: a network $\pi_\theta(a \mid s)$ that outputs action
# probabilities, trained by gradient ascent on the expected return
# $J(\theta) = \mathbb{E}_{\tau \sim \pi_\theta}[G(\tau)]$. They handle continuous actions and
# stochastic policies naturally, and they are what PPO, A2C and most modern agents are.
#
# The difficulty: $J$ is an expectation over trajectories that the policy itself chooses, and
# the environment is not differentiable. This lesson builds the answer in four steps, each
# checked with numbers:
#
# 1. the **score-function** (REINFORCE) estimator is unbiased — against the exact gradient of a
#    small MDP;
# 2. a **baseline** leaves its mean alone and cuts its variance — measured;
# 3. **GAE** trades bias for variance with one number $\lambda$ — by hand against dllab's;
# 4. **PPO's clip** keeps an update from going too far on old data — plotted and measured.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from dllab.rl.ppo import clipped_policy_loss, gae
from dllab.viz import setup_lesson

lesson = setup_lesson("08-02-policy-gradients")
torch.set_num_threads(1)

# %% [markdown]
# ## 1. The score-function estimator, against the exact gradient
#
# Write the expectation as a sum over trajectories and differentiate:
# $\nabla_\theta J = \sum_\tau G(\tau)\, \nabla_\theta p_\theta(\tau)
# = \mathbb{E}\big[G(\tau)\, \nabla_\theta \log p_\theta(\tau)\big]$, using
# $\nabla p = p\, \nabla \log p$. The environment's probabilities in $p_\theta(\tau)$ do not
# depend on $\theta$, so only the policy's remain — the **policy-gradient theorem** in its
# REINFORCE form (Williams 1992; Sutton & Barto 2018, §13.3):
#
# $$\nabla_\theta J = \mathbb{E}\Big[\sum_t \nabla_\theta \log \pi_\theta(a_t \mid s_t)\, G_t\Big],
# \qquad G_t = r_t + \gamma r_{t+1} + \dots$$
#
# Only the rewards *from* step $t$ on appear beside step $t$'s action: an action cannot change
# what happened before it (**reward-to-go**). Nothing here needs the environment's
# derivatives — only samples, and the gradient of the log-probability of the actions taken.
#
# A two-step MDP where everything can be enumerated: in $s_0$ choose left (to $s_1$, reward 0)
# or right (to $s_2$, reward 0.4); then choose again for a final reward, plus Gaussian noise
# ($\sigma = 0.5$). The policy is a softmax over a table of logits $\theta[s, a]$, 6 numbers.
# The exact $J(\theta)$ is a sum over the 4 paths, and autograd gives its exact gradient.

# %%
REWARD_0 = np.array([0.0, 0.4])  # reward of the first action
REWARD_1 = np.array([[1.0, 0.0], [0.2, 0.6]])  # final reward: [second state, second action]
NOISE = 0.5  # sd of the noise on the final reward
theta = torch.tensor([[0.3, -0.2], [0.1, 0.4], [-0.5, 0.2]], requires_grad=True)  # (3, 2)


def exact_return(logits: torch.Tensor) -> torch.Tensor:
    """J(θ): the expected return, summed over the four paths."""
    pi = logits.softmax(dim=1)  # (3, 2) π(a | s), rows s0, s1, s2
    r0, r1 = torch.tensor(REWARD_0), torch.tensor(REWARD_1)
    return (pi[0] * (r0 + (pi[1:] * r1).sum(dim=1))).sum()


exact_return(theta).backward()
exact_grad = theta.grad.numpy().ravel()  # (6,) ∇J, exactly
pi = theta.detach().softmax(dim=1).numpy()  # (3, 2)
V = np.r_[0.0, (pi[1:] * REWARD_1).sum(1)]  # V(s1), V(s2) under π; V(s0) below
V[0] = (pi[0] * (REWARD_0 + V[1:])).sum()
print(f"J(θ) = {V[0]:.4f}; exact ∇J = {exact_grad.round(4)}")
assert np.isclose(V[0], exact_return(theta).item())

# %% [markdown]
# Now sample 20,000 episodes and form one gradient estimate per episode. For a softmax,
# $\nabla_{\theta[s]} \log \pi(a \mid s) = \mathbf{1}_a - \pi(\cdot \mid s)$. We compare three
# estimators that all have the same mean:
#
# - **total return**: every step's score times the whole return $G_0$;
# - **reward-to-go**: step $t$'s score times $G_t$ only;
# - **baseline**: step $t$'s score times $G_t - V(s_t)$, the return *compared with what was
#   expected* in that state.

# %%
N = 20_000
rng = np.random.default_rng(0)
first = (rng.random(N) < pi[0, 1]).astype(int)  # (N,) action in s0
second_state = 1 + first  # (N,) s1 or s2
second = (rng.random(N) < pi[second_state, 1]).astype(int)  # (N,) action there
noise = NOISE * rng.standard_normal(N)


def estimates(offset: float = 0.0) -> dict[str, np.ndarray]:
    """(N, 6) per-episode gradient estimates; `offset` is added to every reward."""
    r0 = REWARD_0[first] + offset
    r1 = REWARD_1[second_state - 1, second] + noise + offset
    v0, v1 = V[0] + 2 * offset, V[second_state] + offset  # V shifts with the rewards
    score0, score1 = np.zeros((N, 3, 2)), np.zeros((N, 3, 2))
    score0[:, 0] = np.eye(2)[first] - pi[0]  # ∇ log π(a0 | s0)
    score1[np.arange(N), second_state] = np.eye(2)[second] - pi[second_state]  # ∇ log π(a1 | s)
    score0, score1 = score0.reshape(N, 6), score1.reshape(N, 6)
    return {
        "total return": (score0 + score1) * (r0 + r1)[:, None],
        "reward-to-go": score0 * (r0 + r1)[:, None] + score1 * r1[:, None],
        "baseline V(s)": score0 * (r0 + r1 - v0)[:, None] + score1 * (r1 - v1)[:, None],
    }


samples = estimates()
variance = {}
for name, g in samples.items():
    mean, stderr = g.mean(0), g.std(0) / np.sqrt(N)  # (6,) each
    variance[name] = g.var(0).sum()  # total variance of one episode's estimate
    z = np.abs((mean - exact_grad) / stderr).max()  # the worst component, in standard errors
    print(f"{name:14s} mean {mean.round(4)}  max |z| {z:.2f}  variance {variance[name]:.4f}")
    assert (np.abs(mean - exact_grad) < 4 * stderr).all(), f"{name} is unbiased"
assert variance["total return"] > variance["reward-to-go"] > variance["baseline V(s)"]

# %% [markdown]
# All three agree with the exact gradient within Monte-Carlo error: each component sits within
# four standard errors. They differ in how many episodes that takes. Why does subtracting
# $b(s_t)$ leave the mean alone? Because the score has mean zero:
# $\mathbb{E}_a[\nabla \log \pi(a \mid s)] = \sum_a \nabla \pi(a \mid s) = \nabla 1 = 0$, so
# $\mathbb{E}[\nabla \log \pi \cdot b(s)] = 0$ for anything that does not depend on the action.
#
# The baseline matters most when returns are far from zero. Add a constant $c$ to every
# reward: the gradient does not change (the best policy does not either), but without a
# baseline every sampled action is "good" by $c$, and the estimate swings with which actions
# happened to be drawn. Same episodes, rewards shifted:

# %%
offsets = np.linspace(0, 5, 11)
curves = {name: [] for name in samples}
for c in offsets:
    for name, g in estimates(c).items():
        curves[name].append(g.var(0).sum())
for name in curves:
    print(f"{name:14s} variance at c = 0: {curves[name][0]:.3f}, at c = 5: {curves[name][-1]:.3f}")
assert curves["total return"][-1] > 20 * curves["total return"][0], "grows like c²"
assert np.allclose(curves["baseline V(s)"], curves["baseline V(s)"][0]), "unchanged by c"
# Episodes n for a standard error of 10 % of |∇J|: var / n = (0.1 |∇J|)².
needed = {n: int(curves[n][-1] / (0.1 * np.linalg.norm(exact_grad)) ** 2) for n in curves}
print(f"episodes for a standard error of 10 % of |∇J| at c = 5: {needed}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
ax = axes[0]
labels = ["θ[s0,L]", "θ[s0,R]", "θ[s1,L]", "θ[s1,R]", "θ[s2,L]", "θ[s2,R]"]
ax.bar(np.arange(6), exact_grad, color="0.85", label="exact ∇J (autograd on the 4 paths)")
for k, (name, g) in enumerate(samples.items()):
    ax.errorbar(np.arange(6) + 0.2 * (k - 1), g.mean(0), yerr=2 * g.std(0) / np.sqrt(N),
                fmt="o", ms=4, capsize=3, label=f"{name} (± 2 se)")  # fmt: skip
ax.set_xticks(np.arange(6), labels)
ax.set(ylabel="∂J/∂θ", title=f"REINFORCE from {N:,} episodes is unbiased")
ax.legend(fontsize=8)
ax = axes[1]
for name, curve in curves.items():
    ax.plot(offsets, curve, "o-", ms=3, label=name)
ax.set_yscale("log")
ax.set(xlabel="constant c added to every reward", ylabel="variance of one episode's estimate")
ax.set_title("A baseline removes what the action did not cause")
ax.legend(fontsize=8)
fig.suptitle("The score-function gradient on a two-step MDP")
lesson.save(fig, "score-function.png")

# %% [markdown]
# ## 2. Advantages and GAE: how far to trust the critic
#
# With a learned critic $V(s)$ as the baseline, the weight of an action is its **advantage**:
# how much better the outcome was than expected. There are many estimates of it. The
# one-step **TD error** $\delta_t = r_t + \gamma V(s_{t+1}) - V(s_t)$ uses one real reward and
# trusts the critic for the rest: little variance, but biased wherever the critic is wrong.
# The **Monte-Carlo** advantage $G_t - V(s_t)$ uses every real reward to the end: unbiased,
# but it adds up the noise of every later step.
#
# **Generalised advantage estimation** (Schulman et al. 2016, eq. 16) is a geometric mix:
#
# $$\hat A_t = \sum_{k \ge 0} (\gamma \lambda)^k\, \delta_{t+k},$$
#
# cut at the end of the episode. $\lambda = 0$ is the TD error; $\lambda = 1$ telescopes to
# $G_t - V(s_t)$. dllab's `gae` (in `dllab.rl.ppo`, used by PPO and A2C) computes it backwards
# in one pass. Here it is by hand, straight from the sum, on a rollout of 4 environments whose
# episodes end at random — the rollout itself stops mid-episode, so the last step bootstraps
# on the critic's value of the state after it.

# %%
T_STEPS, N_ENVS, GAMMA = 40, 4, 0.9
g = torch.Generator().manual_seed(0)
rewards = torch.randn(T_STEPS, N_ENVS, generator=g, dtype=torch.float64)
values = torch.randn(T_STEPS, N_ENVS, generator=g, dtype=torch.float64)  # V(s_t)
dones = (torch.rand(T_STEPS, N_ENVS, generator=g) < 0.1).double()  # episode ended at step t
last_value = torch.randn(N_ENVS, generator=g, dtype=torch.float64)  # V of the state after


def gae_by_hand(lam: float) -> torch.Tensor:
    """Σ_k (γλ)^k δ_{t+k}, summed forwards from each t until its episode or the rollout ends."""
    following = torch.cat([values[1:], last_value[None]])  # V(s_{t+1}), (T, N)
    delta = rewards + GAMMA * following * (1 - dones) - values  # (T, N) TD errors
    advantages = torch.zeros_like(rewards)
    for t in range(T_STEPS):
        weight = torch.ones(N_ENVS)  # (γλ)^k, and 0 once the episode of step t has ended
        for k in range(t, T_STEPS):
            advantages[t] += weight * delta[k]
            weight = weight * GAMMA * lam * (1 - dones[k])
    return advantages


def monte_carlo_return() -> torch.Tensor:
    """G_t: discounted rewards to the episode's end, or to the rollout's end + γ^k V(last)."""
    returns, running = torch.zeros_like(rewards), last_value.clone()
    for t in reversed(range(T_STEPS)):
        running = rewards[t] + GAMMA * running * (1 - dones[t])
        returns[t] = running
    return returns


td_error = rewards + GAMMA * torch.cat([values[1:], last_value[None]]) * (1 - dones) - values
for lam in (0.0, 0.5, 0.95, 1.0):
    ours = gae(rewards, values, dones, last_value, GAMMA, lam)
    assert torch.allclose(ours, gae_by_hand(lam)), f"λ = {lam}"
assert torch.allclose(gae(rewards, values, dones, last_value, GAMMA, 0.0), td_error)
mc_advantage = monte_carlo_return() - values
assert torch.allclose(gae(rewards, values, dones, last_value, GAMMA, 1.0), mc_advantage)
print(f"{int(dones.sum())} episode ends in the rollout; dllab's gae == the sum by hand for "
      "λ in (0, 0.5, 0.95, 1); λ = 0 is the TD error, λ = 1 is G_t − V(s_t)")  # fmt: skip

# %% [markdown]
# What does $\lambda$ buy? A chain where the truth is known: episodes of 20 steps, each
# reward drawn from $\mathcal N(1, 1)$, $\gamma = 0.95$, so $V(t) = \sum_{k < 20 - t} \gamma^k$.
# The critic is off by +2 everywhere (a critic is always somewhat wrong). We estimate
# $V(0)$ as $\hat A_0 + V_\text{critic}(0)$, the target PPO fits its critic to, over 20,000
# episodes for each $\lambda$, and split its error into bias and variance.

# %%
H, GAMMA_CHAIN, EPISODES = 20, 0.95, 20_000
true_v = np.array([sum(GAMMA_CHAIN**k for k in range(H - t)) for t in range(H)])  # (H,)
critic = torch.tensor(true_v + 2.0).unsqueeze(1).expand(H, EPISODES)  # (H, E) off by +2
chain_rewards = 1 + torch.randn(H, EPISODES, generator=g, dtype=torch.float64)
chain_dones = torch.zeros(H, EPISODES, dtype=torch.float64)
chain_dones[-1] = 1  # every episode ends after H steps
lambdas = np.linspace(0, 1, 11)
bias, spread = [], []
for lam in lambdas:
    adv = gae(chain_rewards, critic, chain_dones, torch.zeros(EPISODES), GAMMA_CHAIN, lam)
    target = (adv[0] + critic[0]).numpy()  # (E,) estimates of V(0)
    bias.append(target.mean() - true_v[0])
    spread.append(target.var())
bias, spread = np.array(bias), np.array(spread)
for lam, b, v in zip(lambdas[::5], bias[::5], spread[::5], strict=True):
    print(f"λ = {lam:.1f}: bias {b:+.3f}, variance {v:.3f}")
assert np.isclose(bias[0], GAMMA_CHAIN * 2.0, atol=0.03), "λ = 0 inherits the critic's error"
assert abs(bias[-1]) < 4 * np.sqrt(spread[-1] / EPISODES), "λ = 1 is unbiased"
assert (np.diff(np.abs(bias)) < 0).all() and (np.diff(spread) > 0).all()

# %%
fig, ax = plt.subplots(figsize=(7, 4.5))
ax.plot(lambdas, bias**2, "o-", label="bias² (from the critic's error)")
ax.plot(lambdas, spread, "o-", label="variance (from the rewards' noise)")
ax.plot(lambdas, bias**2 + spread, "k--", label="mean squared error")
ax.set(xlabel="GAE λ", ylabel="error of the value target at t = 0")
ax.set_title("GAE: λ trades the critic's bias for the rewards' variance")
ax.legend(fontsize=8)
lesson.save(fig, "gae-lambda.png")

# %% [markdown]
# The best $\lambda$ depends on how wrong the critic is and how noisy the rewards are; in
# practice $\lambda$ between 0.8 and 0.95 works across many tasks (`rl-cartpole-ppo` uses
# 0.8, the zoo's tuned value).
#
# ## 3. PPO's clipped objective
#
# A rollout is expensive, so PPO (Schulman et al. 2017) takes many gradient steps on each one.
# After the first step the data come from an *older* policy, and the importance ratio
# $\rho = \pi_\theta(a \mid s) / \pi_\text{old}(a \mid s)$ corrects for it: the surrogate
# $\mathbb{E}[\rho \hat A]$ has the policy gradient as its gradient at $\rho = 1$. Maximised
# freely, though, it drives $\rho$ as far as the data let it — the estimate $\hat A$ is only
# good near the old policy. PPO's objective (eq. 7) stops that:
#
# $$L^\text{CLIP} = \mathbb{E}\big[\min\big(\rho \hat A,\ \operatorname{clip}(\rho, 1 - \epsilon, 1 + \epsilon)\, \hat A\big)\big].$$
#
# For a good action ($\hat A > 0$) it gains nothing once $\rho > 1 + \epsilon$; for a bad one,
# nothing once $\rho < 1 - \epsilon$. The min keeps it *pessimistic*: a move in the harmful
# direction is never clipped. dllab's `clipped_policy_loss` returns $-L^\text{CLIP}$ (a loss);
# below, it and its gradient with respect to the log-probability, one ratio at a time.

# %%
CLIP = 0.2
ratios = np.linspace(0.4, 1.8, 141)
objective, slope = {}, {}
for advantage in (1.0, -1.0):
    objective[advantage], slope[advantage] = [], []
    for rho in ratios:
        logprob = torch.tensor([np.log(rho)], requires_grad=True)
        loss = clipped_policy_loss(logprob, torch.zeros(1), torch.tensor([advantage]), CLIP)
        loss.backward()
        objective[advantage].append(-loss.item())
        slope[advantage].append(-logprob.grad.item())  # dL/d log π
    objective[advantage], slope[advantage] = (
        np.array(objective[advantage]),
        np.array(slope[advantage]),
    )
up, down = ratios > 1 + CLIP + 1e-9, ratios < 1 - CLIP - 1e-9
assert np.allclose(objective[1.0][up], 1 + CLIP) and (slope[1.0][up] == 0).all()
assert np.allclose(objective[-1.0][down], -(1 - CLIP)) and (slope[-1.0][down] == 0).all()
edge = np.isclose(ratios, 1 - CLIP) | np.isclose(ratios, 1 + CLIP)  # torch.min splits ties
inside, outside = ~up & ~edge, ~down & ~edge
assert np.allclose(slope[1.0][inside], ratios[inside]), "elsewhere the gradient of ρA is ρA"
assert np.allclose(slope[-1.0][outside], -ratios[outside]), "a harmful move is never clipped"
print(f"gradient zero for A > 0 beyond ρ = {1 + CLIP}, for A < 0 below ρ = {1 - CLIP}")

# %% [markdown]
# What the clip does to an update: a three-armed bandit, a batch of 512 pulls from the old
# (uniform) policy, advantages = reward − mean reward, and 100 Adam steps on that one batch,
# once on the plain surrogate $\rho \hat A$ and once on the clipped one.

# %%
ARM_MEANS = torch.tensor([1.0, 0.0, 0.5])
arms = torch.randint(0, 3, (512,), generator=g)  # pulls of the uniform old policy
pulled = ARM_MEANS[arms] + torch.randn(512, generator=g)
adv = (pulled - pulled.mean()) / pulled.std()
old_logprob = torch.full((512,), -np.log(3.0))


def many_epochs(clip: float | None) -> np.ndarray:
    """(101, 3) ratios π_new/π_old of each arm over 100 Adam steps on one batch."""
    logits = torch.zeros(3, requires_grad=True)
    optimizer = torch.optim.Adam([logits], lr=0.05)
    history = []
    for _ in range(101):
        logprob = logits.log_softmax(0)
        history.append((logprob + np.log(3.0)).exp().detach().numpy())
        new_logprob = logprob[arms]
        if clip is None:
            loss = -((new_logprob - old_logprob).exp() * adv).mean()
        else:
            loss = clipped_policy_loss(new_logprob, old_logprob, adv, clip)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return np.array(history)


plain, clipped = many_epochs(None), many_epochs(CLIP)
print(f"after 100 steps, ratio of each arm: plain surrogate {plain[-1].round(3)}, "
      f"clipped {clipped[-1].round(3)}")  # fmt: skip
assert plain[-1, 0] > 2.5, "the plain surrogate piles nearly all probability on one arm"
print(f"clipped, largest excursion on the way: {clipped.min():.3f} to {clipped.max():.3f}")
assert (np.abs(clipped[-1] - 1) < CLIP + 0.02).all(), "ends at the clip range"
assert clipped.max() < 1.5 < plain.max(), "even the overshoot stays far below the plain run's"

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
ax = axes[0]
for advantage, color in ((1.0, "C0"), (-1.0, "C3")):
    ax.plot(
        ratios,
        objective[advantage],
        color=color,
        lw=2,
        label=f"min(ρA, clip(ρ)A), A = {advantage:+.0f}",
    )
    ax.plot(ratios, ratios * advantage, ":", color=color, label=f"ρA, A = {advantage:+.0f}")
ax.axvspan(1 - CLIP, 1 + CLIP, color="0.92", label=f"[1 − ε, 1 + ε], ε = {CLIP}")
ax.set(xlabel="ratio ρ = π_new(a|s) / π_old(a|s)", ylabel="objective (per sample, to maximise)")
ax.set_title("PPO's clipped surrogate: flat (zero gradient) past the clip")
ax.legend(fontsize=8)
ax = axes[1]
for arm in range(3):
    ax.plot(plain[:, arm], ":", color=f"C{arm}", label=f"arm {arm}, plain ρA")
    ax.plot(clipped[:, arm], color=f"C{arm}", lw=2, label=f"arm {arm}, clipped")
ax.axhspan(1 - CLIP, 1 + CLIP, color="0.92")
ax.set(xlabel="Adam step on the same batch", ylabel="ratio π_new / π_old of the arm")
ax.set_title("Many epochs on one batch: the clip keeps the policy close")
ax.legend(fontsize=8, ncol=2)
fig.suptitle("PPO: ratios, clipping, and what it prevents")
lesson.save(fig, "ppo-clip.png")

# %% [markdown]
# The plain surrogate moved almost all the probability to arm 0 from one batch of 512 pulls:
# $\rho \to 3$ is $\pi(\text{arm } 0) \to 1$ — fine in this easy bandit, ruinous when the
# advantages are noisy estimates from a critic still learning. The clipped objective stops
# at $\rho = 1.2$ for the good arm and $0.8$ for the worst: it takes a step of bounded size
# and waits for fresh data. On the way it overshoots for a few steps: the clip zeroes the
# gradient, not Adam's momentum. That is why implementations also watch the approximate KL
# divergence between old and new policy, and some stop the epochs early when it grows
# (CleanRL's `target_kl`).
#
# ## 4. All of it together: `dllab run rl-cartpole-ppo`
#
# PPO as dllab runs it (`src/dllab/rl/ppo.py`, laid out like CleanRL's `ppo.py`): 8 CartPole
# copies step together for 32 steps; GAE ($\gamma = 0.98$, $\lambda = 0.8$) gives advantages and
# the value targets $\hat A + V$; then 20 passes over the 256 transitions minimise
# $-L^\text{CLIP} + c_v \cdot \tfrac12 (V - \text{target})^2$ ($c_v$ = `vf_coef` = 0.5), with
# advantages normalised per minibatch, the learning rate and the clip range annealed to zero,
# and gradients clipped. `dllab run rl-cartpole-ppo` reaches the maximum return of 500 in
# 100,000 steps; its report shows the reward curve, the evaluation over 100 episodes with
# fixed seeds, and the trained agent balancing.
# `rl-cartpole-reinforce` and `rl-cartpole-a2c` are the same network with REINFORCE's and
# A2C's updates, to compare.
#
# ## Summary
#
# - $\nabla J = \mathbb{E}[\sum_t \nabla \log \pi(a_t \mid s_t)\, G_t]$: only samples and the
#   log-probability's gradient; checked against the exact gradient within Monte-Carlo error.
# - Reward-to-go and a baseline $V(s)$ keep the mean and cut the variance; without a baseline
#   the variance grows with the square of a constant added to the rewards.
# - GAE's $\lambda$ runs from the TD error ($\lambda = 0$: the critic's bias, little variance)
#   to $G_t - V(s_t)$ ($\lambda = 1$: unbiased, all the rewards' noise).
# - PPO clips the ratio so that many epochs on one rollout cannot move the policy far.
#
# ## Exercises
#
# - `dllab lab start gae` — generalised advantage estimation over a rollout with episode ends,
#   for one environment or many.
# - `dllab lab start ppo_clip_loss` — PPO's clipped policy loss and value loss.
#
# To try here (not graded):
#
# 1. Use the constant baseline $b = J(\theta)$ instead of $V(s)$. Is it still unbiased? How
#    much variance does it remove compared with $V(s)$?
# 2. Make the critic's error depend on the state (e.g. $+2$ for $t < 10$, $-2$ after). Where is
#    the best $\lambda$ now?
# 3. Set `CLIP = 0.05` and `CLIP = 0.5` for the bandit. How many batches would each need to
#    make arm 0's probability 0.9?
