"""Exercise gae: generalised advantage estimation over a rollout, in NumPy.

Actor-critic methods such as PPO weigh each action by its advantage. GAE (Schulman et al. 2016,
"High-Dimensional Continuous Control Using Generalized Advantage Estimation") mixes the n-step
estimates with a factor lam, computed backwards over a rollout of T steps:

    next_value = last_value at t = T - 1, else values[t + 1]
    delta_t    = rewards[t] + gamma * next_value * (1 - dones[t]) - values[t]
    A_t        = delta_t + gamma * lam * (1 - dones[t]) * A_{t+1}       (A_T = 0)
    returns    = advantages + values                                    (what V is fitted to)

dones[t] = 1 says the episode ENDED at step t: then nothing of the next episode (its value,
its advantages) may leak back into step t. The rollout is usually cut off mid-episode at its
end, so the last step bootstraps on last_value, the critic's value of the state after it.
Arrays are (T,) for one environment (last_value a float) or (T, n_envs) for a vectorised rollout
(last_value (n_envs,)): write it so that both work. The reference is CleanRL's loop in torch.
NumPy only: torch is refused. Grade it with `dllab lab check gae`.
"""

from __future__ import annotations

import numpy as np


def gae(
    rewards: np.ndarray,
    values: np.ndarray,
    dones: np.ndarray,
    last_value: float | np.ndarray,
    gamma: float,
    lam: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Return (advantages, returns), each shaped like rewards.

    Example (the episode ends at step 1; steps 0-1 and step 2 belong to different episodes):
        >>> adv, ret = gae(np.array([1.0, 1.0, 1.0]), np.array([0.5, 0.5, 0.5]),
        ...                np.array([0.0, 1.0, 0.0]), 2.0, 0.9, 0.8)
        >>> adv.round(4).tolist(), ret.round(4).tolist()
        ([1.31, 0.5, 2.3], [1.81, 1.0, 2.8])

    TODO: a loop from t = T - 1 down to 0 carrying the advantage; then the returns.
    """
    raise NotImplementedError("Need to implement for exercise gae")
