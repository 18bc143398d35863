"""Options every RL algorithm shares, checked as strictly as the rest of a recipe.

They live in the recipe's `task:` section (`task: {name: dqn, total_steps: 50000, …}`); each
algorithm subclasses `RLOptions` with its own hyper-parameters, like CleanRL's `Args`. The
environment is `data.name` (what an agent learns from), the network's widths are
`model.kwargs.hidden`, the learning rate is `optim.lr`, the seed `train.seed`.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from dllab.tasks.base import TaskOptions


class RLOptions(TaskOptions):
    """The options of every algorithm (strict: an unknown key names the closest valid ones)."""

    total_steps: int = Field(50_000, ge=1)  # environment steps (summed over copies)
    gamma: float = Field(0.99, gt=0, le=1)  # discount: how far ahead returns look
    eval_episodes: int = Field(100, ge=1)  # greedy episodes at the end (the solved criterion)
    eval_seed: int = 1_000_000  # episode i of the evaluation resets with eval_seed + i
    # Validation, as rl-zoo's EvalCallback: every val_every steps the greedy policy plays
    # val_episodes on other seeds, and the final evaluation judges the best of those policies
    # (None: the last one). It picks among checkpoints without looking at the test seeds.
    val_every: int | None = Field(None, ge=1)
    val_episodes: int = Field(10, ge=1)
    val_seed: int = 2_000_000  # validation episode i resets with val_seed + i

    @model_validator(mode="after")
    def _val_seeds_apart(self) -> RLOptions:
        val = range(self.val_seed, self.val_seed + self.val_episodes)
        test = range(self.eval_seed, self.eval_seed + self.eval_episodes)
        if self.val_every is not None and val.start < test.stop and test.start < val.stop:
            raise ValueError(
                f"validation seeds {val.start}…{val.stop - 1} overlap the evaluation's "
                f"{test.start}…{test.stop - 1}: choose task.val_seed apart"
            )
        return self

    gif_frames: int = Field(200, ge=0)  # frames of the trained agent kept for agent.gif (0: none)
    # Start from another run's weights (a run folder); it must share environment and spaces
    init_from: str | None = None
