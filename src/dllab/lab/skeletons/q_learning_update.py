"""Exercise q_learning_update: the tabular Q-learning and SARSA updates, in NumPy.

Both learn Q(s, a) from sampled transitions (s, a, r, s', done) (Sutton & Barto 2018, §6.4-6.5),
moving Q[s, a] a fraction alpha of the way towards a target:

    Q-learning (off-policy): target = r + gamma * max over a' of Q[s', a']
    SARSA (on-policy):       target = r + gamma * Q[s', a']     (a' the action taken in s')
    Q[s, a] += alpha * (target - Q[s, a])

When the transition ends the episode (done = 1), s' has no future: the target is r alone.
You get a batch of transitions as arrays; apply them ONE AFTER ANOTHER, in the given order,
each on the table the previous ones left (a pair (s, a) can repeat, and a later transition can
bootstrap on a row an earlier one changed). Return the updated table; do not return the input
unchanged. The reference applies the same updates in torch. NumPy only: torch is refused.
Grade it with `dllab lab check q_learning_update`.
"""

from __future__ import annotations

import numpy as np


def q_learning_update(
    Q: np.ndarray,
    s: np.ndarray,
    a: np.ndarray,
    r: np.ndarray,
    s_next: np.ndarray,
    done: np.ndarray,
    alpha: float,
    gamma: float,
) -> np.ndarray:
    """The table (S, A) after Q-learning's update for each transition, in order.

    Args:
        Q: (S, A) action values. s, a, s_next: (N,) integers; r, done: (N,) floats (done 0 or 1).

    Example:
        >>> Q = np.array([[0.0, 0.0], [2.0, 4.0]])
        >>> one = lambda v: np.array([v])
        >>> q_learning_update(Q, one(0), one(1), one(1.0), one(1), one(0.0), 0.5, 0.9).tolist()
        [[0.0, 2.3], [2.0, 4.0]]

    TODO: a loop over the transitions: the target, then the update of Q[s, a].
    """
    raise NotImplementedError("Need to implement for exercise q_learning_update")


def sarsa_update(
    Q: np.ndarray,
    s: np.ndarray,
    a: np.ndarray,
    r: np.ndarray,
    s_next: np.ndarray,
    a_next: np.ndarray,
    done: np.ndarray,
    alpha: float,
    gamma: float,
) -> np.ndarray:
    """The table (S, A) after SARSA's update for each transition, in order.

    Example:
        >>> Q = np.array([[0.0, 0.0], [2.0, 4.0]])
        >>> one = lambda v: np.array([v])
        >>> sarsa_update(Q, one(0), one(1), one(1.0), one(1), one(0), one(0.0), 0.5, 0.9).tolist()
        [[0.0, 1.4], [2.0, 4.0]]

    TODO: as q_learning_update, with the action taken next instead of the max.
    """
    raise NotImplementedError("Need to implement for exercise q_learning_update")
