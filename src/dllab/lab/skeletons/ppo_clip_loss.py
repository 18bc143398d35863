"""Exercise ppo_clip_loss: PPO's clipped surrogate loss and its value loss, in NumPy.

PPO (Schulman et al. 2017, "Proximal Policy Optimization Algorithms") improves the policy on
data from an older one, but does not let the probability ratio wander far from 1. With the
log-probabilities of the actions taken under the new and the old policy, and their advantages:

    ratio    = pi_new(a | s) / pi_old(a | s) = exp(logprobs - old_logprobs)
    L_clip   = mean( min(ratio * A, clip(ratio, 1 - clip_eps, 1 + clip_eps) * A) )   # maximise
    pg_loss  = -L_clip = mean( max(-A * ratio, -A * clip(ratio, 1 - clip_eps, 1 + clip_eps)) )
    v_loss   = 0.5 * mean((values - returns)^2)

Return the LOSSES, to minimise (as CleanRL's ppo.py computes pg_loss and v_loss). The
advantages are used as given. The reference is the same computation in torch.
NumPy only: torch is refused. Grade it with `dllab lab check ppo_clip_loss`.
"""

from __future__ import annotations

import numpy as np


def clip_loss(
    logprobs: np.ndarray, old_logprobs: np.ndarray, advantages: np.ndarray, clip_eps: float
) -> float:
    """PPO's clipped policy loss, a float. All arrays (N,), one entry per action taken.

    Example (ratios 1.5 and 0.75 with clip_eps 0.2):
        >>> round(clip_loss(np.log(np.array([0.6, 0.3])), np.log(np.array([0.4, 0.4])),
        ...                 np.array([1.0, -1.0]), 0.2), 4)
        -0.2

    TODO: the ratio, its clipped twin, the pessimistic (larger) loss of the two, the mean.
    """
    raise NotImplementedError("Need to implement for exercise ppo_clip_loss")


def value_loss(values: np.ndarray, returns: np.ndarray) -> float:
    """0.5 * mean((values - returns)^2), a float.

    Example:
        >>> value_loss(np.array([1.0, 2.0]), np.array([0.0, 0.0]))
        1.25

    TODO: one line.
    """
    raise NotImplementedError("Need to implement for exercise ppo_clip_loss")
