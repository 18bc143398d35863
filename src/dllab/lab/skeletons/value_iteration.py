"""Exercise value_iteration: the optimal values and a greedy policy of a tabular MDP, in NumPy.

A finite MDP (Sutton & Barto 2018, ch. 3-4) is given as arrays: P[s, a, s'] the probability of
landing in s' after action a in s, and R[s, a, s'] the reward of that transition. The cases are
FrozenLake maps from gymnasium (actions 0 left, 1 down, 2 right, 3 up; slippery ice moves you
sideways two times in three), reaching the goal pays 1, and most cases add a step cost to every
transition. Value iteration repeats the Bellman optimality backup until V stops moving:

    Q(s, a) = sum over s' of P[s, a, s'] * (R[s, a, s'] + gamma * V(s'))
    V(s)    = max over a of Q(s, a)

Start from V = 0 and stop after the first sweep in which no value moved by `tol` or more.
Terminal states (`terminal[s]` True: the holes and the goal) have value 0 always: the episode
is over. Their rows of P and R are there (a self-loop, as gymnasium stores them) but never
happen, so do not use them.

The greedy policy takes the best action of Q computed from your final V. Ties: actions within
1e-6 of the best count as tied, and the LOWEST action index wins (terminal states: action 0).
The reference is policy iteration, solved exactly with np.linalg.solve, on the same arrays.
Grade it with `dllab lab check value_iteration`.
"""

from __future__ import annotations

import numpy as np


def value_iteration(
    P: np.ndarray, R: np.ndarray, terminal: np.ndarray, gamma: float, tol: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return (V, policy): V* of shape (S,) and the greedy policy, (S,) integers in [0, A).

    Args:
        P: (S, A, S) transition probabilities, each P[s, a] sums to 1.
        R: (S, A, S) rewards of the transitions.
        terminal: (S,) booleans, True for the states where the episode ends.
        gamma: the discount, below 1; tol: stop once a sweep changes no value by tol or more.

    Example (state 0: stay with action 0, or step into terminal state 1 for a reward of 1):
        >>> P = np.zeros((2, 2, 2)); P[0, 0, 0] = P[0, 1, 1] = P[1, :, 1] = 1.0
        >>> R = np.zeros((2, 2, 2)); R[0, 1, 1] = 1.0
        >>> V, policy = value_iteration(P, R, np.array([False, True]), 0.9, 1e-10)
        >>> V.tolist(), policy.tolist()
        ([1.0, 0.0], [1, 0])

    TODO: the expected reward of each (s, a); sweep until converged, keeping terminal states
    at 0; then the greedy policy with the tie rule above.
    """
    raise NotImplementedError("Need to implement for exercise value_iteration")
