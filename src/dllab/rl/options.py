"""Options every RL algorithm shares, checked as strictly as the rest of a recipe.

They live in the recipe's `task:` section (`task: {name: dqn, total_steps: 50000, …}`); each
algorithm subclasses `RLOptions` with its own hyper-parameters, like CleanRL's `Args`. The
environment is `data.name` (what an agent learns from), the network's widths are
`model.kwargs.hidden`, the learning rate is `optim.lr`, the seed `train.seed`.
"""

from __future__ import annotations

from pydantic import Field

from dllab.tasks.base import TaskOptions


class RLOptions(TaskOptions):
    """The options of every algorithm (strict: an unknown key names the closest valid ones)."""

    total_steps: int = Field(50_000, ge=1)  # environment steps (summed over copies)
    gamma: float = Field(0.99, gt=0, le=1)  # discount: how far ahead returns look
    eval_episodes: int = Field(100, ge=1)  # greedy episodes at the end (the solved criterion)
    eval_seed: int = 1_000_000  # episode i of the evaluation resets with eval_seed + i
    # Validation, as rl-zoo's EvalCallback: every val_every steps the greedy policy plays
    # val_episodes on other seeds, and the final evaluation judges the best of those policies
    # (None: the last one). It picks among checkpoints without looking at the test seeds
    # (`loop._check_validation` refuses overlapping seeds, and tables, which it cannot keep).
    # Both seed ranges stay below envs.TRAIN_SEED_BASE, where training's resets begin.
    val_every: int | None = Field(None, ge=1)
    val_episodes: int = Field(10, ge=1)
    val_seed: int = 2_000_000  # validation episode i resets with val_seed + i
    gif_frames: int = Field(200, ge=0)  # frames of the trained agent kept for agent.gif (0: none)
    # Start from another run's weights (a run folder); it must share environment and spaces
    init_from: str | None = None
