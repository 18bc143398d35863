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
# # 08-01 · MDPs, Bellman equations, Q-learning, and why DQN needs two tricks
#
# In supervised learning every example comes with its answer. An agent acting in the world
# gets no answer, only a **reward** now and then, and its actions decide which situations it
# sees next. The **Markov decision process** (MDP) is the model of that loop: states $s$,
# actions $a$, transition probabilities $p(s' \mid s, a)$, rewards $r$, and a discount
# $\gamma < 1$ that makes a reward now worth more than the same reward later.
#
# This lesson takes gymnasium's FrozenLake, a tiny MDP whose transition table we can read,
# and answers four questions with numbers:
#
# 1. What is the **value** of a policy, and why is it the solution of a linear system?
# 2. How do **value iteration** and **policy iteration** find the optimal policy — and do they
#    agree with each other and with the linear system?
# 3. Can **Q-learning** find the same answer from sampled transitions alone, without the table?
# 4. When the table becomes a neural network (DQN), why does it need a **replay buffer** and a
#    **target network**?
#
# Everything runs in a few seconds; `dllab run rl-frozenlake-vi` and
# `dllab run rl-frozenlake-qlearning` are the same algorithms as recipes.

# %%
import gymnasium as gym
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from dllab.rl.agent import mlp
from dllab.rl.buffer import ReplayBuffer
from dllab.rl.tabular import (
    policy_iteration,
    policy_values,
    q_from_v,
    q_learning_update,
    sarsa_update,
    transition_arrays,
    value_iteration,
)
from dllab.viz import setup_lesson

lesson = setup_lesson("08-01-mdp-q-learning")
torch.set_num_threads(1)  # tiny networks: one thread is fastest on a busy machine

# %% [markdown]
# ## 1. FrozenLake is an MDP we can read
#
# A 4 x 4 frozen lake: start at S (top left), reach the goal G (bottom right) for a reward of
# 1, and avoid the holes H, which end the episode with nothing. Every other step pays 0. The
# ice is **slippery**: the agent moves in the direction it chose only one time in three, and
# to each side of it one time in three. Actions are 0 left, 1 down, 2 right, 3 up.
#
# Toy-text environments expose their whole model as `env.unwrapped.P`:
# `P[s][a]` is a list of `(probability, next_state, reward, terminated)`. dllab's
# `transition_arrays` turns it into dense arrays: `T[s, a, s']` and the expected reward
# `R[s, a]`. A transition into a hole or the goal ends the episode, so its mass is left out
# of `T`: nothing is earned after it.

# %%
env = gym.make("FrozenLake-v1")  # slippery 4x4, 100-step time limit
P = env.unwrapped.P
desc = env.unwrapped.desc.astype(str)  # (4, 4) letters S, F, H, G
n_states, n_actions = len(P), len(P[0])
T, R = transition_arrays(P)  # (16, 4, 16) and (16, 4)
holes_and_goal = np.isin(desc.ravel(), ["H", "G"])
print("\n".join("".join(row) for row in desc))
print(f"{n_states} states, {n_actions} actions; P[14][2] (right, next to the goal):")
for prob, s2, reward, terminated in P[14][2]:
    print(f"  p={prob:.3f} -> state {s2:2d}, reward {reward}, terminated {terminated}")
for s in range(n_states):
    for a in range(n_actions):
        assert abs(sum(p for p, *_ in P[s][a]) - 1) < 1e-12  # each row is a distribution
assert np.isclose(R[14, 2], 1 / 3), "pushing right next to the goal reaches it 1 time in 3"
assert (T[holes_and_goal] == 0).all(), "holes and the goal have no future"

