"""`dllab eval` on an RL run: the policy it judged (its last, or its best validated), again.

A supervised run is re-evaluated on its validation and test splits; an agent has no splits, so
it plays the same greedy episodes on the same reset seeds that `loop.finish` used. The numbers
then equal the run's own summary.json (the environments are seeded, the policy is greedy),
which is what a user checking a run folder copied from elsewhere wants to see.
"""

from __future__ import annotations

from pathlib import Path

from dllab.config import load_resolved
from dllab.errors import CheckpointError
from dllab.rl.envs import make_env, space_signature
from dllab.rl.evaluate import evaluate
from dllab.rl.loop import build_agent, check_compatible, load_best
from dllab.train.checkpoint import load_checkpoint
from dllab.train.run_dir import check_run_dir


def evaluate_rl_run(run_dir: Path, episodes: int | None = None) -> dict[str, float]:
    """Greedy returns of the run's judged policy over `episodes` (the recipe's own count):
    the last checkpoint's, or the best validated one's when the run validated."""
    run_dir = check_run_dir(run_dir)
    recipe = load_resolved(run_dir / "config.yaml")
    agent, recipe = build_agent(recipe)
    last = run_dir / "checkpoints" / "last.safetensors"
    if not last.is_file():
        raise CheckpointError(f"{run_dir} has no checkpoint yet: nothing to evaluate")
    state = load_checkpoint(last)
    if "agent" not in state:
        raise CheckpointError(f"{last} holds no RL agent state")
    probe = make_env(recipe.data.name)
    signature = space_signature(probe)
    probe.close()
    check_compatible(state.get("meta") or {}, signature, last)
    agent.setup()
    agent.load_state_dict(state["agent"])
    best_step = (state.get("loop") or {}).get("best_step")
    if best_step is not None:  # the policy the run judged
        load_best(agent, run_dir, best_step)
    o = agent.options
    return evaluate(agent, recipe.data.name, episodes or o.eval_episodes, o.eval_seed)
