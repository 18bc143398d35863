"""Tabular RL: value and policy iteration from the model, Q-learning and SARSA from samples.

Planning reads the environment's transition table `P[s][a] = [(prob, next_state, reward,
terminated), …]` (gymnasium's toy-text environments expose it as `env.unwrapped.P`), the
finite MDP of Sutton & Barto (2018), ch. 4. Learning uses only sampled transitions (ch. 6).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from dllab.rl.agent import Agent, linear_schedule, rng_state, set_rng_state
from dllab.rl.envs import episode_seed, make_env
from dllab.rl.options import RLOptions

Transitions = dict[int, dict[int, list[tuple[float, int, float, bool]]]]


def transition_arrays(P: Transitions) -> tuple[np.ndarray, np.ndarray]:
    """`P` as dense arrays: T[s, a, s'] probabilities and R[s, a] expected rewards."""
    n_states, n_actions = len(P), len(P[0])
    T = np.zeros((n_states, n_actions, n_states))
    R = np.zeros((n_states, n_actions))
    for s in range(n_states):
        for a in range(n_actions):
            for prob, s2, reward, terminated in P[s][a]:
                # A terminal next state has value 0: its mass leaves the chain.
                T[s, a, s2] += 0.0 if terminated else prob
                R[s, a] += prob * reward
    return T, R


def q_from_v(T: np.ndarray, R: np.ndarray, V: np.ndarray, gamma: float) -> np.ndarray:
    """Q(s, a) = R(s, a) + γ Σ_s' T(s, a, s') V(s')  (one Bellman backup, S&B eq. 4.6)."""
    return R + gamma * T @ V


def value_iteration(
    P: Transitions, gamma: float = 0.99, theta: float = 1e-10, max_sweeps: int = 100_000
) -> tuple[np.ndarray, np.ndarray, int]:
    """Optimal values V*, a greedy policy and the number of sweeps (S&B §4.4).

    Sweeps V ← max_a Q(s, a) until no value moves more than `theta`.

    >>> V, policy, sweeps = value_iteration(frozen_lake.unwrapped.P)  # doctest: +SKIP
    """
    T, R = transition_arrays(P)
    V, sweeps, delta = np.zeros(len(P)), 0, np.inf
    while delta >= theta and sweeps < max_sweeps:
        new = q_from_v(T, R, V, gamma).max(axis=1)
        delta, V, sweeps = np.abs(new - V).max(), new, sweeps + 1
    return V, q_from_v(T, R, V, gamma).argmax(axis=1), sweeps


def policy_values(T: np.ndarray, R: np.ndarray, policy: np.ndarray, gamma: float) -> np.ndarray:
    """V^π solved exactly: (I − γ T_π) V = R_π (the Bellman expectation equation, S&B eq. 4.4)."""
    states = np.arange(len(policy))
    T_pi, R_pi = T[states, policy], R[states, policy]
    return np.linalg.solve(np.eye(len(policy)) - gamma * T_pi, R_pi)


def policy_iteration(
    P: Transitions, gamma: float = 0.99, max_rounds: int = 1_000
) -> tuple[np.ndarray, np.ndarray, int]:
    """Optimal values, policy and rounds of evaluate-then-improve until stable (S&B §4.3)."""
    T, R = transition_arrays(P)
    policy, rounds, stable = np.zeros(len(P), dtype=np.int64), 0, False
    while not stable and rounds < max_rounds:
        V = policy_values(T, R, policy, gamma)
        Q = q_from_v(T, R, V, gamma)
        # Keep the current action on ties, or two equally good actions flip forever.
        keep = Q[np.arange(len(policy)), policy] >= Q.max(axis=1) - 1e-12
        new = np.where(keep, policy, Q.argmax(axis=1))
        stable, policy, rounds = np.array_equal(new, policy), new, rounds + 1
    return V, policy, rounds


def q_learning_update(
    Q: np.ndarray, s: int, a: int, r: float, s2: int, terminated: bool, alpha: float, gamma: float
) -> float:
    """Q(s,a) += α (r + γ max_a' Q(s',a') − Q(s,a)), in place; returns the TD error (S&B eq. 6.8).

    A terminated episode has no future (a time-limit truncation does: bootstrap from s').
    """
    target = r + (0.0 if terminated else gamma * Q[s2].max())
    error = target - Q[s, a]
    Q[s, a] += alpha * error
    return float(error)


def sarsa_update(
    Q: np.ndarray,
    s: int,
    a: int,
    r: float,
    s2: int,
    a2: int,
    terminated: bool,
    alpha: float,
    gamma: float,
) -> float:
    """Q(s,a) += α (r + γ Q(s',a') − Q(s,a)) with a' the action taken next (S&B eq. 6.7)."""
    target = r + (0.0 if terminated else gamma * Q[s2, a2])
    error = target - Q[s, a]
    Q[s, a] += alpha * error
    return float(error)


class PlannerOptions(RLOptions):
    total_steps: int = Field(10_000, ge=1)  # most sweeps (value iteration) or rounds (policy)
    theta: float = Field(1e-10, gt=0)  # value iteration stops when no value moves more


class Planner(Agent):
    """Value or policy iteration on the environment's own transition table."""

    Options = PlannerOptions

    def setup(self) -> None:
        env = make_env(self.env_id)
        P = getattr(env.unwrapped, "P", None)
        if P is None:
            from dllab.errors import ConfigError

            raise ConfigError(
                f"{self.name} needs the transition table of a toy-text environment "
                f"(FrozenLake, Taxi, CliffWalking); {self.env_id} has none: use q-learning"
            )
        self.P = P
        self.V_ = np.zeros(len(P))
        self.policy_ = np.zeros(len(P), dtype=np.int64)

    def iterate(self) -> dict[str, float]:
        # One call plans to convergence: the loop's unit is the whole plan (milliseconds).
        o = self.options
        if self.name == "value-iteration":
            V, policy, n = value_iteration(self.P, o.gamma, o.theta, o.total_steps)
        else:
            V, policy, n = policy_iteration(self.P, o.gamma, o.total_steps)
        self.V_, self.policy_, self.steps_, self.done_ = V, policy, n, True
        return {"sweeps": float(n), "value_start": float(V[0])}

    def act(self, obs: Any) -> int:
        return int(self.policy_[int(obs)])

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "V": self.V_, "policy": self.policy_}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.V_, self.policy_ = state["V"], state["policy"]

    def network_name(self) -> str:
        return "table"