# %% [markdown]
# ## 2. The value of a policy is a linear system
#
# A policy $\pi$ says which action to take in each state. Its **value** $V^\pi(s)$ is the
# expected discounted return $\mathbb{E}[r_0 + \gamma r_1 + \gamma^2 r_2 + \dots]$ from $s$.
# Splitting off the first step gives the **Bellman expectation equation**
# (Sutton & Barto 2018, eq. 4.4):
#
# $$V^\pi(s) = \sum_a \pi(a \mid s)\Big[R(s, a) + \gamma \sum_{s'} T(s, a, s')\, V^\pi(s')\Big].$$
#
# With $T_\pi$ and $R_\pi$ the transitions and rewards averaged over the policy's actions,
# that is $V^\pi = R_\pi + \gamma T_\pi V^\pi$: a **linear system**,
# $(I - \gamma T_\pi) V^\pi = R_\pi$, with one unknown per state. For 16 states,
# `numpy.linalg.solve` answers exactly. Here for the uniformly random policy, which
# tries every action one time in four:

# %%
GAMMA = 0.99  # the recipes' discount
T_uniform, R_uniform = T.mean(axis=1), R.mean(axis=1)  # (16, 16), (16,)
V_uniform = np.linalg.solve(np.eye(n_states) - GAMMA * T_uniform, R_uniform)
residual = V_uniform - (R_uniform + GAMMA * T_uniform @ V_uniform)
print("V of the random policy:\n", V_uniform.reshape(4, 4).round(4))
assert np.abs(residual).max() < 1e-12
assert V_uniform[0] < 0.02, "walking at random rarely reaches the goal"

# %% [markdown]
# ## 3. Value iteration, policy iteration, and the linear system agree
#
# The best achievable values $V^*$ satisfy the **Bellman optimality equation**, with a max in
# place of the policy's average:
#
# $$V^*(s) = \max_a Q^*(s, a), \qquad Q^*(s, a) = R(s, a) + \gamma \sum_{s'} T(s, a, s')\,V^*(s').$$
#
# The max makes it nonlinear, so there are two classic ways to solve it (S&B §4.3–4.4):
#
# - **value iteration** applies the equation as an update, $V \leftarrow \max_a (R + \gamma T V)$,
#   over and over. Each sweep shrinks the distance to $V^*$ by a factor $\gamma$ at least
#   (the backup is a $\gamma$-contraction), so it converges — slowly when $\gamma$ is near 1;
# - **policy iteration** alternates *evaluation* (the linear system above, solved exactly)
#   and *improvement* (act greedily on the resulting $Q$). Each policy is at least as good as
#   the last and there are finitely many, so it stops, usually after a handful of rounds.
#
# Both by hand, recording after each sweep or round how far the values still are from $V^*$
# (dllab's `value_iteration` and `policy_iteration` are the same loops):

# %%
V_vi, policy_vi, sweeps = value_iteration(P, GAMMA)  # dllab's: sweeps until nothing moves
V_pi, policy_pi, rounds = policy_iteration(P, GAMMA)

V, vi_error = np.zeros(n_states), []
for _ in range(sweeps):
    V = q_from_v(T, R, V, GAMMA).max(axis=1)  # R + γ T V, then the best action
    vi_error.append(np.abs(V - V_vi).max())

policy, pi_error = np.zeros(n_states, dtype=int), []  # start: always left
for _ in range(rounds):
    V = policy_values(T, R, policy, GAMMA)  # evaluation: the linear system, solved exactly
    pi_error.append(np.abs(V - V_vi).max())
    policy = q_from_v(T, R, V, GAMMA).argmax(axis=1)  # improvement: greedy on Q^π

V_solved = policy_values(T, R, policy_vi, GAMMA)  # the greedy policy's values, solved exactly
print(f"value iteration: {sweeps} sweeps; policy iteration: {rounds} rounds")
print(f"V*(start) = {V_vi[0]:.6f} (value iteration), {V_pi[0]:.6f} (policy iteration), "
      f"{V_solved[0]:.6f} (linear system for the greedy policy)")  # fmt: skip
