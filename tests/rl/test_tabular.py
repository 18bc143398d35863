"""Tabular RL: planners reach the optimal values; the TD updates do what the book says."""

import numpy as np
import pytest

from dllab.rl.envs import make_env
from dllab.rl.tabular import (
    policy_iteration,
    q_learning_update,
    sarsa_update,
    value_iteration,
)

GAMMA = 0.99


@pytest.fixture(scope="module")
def frozen_lake():
    return make_env("FrozenLake-v1")


def bellman_solution(P, policy, gamma):
    """V^π from the Bellman expectation equation, built straight from P: (I − γ P_π) V = r_π."""
    n = len(P)
    A, b = np.eye(n), np.zeros(n)
    for s in range(n):
        for prob, s2, reward, done in P[s][int(policy[s])]:
            b[s] += prob * reward
            if not done:
                A[s, s2] -= gamma * prob
    return np.linalg.solve(A, b)


def test_value_and_policy_iteration_agree_with_the_bellman_solution(frozen_lake):
    P = frozen_lake.unwrapped.P
    V_vi, pi_vi, _ = value_iteration(P, GAMMA)
    V_pi, pi_pi, rounds = policy_iteration(P, GAMMA)
    exact = bellman_solution(P, pi_pi, GAMMA)
    np.testing.assert_allclose(V_pi, exact, atol=1e-10)
    np.testing.assert_allclose(V_vi, exact, atol=1e-7)
    # Optimal, not just consistent: no action improves on the policy anywhere.
    for s in range(len(P)):
        for a in range(4):
            q = sum(p * (r + GAMMA * (0 if d else exact[s2])) for p, s2, r, d in P[s][a])
            assert q <= exact[s] + 1e-9
    assert exact[0] == pytest.approx(0.542, abs=1e-3)  # the start state's optimal value
    assert rounds < 20  # policy iteration converges in a handful of rounds


def test_the_greedy_policy_succeeds_about_74_percent_of_the_time(frozen_lake):
    _, policy, _ = value_iteration(frozen_lake.unwrapped.P, GAMMA)
    wins = 0.0
    for i in range(500):
        s, _ = frozen_lake.reset(seed=i)
        done = False
        while not done:
            s, r, terminated, truncated, _ = frozen_lake.step(int(policy[s]))
            done = terminated or truncated
        wins += r
    assert 0.71 <= wins / 500 <= 0.78  # 0.744 on these seeds; sd of a 500-episode mean 0.02


def test_q_learning_update_by_hand():
    Q = np.zeros((2, 2))
    Q[1] = [1.0, 3.0]
    error = q_learning_update(Q, 0, 1, r=1.0, s2=1, terminated=False, alpha=0.5, gamma=0.9)
    assert error == pytest.approx(1 + 0.9 * 3)  # target 3.7, Q was 0
    assert Q[0, 1] == pytest.approx(0.5 * 3.7)
    q_learning_update(Q, 0, 0, r=1.0, s2=1, terminated=True, alpha=0.5, gamma=0.9)
    assert Q[0, 0] == pytest.approx(0.5)  # no future after a terminal step


def test_sarsa_bootstraps_from_the_action_taken_not_the_best():
    Q = np.zeros((2, 2))
    Q[1] = [1.0, 3.0]
    sarsa_update(Q, 0, 1, r=1.0, s2=1, a2=0, terminated=False, alpha=0.5, gamma=0.9)
    assert Q[0, 1] == pytest.approx(0.5 * (1 + 0.9 * 1.0))