class ValueIteration(Planner):
    name = "value-iteration"


class PolicyIteration(Planner):
    name = "policy-iteration"


class TDOptions(RLOptions):
    total_steps: int = Field(200_000, ge=1)
    alpha: float = Field(0.1, gt=0, le=1)  # step size of each update
    start_epsilon: float = Field(1.0, ge=0, le=1)  # ε-greedy exploration at the start
    end_epsilon: float = Field(0.05, ge=0, le=1)  # … and after decaying
    exploration_fraction: float = Field(0.5, gt=0, le=1)  # share of total_steps ε decays over


class TDLearner(Agent):
    """Q-learning (off-policy: bootstraps from the best next action) or SARSA (on-policy:
    from the action it will take), one episode per `iterate`, ε-greedy."""

    Options = TDOptions

    def setup(self) -> None:
        self.env = make_env(self.env_id, seed=self.seed)
        self.Q_ = np.zeros((self.env.observation_space.n, self.env.action_space.n))
        self.rng = np.random.default_rng(self.seed)

    def epsilon(self) -> float:
        o = self.options
        return linear_schedule(
            o.start_epsilon, o.end_epsilon, o.exploration_fraction * o.total_steps, self.steps_
        )

    def choose(self, s: int) -> int:
        if self.rng.random() < self.epsilon():
            return int(self.rng.integers(self.Q_.shape[1]))
        row = self.Q_[s]  # ties broken at random: an all-zero table must not always go left
        return int(self.rng.choice(np.flatnonzero(row == row.max())))

    def iterate(self) -> dict[str, float]:
        o = self.options
        s, _ = self.env.reset(seed=episode_seed(self.seed, self.episodes_))
        self.episodes_ += 1
        a, total, done = self.choose(s), 0.0, False
        while not done:
            s2, r, terminated, truncated, _ = self.env.step(a)
            self.steps_ += 1
            a2 = self.choose(s2)
            if self.name == "q-learning":
                q_learning_update(self.Q_, s, a, r, s2, terminated, o.alpha, o.gamma)
            else:
                sarsa_update(self.Q_, s, a, r, s2, a2, terminated, o.alpha, o.gamma)
            s, a, total, done = s2, a2, total + float(r), terminated or truncated
        return {"episode_return": total, "epsilon": self.epsilon()}

    def act(self, obs: Any) -> int:
        return int(self.Q_[int(obs)].argmax())

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "Q": self.Q_, "rng": rng_state(self.rng)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.Q_ = np.array(state["Q"])
        set_rng_state(self.rng, state["rng"])

    def network_name(self) -> str:
        return "table"


class QLearning(TDLearner):
    name = "q-learning"


class Sarsa(TDLearner):
    name = "sarsa"


AGENTS = {a.name: a for a in (ValueIteration, PolicyIteration, QLearning, Sarsa)}