print("policy iteration's distance to V* per round:", np.array(pi_error).round(4))
assert np.abs(V_vi - V_pi).max() < 1e-8, "both methods find the same optimal values"
assert np.abs(V_solved - V_vi).max() < 1e-8, "the greedy policy of V* is worth V*"
assert np.abs(V_vi - q_from_v(T, R, V_vi, GAMMA).max(axis=1)).max() < 1e-9  # optimality eq.
assert np.array_equal(policy_vi, policy_pi) and rounds < 10 < sweeps
bound = vi_error[0] * GAMMA ** np.arange(sweeps)  # ‖V_k − V*‖ ≤ γ^k ‖V_0 − V*‖
assert (np.array(vi_error) <= bound + 1e-9).all(), "each sweep shrinks the error by γ at least"
assert pi_error[-1] < 1e-8 and all(np.diff(pi_error) <= 1e-12), "each policy is no worse"

# %% [markdown]
# Both find the same values and the same policy: value iteration in hundreds of cheap sweeps,
# policy iteration in a few rounds, each a linear solve. The policy is not the obvious one:
# it often pushes *into a wall* (left in states 0 and 4, up along the top row), because then
# the two sideways slips run along the wall or back, never into a hole.
#
# ## 4. The 74 % that "solved" means
#
# $V^*(\text{start}) \approx 0.54$ is a *discounted* number: a success after 40 steps counts
# $0.99^{40} \approx 0.67$. The probability of reaching the goal at all is the same linear
# system with $\gamma = 1$ (the policy ends every episode, so $I - T_\pi$ is invertible), and
# within gymnasium's 100-step limit it is a sum over the first 100 steps of the state
# distribution $d_{t+1} = d_t T_\pi$. gymnasium's table says FrozenLake is solved at 0.70; the
# optimum is about 0.74. We check it by playing 1,000 episodes in gymnasium itself.

# %%
states = np.arange(n_states)
T_star, R_star = T[states, policy_vi], R[states, policy_vi]
ever = np.linalg.solve(np.eye(n_states) - T_star, R_star)[0]
d, within_100 = np.eye(n_states)[0], 0.0  # start in state 0
for _ in range(100):
    within_100 += d @ R_star  # probability of stepping into the goal at this step
    d = d @ T_star
wins, episodes = 0, 1000
for episode in range(episodes):
    s, _ = env.reset(seed=episode)
    done = False
    while not done:
        s, reward, terminated, truncated, _ = env.step(int(policy_vi[s]))
        done = terminated or truncated
    wins += reward
played, stderr = wins / episodes, np.sqrt(within_100 * (1 - within_100) / episodes)
print(f"optimal policy: success {ever:.4f} with no time limit, {within_100:.4f} within 100 "
      f"steps; played in gymnasium: {played:.3f} ± {stderr:.3f}")  # fmt: skip
assert 0.73 < within_100 < 0.75 < ever
assert abs(played - within_100) < 3 * stderr

# %%
arrows = {0: (-1, 0), 1: (0, -1), 2: (1, 0), 3: (0, 1)}  # (dx, dy) on screen, y up
fig, axes = plt.subplots(1, 2, figsize=(12, 5), width_ratios=(1, 1.3))
ax = axes[0]
image = ax.imshow(V_vi.reshape(4, 4), cmap="viridis")
for s in range(n_states):
    row, col = divmod(s, 4)
    if holes_and_goal[s]:
        ax.text(col, row, desc[row, col], ha="center", va="center", fontsize=20, color="w")
        continue
    dx, dy = arrows[int(policy_vi[s])]
    ax.arrow(col - 0.25 * dx, row + 0.25 * dy, 0.3 * dx, -0.3 * dy, head_width=0.12, color="w")
    ax.text(col, row + 0.35, f"{V_vi[s]:.2f}", ha="center", va="center", fontsize=8, color="w")
ax.set_xticks([])
ax.set_yticks([])
ax.set_title(f"V* and the optimal policy (γ = {GAMMA})")
fig.colorbar(image, ax=ax, fraction=0.046)
ax = axes[1]
ax.loglog(range(1, sweeps + 1), vi_error, label="value iteration (per sweep)")
ax.loglog(range(1, sweeps + 1), bound, ":", color="0.4", label="γ^k bound of a contraction")
ax.loglog(range(1, rounds + 1), np.maximum(pi_error, 1e-16), "o-", color="C3",
          label="policy iteration (per round)")  # fmt: skip
