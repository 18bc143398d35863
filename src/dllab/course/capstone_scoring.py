"""Scoring a run on its project's fixed test split: the best checkpoint rebuilt from the run
folder, the metric recomputed by the task's own test pass (never read from summary.json)."""

from __future__ import annotations

from dllab.course.capstone_checks import Run, check_data
from dllab.course.capstone_projects import (
    CLAIM_TOLERANCE,
    Capstone,
    CapstoneError,
    CapstoneRefused,
)

__all__ = ["check_claim", "score_test_split"]


def score_test_split(cap: Capstone, run: Run) -> float:
    """Build the task from config.yaml (data found the usual way), check the data, and score
    the best checkpoint on the test split in the precision the run trained in."""
    from dllab.experiment import build_task, load_trained, run_precision
    from dllab.train import distributed
    from dllab.train.trainer import Trainer

    recipe = run.recipe.model_copy(deep=True)
    recipe.data.data_dir = None  # the canonical files, not a folder the run chose
    task = build_task(recipe, resolved=True)
    task.setup()
    check_data(cap, run, task)
    model, _ = load_trained(run.path)
    device = distributed.pick_device("auto")
    trainer = Trainer(device=device, precision=run_precision(run.path, recipe, device))
    trainer.task, trainer.model = task, model.to(device)
    metrics, _ = trainer.test(task.test_batches())
    if cap.metric not in metrics:
        raise CapstoneError(f"task {cap.task} reported no {cap.metric} (it gave {list(metrics)})")
    return float(metrics[cap.metric])


def check_claim(cap: Capstone, run: Run, score: float) -> None:
    claimed = (run.summary.get("test") or {}).get(cap.metric)
    if not isinstance(claimed, (int, float)) or abs(claimed - score) > CLAIM_TOLERANCE:
        raise CapstoneRefused(
            f"summary.json claims {cap.metric}={claimed}, but the checkpoint scores {score:.4f} "
            "on the same test split: summary.json was edited"
        )
