"""Grader for value_iteration: V* and the greedy policy of FrozenLake maps, solved another way.

Each case is a FrozenLake map from gymnasium (`generate_random_map`, slippery or not), its
transition table `env.unwrapped.P` turned into dense arrays P[s, a, s'] and R[s, a, s'] (the
goal pays 1; most cases add a step cost -c to every transition, so that how terminal states
are treated changes the values). Holes and the goal are terminal: their value is 0, whatever
their rows of P and R say (gymnasium gives them a self-loop, which never happens).

The reference is policy iteration with exact evaluation (`np.linalg.solve` on
(I - gamma P_pi) V = r_pi, Sutton & Barto 2018 §4.3), not value iteration, so the two agree
only where both are right. The expected policy is greedy on the reference's Q*, breaking ties
(actions within 1e-6 of the best) towards the lowest action index, as `np.argmax` does. Maps
with a near-tie that is not a tie (a gap between 1e-6 and 1e-4) are drawn again.
"""

from __future__ import annotations

import numpy as np

from dllab.lab.checks import Case, Failed, as_array, assert_close, call, text, unpack

TIE = 1e-6

WRONG_AXIS = text(
    "Take the max over the ACTIONS only: Q has shape (S, A) and V(s) = Q.max(axis=1). The next "
    "states s' (axis 2 of P) are averaged with their probabilities, never maxed over.",
    "只在动作上取最大值：Q 的形状是 (S, A)，V(s) = Q.max(axis=1)。"
    "下一状态 s'（P 的第 2 维）要按概率求平均，不能取最大值。",
)
TERMINAL = text(
    "A terminal state (a hole or the goal) has value 0: the episode is over and no reward "
    "follows. Set V[terminal] = 0 after each sweep; the rows P and R give them are never used.",
    "终止状态（冰洞或终点）的价值为 0：回合已经结束，之后没有奖励。"
    "每轮更新后设 V[terminal] = 0；P 和 R 中它们的那几行不会被用到。",
)
EXPECTED_R = text(
    "The reward of (s, a) is an EXPECTATION over the next state: sum over s' of "
    "P[s, a, s'] * R[s, a, s'], not a plain sum, mean or max of R.",
    "(s, a) 的奖励是对下一状态的期望：对 s' 求 P[s, a, s'] * R[s, a, s'] 的和，"
    "而不是 R 的简单求和、平均或最大值。",
)
EARLY = text(
    "Close but not converged: keep sweeping until the largest change of V in one sweep is "
    "below `tol` (the tolerance you are given), not a fixed number of sweeps.",
    "接近但尚未收敛：一直迭代，直到一轮中 V 的最大变化小于给定的 `tol`，而不是固定的轮数。",
)
TIES = text(
    "Your policy picks optimal actions but breaks ties differently: where several actions are "
    "within 1e-6 of the best, choose the LOWEST action index (np.argmax of "
    "Q >= Q.max(axis=1, keepdims=True) - 1e-6).",
    "你的策略选的都是最优动作，但并列时的取法不同：当多个动作与最优值相差不到 1e-6 时，"
    "取编号最小的动作（对 Q >= Q.max(axis=1, keepdims=True) - 1e-6 做 np.argmax）。",
)
NOT_GREEDY = text(
    "The policy is greedy on Q*(s, a) = sum_s' P[s, a, s'] (R[s, a, s'] + gamma V*(s')), "
    "argmax over the actions (axis 1).",
    "策略是对 Q*(s, a) = sum_s' P[s, a, s'] (R[s, a, s'] + gamma V*(s')) 贪心，"
    "在动作维（axis 1）上取 argmax。",
)


def frozen_lake(size: int, slippery: bool, seed: int, cost: float):
    """(P, R, terminal, desc) of a random FrozenLake map from gymnasium."""
    from gymnasium.envs.toy_text.frozen_lake import FrozenLakeEnv, generate_random_map

    desc = generate_random_map(size=size, p=0.8, seed=seed)
    table = FrozenLakeEnv(desc=desc, is_slippery=slippery).P
    n_s, n_a = len(table), len(table[0])
    P, R = np.zeros((n_s, n_a, n_s)), np.full((n_s, n_a, n_s), -cost)
    for s in range(n_s):
        for a in range(n_a):
            for prob, s2, reward, _ in table[s][a]:
                P[s, a, s2] += prob
                R[s, a, s2] = reward - cost
    terminal = np.array([c in "HG" for row in desc for c in row])
    return P, R, terminal, desc


def _q(P, R, V, gamma, r_exp=None):
    return (np.sum(P * R, axis=2) if r_exp is None else r_exp) + gamma * P @ V