ax.set_ylim(1e-12, 2)
ax.set(xlabel="sweep or round", ylabel="max |V − V*|")
ax.set_title(f"Value iteration: {sweeps} sweeps; policy iteration: {rounds} rounds")
ax.legend(fontsize=8)
fig.suptitle(f"FrozenLake 4x4: success within 100 steps {within_100:.3f} (played {played:.3f})")
lesson.save(fig, "frozenlake-values.png")

# %% [markdown]
# ## 5. Q-learning: the same answer from samples
#
# Planning needs the table $T$. Usually there is none: the agent can only act and see what
# happens, one transition $(s, a, r, s')$ at a time. **Q-learning** (Watkins 1989; S&B eq. 6.8)
# nudges its estimate towards a sampled version of the optimality equation:
#
# $$Q(s, a) \leftarrow Q(s, a) + \alpha\,\big[r + \gamma \max_{a'} Q(s', a') - Q(s, a)\big].$$
#
# The bracket is the **TD error**; the max means it learns about the *greedy* policy whatever
# the agent actually does — it is **off-policy**. **SARSA** (eq. 6.7) uses the action the agent
# takes next instead of the max, so it learns the values of the policy it *follows*.
#
# To show that clearly, both agents here behave completely at random ($\varepsilon = 1$) for
# 100,000 steps. Transitions are drawn from `P` exactly as FrozenLake's own `step` draws them
# (a categorical sample over `P[s][a]`), only without gymnasium's per-step overhead (about
# 20 µs, which 200,000 steps would turn into seconds). The learners see only $(s, a, r, s')$.
# The step size decays per pair as $\alpha = n(s, a)^{-0.6}$, a schedule under which
# Q-learning provably converges (Even-Dar & Mansour 2003).


# %%
def sample_step(s: int, a: int, u: float) -> tuple[int, float, bool]:
    """One transition from P[s][a], chosen by the uniform number u, as FrozenLake draws it."""
    for outcome in P[s][a]:  # (probability, next state, reward, terminated)
        u -= outcome[0]
        if u < 0:
            break
    _, s2, reward, terminated = outcome
    return s2, reward, terminated


Q_star = q_from_v(T, R, V_vi, GAMMA)  # (16, 4) the target of Q-learning
Q_uniform = q_from_v(T, R, V_uniform, GAMMA)  # the target of SARSA under a random policy
live = ~holes_and_goal  # the table's rows that are ever updated
STEPS = 100_000
rng = np.random.default_rng(0)
draws = STEPS + 100  # the last episode may run past STEPS
uniforms, actions = rng.random(draws).tolist(), rng.integers(0, 4, draws).tolist()


def learn(update: str) -> tuple[np.ndarray, list[tuple[int, float, float]]]:
    """ε = 1 for STEPS steps; every 100 episodes: (episode, gap to its target, greedy V(0))."""
    Q, visits, target = np.zeros((n_states, n_actions)), np.zeros((n_states, n_actions)), None
    target = Q_star if update == "q-learning" else Q_uniform
    step, episode, curve = 0, 0, []
    while step < STEPS:
        s, a = 0, actions[step]
        for _ in range(100):  # gymnasium's time limit; a cut episode still bootstraps
            s2, reward, terminated = sample_step(s, a, uniforms[step])
            step += 1
            a2 = actions[step]
            visits[s, a] += 1
            alpha = visits[s, a] ** -0.6
            if update == "q-learning":
                q_learning_update(Q, s, a, reward, s2, terminated, alpha, GAMMA)
            else:
                sarsa_update(Q, s, a, reward, s2, a2, terminated, alpha, GAMMA)
            s, a = s2, a2
            if terminated:
                break
        episode += 1
        if episode % 100 == 0:
            greedy_value = policy_values(T, R, Q.argmax(axis=1), GAMMA)[0]
            curve.append((episode, np.abs(Q - target)[live].max(), greedy_value))
    return Q, curve


