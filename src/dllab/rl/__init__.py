"""Reinforcement learning: tabular methods to PPO, one agent–environment loop (`loop.py`).

A recipe whose `task.name` is one of `ALGORITHMS` runs here instead of the Trainer (which
learns from batches of a dataset); it writes the same run folder. gymnasium is imported only
when an RL recipe runs (`pip install 'dllab[rl]'`).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

# algorithm -> the module that defines it (imported on first use)
ALGORITHMS = {
    "value-iteration": "tabular",
    "policy-iteration": "tabular",
    "q-learning": "tabular",
    "sarsa": "tabular",
    "dqn": "dqn",
    "ppo": "ppo",
    "reinforce": "reinforce",
    "a2c": "a2c",
    "sac": "sac",
}


def agent_class(name: str) -> Any:
    """The Agent class of algorithm `name` (a key of `ALGORITHMS`)."""
    return importlib.import_module(f"dllab.rl.{ALGORITHMS[name]}").AGENTS[name]


def is_rl_run(recipe: Any, resume: Path | None = None) -> bool:
    """True if the recipe (or, resuming, the run folder's own config.yaml) is an RL algorithm."""
    if resume is not None and (resume / "config.yaml").is_file():
        from dllab.config import load_resolved

        recipe = load_resolved(resume / "config.yaml")
    return recipe.task.name in ALGORITHMS


def run_rl(recipe: Any, **kwargs: Any) -> Path:
    """Train an RL recipe into a run folder (see `dllab.rl.loop.run_rl`)."""
    from dllab.rl.loop import run_rl as run

    return run(recipe, **kwargs)