def policy_iteration(P, R, terminal, gamma):
    """V* and Q* by policy iteration with exact evaluation."""
    n_s = P.shape[0]
    r_exp, states = np.sum(P * R, axis=2), np.arange(n_s)
    live = ~terminal
    policy = np.zeros(n_s, dtype=int)
    for _ in range(1000):
        P_pi, r_pi = P[states, policy] * live[:, None], r_exp[states, policy] * live
        V = np.linalg.solve(np.eye(n_s) - gamma * P_pi, r_pi)
        Q = _q(P, R, V, gamma, r_exp)
        best = Q.max(axis=1)
        keep = Q[states, policy] >= best - 1e-12  # change only for a strict improvement
        new = np.where(keep, policy, Q.argmax(axis=1))
        if np.array_equal(new, policy):
            return V, Q
        policy = new
    raise AssertionError("policy iteration did not converge")


def _value_iteration(P, R, terminal, gamma, *, r_exp=None, mask=True, max_next=False):
    """Value iteration with a known mistake switched on."""
    V = np.zeros(P.shape[0])
    for _ in range(100_000):
        if max_next:  # the max taken over s' as well as over the actions
            new = (P * (R + gamma * V)).max(axis=2).max(axis=1)
        else:
            new = _q(P, R, V, gamma, r_exp).max(axis=1)
        new = np.where(terminal, 0.0, new) if mask else new
        delta, V = np.max(np.abs(new - V)), new
        if delta < 1e-12:
            break
    return V


def _draw(rng: np.random.Generator, index: int):
    for _ in range(50):
        size = 4 if index % 2 == 0 else 5
        slippery = index % 3 != 2
        cost = 0.0 if index % 3 == 0 else float(rng.choice([0.01, 0.02, 0.05]))
        gamma = float(rng.choice([0.9, 0.95, 0.99]))
        P, R, terminal, desc = frozen_lake(size, slippery, int(rng.integers(2**31)), cost)
        V, Q = policy_iteration(P, R, terminal, gamma)
        gaps = Q.max(axis=1, keepdims=True) - Q
        if not np.any((gaps > TIE) & (gaps < 1e-4)):
            return P, R, terminal, desc, gamma, cost, slippery, V, Q
    raise AssertionError("no FrozenLake map without near-ties in 50 draws")


def make_case(index: int, rng: np.random.Generator) -> Case:
    P, R, terminal, desc, gamma, cost, slippery, V, Q = _draw(rng, index)
    n_s, n_a = Q.shape
    tol = 1e-10
    best = Q.max(axis=1, keepdims=True)
    tied = best - Q <= TIE
    policy = np.argmax(tied, axis=1)

    def check(module):
        reply = call(module, "value_iteration", P.copy(), R.copy(), terminal.copy(), gamma, tol)
        got_v, got_pi = unpack("value_iteration", reply, 2)
        got = as_array("V", got_v)
        wrong = [(_value_iteration(P, R, terminal, gamma, mask=False), TERMINAL),
                 (_value_iteration(P, R, terminal, gamma, max_next=True), WRONG_AXIS)]  # fmt: skip
        for r_exp in (R.sum(axis=2), R.mean(axis=2), R.max(axis=2)):
            wrong.append((_value_iteration(P, R, terminal, gamma, r_exp=r_exp), EXPECTED_R))
        hint = None
        if got.shape == (n_a,) != (n_s,):
            hint = WRONG_AXIS
        elif got.shape == V.shape and np.max(np.abs(got - V)) < 0.05:
            hint = EARLY
        assert_close("V", got, V, rtol=1e-5, atol=1e-6, hint=hint, mistakes=wrong)
        pi = as_array("policy", got_pi)
        if pi.shape != policy.shape:
            raise Failed(
                text(
                    f"policy: expected shape {policy.shape}, got {pi.shape}",
                    f"policy：形状应为 {policy.shape}，实际为 {pi.shape}",
                ),  # fmt: skip
                WRONG_AXIS if pi.shape == (n_a,) else NOT_GREEDY,
            )
        bad = np.flatnonzero(pi != policy)
        if bad.size:
            s = int(bad[0])
            legal = np.all((pi >= 0) & (pi < n_a) & (pi == np.round(pi)))
            optimal = legal and bool(np.all(tied[np.arange(n_s), pi.astype(int)]))
            raise Failed(
                text(
                    f"policy differs in {bad.size} state(s), first state {s}: got action "
                    f"{pi[s]:g}, expected {policy[s]}",
                    f"policy 在 {bad.size} 个状态上不同，第一个是状态 {s}：实际动作 {pi[s]:g}，"
                    f"期望 {policy[s]}",
                ),
                TIES if optimal else NOT_GREEDY,
            )

    kind = "slippery" if slippery else "not slippery"
    kind_zh = "湿滑" if slippery else "不湿滑"
    rows = "/".join(desc)
    return Case(
        text(
            f"FrozenLake {len(desc)}x{len(desc)} {rows} ({kind}); P and R ({n_s}, {n_a}, {n_s}), "
            f"step cost {cost:g}, gamma {gamma:g}, tol {tol:g}",
            f"FrozenLake {len(desc)}x{len(desc)} {rows}（{kind_zh}）；P 与 R ({n_s}, {n_a}, "
            f"{n_s})，每步代价 {cost:g}，gamma {gamma:g}，tol {tol:g}",
        ),
        check,
    )