Q_q, curve_q = learn("q-learning")
Q_sarsa, curve_sarsa = learn("sarsa")
episodes_q, gap_q, greedy_q = np.array(curve_q).T
_, gap_sarsa, greedy_sarsa = np.array(curve_sarsa).T
print(f"{int(episodes_q[-1])} random episodes; largest |Q − target|: Q-learning vs Q* "
      f"{gap_q[0]:.3f} -> {gap_q[-1]:.3f}, SARSA vs Q of the random policy "
      f"{gap_sarsa[0]:.3f} -> {gap_sarsa[-1]:.3f}")  # fmt: skip
print(f"value of the greedy policy at the start: Q-learning's {greedy_q[-1]:.4f}, "
      f"SARSA's {greedy_sarsa[-1]:.4f}, optimal {V_vi[0]:.4f}")  # fmt: skip
assert gap_q[-1] < 0.15 and gap_q[-1] < gap_q[0] / 5, "Q-learning approaches Q*"
assert gap_sarsa[-1] < 0.1, "SARSA approaches the values of the policy it follows"
assert abs(greedy_q[-1] - V_vi[0]) < 1e-6, "acting greedily on the learned Q is optimal"
improved = policy_values(T, R, Q_uniform.argmax(axis=1), GAMMA)[0]  # greedy on the exact Q
print(f"greedy on the exact Q of the random policy: V(start) = {improved:.4f}")
assert V_uniform[0] < improved < V_vi[0] - 1e-3, "one improvement step: better, not optimal"

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
ax = axes[0]
ax.plot(episodes_q, gap_q, label="Q-learning: max |Q − Q*|")
ax.plot(episodes_q, gap_sarsa, label="SARSA: max |Q − Q^random|")
ax.set_yscale("log")
ax.set(xlabel="episode (behaviour: uniformly random)", ylabel="largest error over (s, a)")
ax.set_title("Both converge, to different targets")
ax.legend(fontsize=8)
ax = axes[1]
ax.plot(episodes_q, greedy_q, label="greedy on Q-learning's Q")
ax.plot(episodes_q, greedy_sarsa, label="greedy on SARSA's Q")
ax.axhline(V_vi[0], color="k", ls="--", label=f"V*(start) = {V_vi[0]:.3f}")
ax.axhline(improved, color="C1", ls=":", label="greedy on the exact Q^random")
ax.axhline(V_uniform[0], color="0.5", ls=":", label="the random policy itself")
ax.set(xlabel="episode", ylabel="V(start) of the greedy policy (exact)")
ax.set_title("Off-policy Q-learning finds the optimal policy")
ax.legend(fontsize=8)
fig.suptitle(f"Learning from {STEPS:,} random transitions on FrozenLake (α = n(s, a)^−0.6)")
lesson.save(fig, "q-learning.png")

# %% [markdown]
# Q-learning, watching a random walker, learned the optimal values and policy. SARSA,
# watching the same walker, learned how good the *random* policy is. Acting greedily on that
# is one step of policy improvement: with the exact $Q^{\text{random}}$ it is worth 0.533 here,
# close to the optimum but below it; on SARSA's noisy estimate the greedy choice flips between
# actions whose values differ by less than the noise. With an ε-greedy behaviour that becomes
# greedy over time, as in `rl-frozenlake-qlearning`, the two end up close; near holes SARSA
# stays more careful, because it accounts for its own exploratory slips.
#
# ## 6. From a table to a network: DQN's two tricks
#
# A table needs a row per state. CartPole's state is four real numbers, Atari's is an image:
# DQN (Mnih et al. 2015) replaces the table by a network $Q_\theta(s, a)$ and the update by a
# gradient step on $\big(y - Q_\theta(s, a)\big)^2$ with $y = r + \gamma \max_{a'} Q(s', a')$.
# Two things that were harmless for a table break:
#
# **Consecutive transitions are nearly the same example.** A gradient step on the last 64
# steps of one episode sees 64 almost identical states, and the next step sees the next 64:
# the network chases whatever region the agent is in and forgets the rest. A **replay buffer**
# keeps the last $N$ transitions and trains on random batches from it, which are close to
# independent draws — and reuses every transition many times.

# %%
cartpole = gym.make("CartPole-v1")
buffer = ReplayBuffer(5000, obs_shape=(4,))
rng = np.random.default_rng(0)
obs, _ = cartpole.reset(seed=0)
stream = []
for step in range(2000):  # a random policy, as DQN's first steps are
    action = int(rng.integers(2))
    next_obs, reward, terminated, truncated, _ = cartpole.step(action)
    buffer.add(obs, action, float(reward), next_obs, terminated)
    stream.append(obs)
    obs = next_obs
    if terminated or truncated:
        obs, _ = cartpole.reset(seed=step)
stream = np.array(stream)  # (2000, 4) in the order the agent saw them
replayed = buffer.sample(2000, rng)["obs"].numpy()  # (2000, 4) in the order replay serves them


def lag1(x: np.ndarray) -> float:
    """Mean over features of the correlation between one example and the next."""
    return float(np.mean([np.corrcoef(x[:-1, j], x[1:, j])[0, 1] for j in range(x.shape[1])]))


print(f"correlation of consecutive examples: {lag1(stream):.3f} in the stream, "
      f"{lag1(replayed):.3f} from the replay buffer")  # fmt: skip
assert lag1(stream) > 0.8 and abs(lag1(replayed)) < 0.1

# %% [markdown]
# **The target moves with the network.** In the table, updating $Q(s, a)$ left $Q(s', \cdot)$
# alone. A network generalises: $s'$ is 20 milliseconds of physics after $s$, so a step that
# raises $Q_\theta(s, a)$ raises $Q_\theta(s', \cdot)$ by about as much — and with it the
# target $y$. We measure that on one gradient step, then train a small Q-network on a fixed
# batch of 256 transitions in two ways: with the **online** target (computed by the network
# being trained) and with a **target network**, a frozen copy synced every 50 steps. Rewards
# are 1 per step, so no return can exceed $1/(1-\gamma) = 100$.

# %%
batch = buffer.sample(256, rng)  # (256, …) one fixed set of transitions
alive = 1.0 - batch["terminated"]


def q_taken(net: torch.nn.Module) -> torch.Tensor:
    return net(batch["obs"]).gather(1, batch["actions"].long().unsqueeze(1)).squeeze(1)  # (256,)


def fit(sync_every: int | None, steps: int = 250) -> dict[str, np.ndarray]:
    """Adam on the TD loss; the target from the net itself (None) or a copy synced every k."""
    torch.manual_seed(0)
    net, target_net = mlp([4, 64, 64, 2]), mlp([4, 64, 64, 2])
    target_net.load_state_dict(net.state_dict())
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    log = {"loss": [], "mean_q": [], "target_moved": []}
    for k in range(steps):
        source = net if sync_every is None else target_net
        with torch.no_grad():
            y = batch["rewards"] + GAMMA * alive * source(batch["next_obs"]).max(1).values
            before_q, before_next = q_taken(net), net(batch["next_obs"]).max(1).values
        loss = F.mse_loss(q_taken(net), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():  # how far did the prediction move, and the online target?
            moved_q = (q_taken(net) - before_q).abs().mean()
            moved_y = (GAMMA * alive * (net(batch["next_obs"]).max(1).values - before_next)).abs()
        log["loss"].append(loss.item())
        log["mean_q"].append(before_q.mean().item())
        log["target_moved"].append((moved_y.mean() / moved_q).item())
        if sync_every and (k + 1) % sync_every == 0:
            target_net.load_state_dict(net.state_dict())
    return {key: np.array(values) for key, values in log.items()}


online, frozen = fit(None), fit(50)
follow = np.median(online["target_moved"])
print(f"one step moves the online target by {follow:.2f} x the prediction's own move")
print(f"after 250 steps: online target loss {online['loss'][-1]:.3g}, mean Q "
      f"{online['mean_q'][-1]:.0f}; target network loss {frozen['loss'][-1]:.3g}, mean Q "
      f"{frozen['mean_q'][-1]:.1f}")  # fmt: skip
assert follow > 0.5, "the target moves about as much as the prediction"
assert online["mean_q"][-1] > 100, "online targets drive Q past any possible return"
assert frozen["mean_q"][-1] < 100 and frozen["loss"].max() < 2 * frozen["loss"][0]
phase_ends = frozen["loss"][49:250:50] / frozen["loss"][0:250:50]
assert (phase_ends < 0.7).all(), "between syncs, each phase is a regression whose loss falls"

# %%
fig, axes = plt.subplots(1, 3, figsize=(17, 4.6))
ax = axes[0]
ax.plot(
    stream[:-1, 2], stream[1:, 2], ".", ms=2, alpha=0.5, label=f"stream (r = {lag1(stream):.2f})"
)
ax.plot(replayed[:-1, 2], replayed[1:, 2], ".", ms=2, alpha=0.5,
        label=f"replay batches (r = {lag1(replayed):.2f})")  # fmt: skip
ax.set(xlabel="pole angle of example i", ylabel="pole angle of example i + 1")
ax.set_title("Replay breaks the correlation of consecutive examples")
ax.legend(fontsize=8, markerscale=5)
ax = axes[1]
ax.semilogy(online["loss"], label="online target")
ax.semilogy(frozen["loss"], label="target network, synced every 50 steps")
ax.set(xlabel="gradient step (same 256 transitions)", ylabel="TD loss")
ax.set_title("Chasing a moving target vs regressions")
ax.legend(fontsize=8)
ax = axes[2]
ax.plot(online["mean_q"], label="online target")
ax.plot(frozen["mean_q"], label="target network")
ax.axhline(1 / (1 - GAMMA), color="k", ls="--", label="largest possible return 1/(1−γ)")
ax.set_yscale("symlog", linthresh=1)
ax.set_ylim(bottom=0)
ax.set(xlabel="gradient step", ylabel="mean Q(s, a) on the batch")
ax.set_title("Online targets feed on themselves")
ax.legend(fontsize=8)
fig.suptitle("CartPole, random-policy transitions, a 4-64-64-2 Q-network")
lesson.save(fig, "dqn-replay-target.png")

# %% [markdown]
# With the online target, every step raises the target about as much as the prediction, the
# error never closes, and the values run away far past 100, a return no episode can reach:
# bootstrapping, function approximation and off-policy data together — the "deadly triad"
# (S&B §11.3) — can diverge. The frozen copy turns training into a sequence of ordinary
# regressions: between syncs the target stands still and the loss falls; at each sync it
# moves once. DQN adds both tricks, and dllab's `dqn.py` a third, **double DQN** (van Hasselt
# et al. 2016): the online net *chooses* $a'$ and the target net *values* it, against the
# max's habit of picking whichever action noise overrates.
#
# ## Summary
#
# - An MDP is states, actions, $p(s' \mid s, a)$, rewards and $\gamma$; FrozenLake hands over
#   its table as `env.unwrapped.P`.
# - A policy's values solve a linear system, $(I - \gamma T_\pi) V^\pi = R_\pi$.
# - Value iteration (a $\gamma$-contraction, hundreds of sweeps) and policy iteration (a
#   handful of exact evaluations) reach the same $V^*$ and policy; its success rate within
#   100 steps is 0.74.
# - Q-learning learns $Q^*$ from samples, whatever the behaviour (off-policy); SARSA learns the
#   values of the behaviour it follows.
# - DQN needs a replay buffer (decorrelated, reused samples) and a target network (a target
#   that stands still); without the latter, values can diverge.
#
# ## Exercises
#
# - `dllab lab start value_iteration` — value iteration on FrozenLake maps, with step costs,
#   terminal states and ties, checked against policy iteration solved exactly.
# - `dllab lab start q_learning_update` — the Q-learning and SARSA updates over a batch of
#   transitions, applied in order.
#
# To try here (not graded):
#
# 1. Set `GAMMA = 0.9`. Which states change their action, and what happens to the success
#    rate within 100 steps? Why does a short-sighted agent take more risks?
# 2. Give Q-learning a constant step size `alpha = 0.1`. Does the gap still go to zero?
# 3. Sync the target network every 5 steps, then every 200. Where does it start to diverge?
