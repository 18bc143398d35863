"""From a recipe to a finished run folder, and from a run folder back to a working model.

`run_recipe` is what `dllab run` calls: it builds the task, model, optimiser, schedule and
callbacks from the recipe, lets the Trainer fit, then evaluates the best (validation-chosen)
weights once on the test split and writes the pictures, summary and report.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dllab.config import Recipe, load_resolved, recipe_to_yaml
from dllab.envinfo import environment
from dllab.errors import CheckpointError, TrainingDiverged
from dllab.tasks import TASKS, create_task
from dllab.train import distributed
from dllab.train.callbacks import (
    Checkpoint,
    EarlyStopping,
    JsonlLogger,
    LRSchedule,
    ProgressBar,
    TensorBoardLogger,
)
from dllab.train.checkpoint import atomic_write_text, load_checkpoint
from dllab.train.optim import build_optimizer
from dllab.train.precision import resolve_precision
from dllab.train.report import write_report
from dllab.train.rng import seed_everything
from dllab.train.run_dir import check_run_dir, new_run_dir
from dllab.train.schedules import build_scheduler
from dllab.train.trainer import Trainer


def _configure_torch(recipe: Recipe) -> None:
    if recipe.train.threads:
        torch.set_num_threads(recipe.train.threads)
    if recipe.train.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def build_trainer(
    recipe: Recipe,
    task: Any,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    run_dir: Path,
    device: torch.device,
    extra_callbacks: list | None = None,
    progress: bool = True,
) -> Trainer:
    """The Trainer and callbacks a recipe asks for, in the precision this hardware runs well
    (`train/precision.py`: bf16 only where it is native)."""
    t = recipe.train
    steps_per_epoch = -(-len(task.train_batches()) // t.accumulate)
    total = min(steps_per_epoch * t.max_epochs, t.max_steps or 10**12)
    callbacks: list = []
    scheduler = build_scheduler(
        recipe.schedule,
        optimizer,
        total_steps=total,
        steps_per_epoch=steps_per_epoch,
        peak_lr=recipe.optim.lr,
    )
    if scheduler is not None:
        follow = recipe.schedule.follow_time and t.max_time
        callbacks.append(LRSchedule(scheduler, monitor=t.monitor, max_time=follow or None))
    callbacks += [
        JsonlLogger(run_dir / "metrics.jsonl", every=t.log_every),
        TensorBoardLogger(run_dir / "tensorboard", every=t.log_every),
    ]
    if t.early_stopping_patience:
        callbacks.append(EarlyStopping(t.monitor, t.monitor_mode, t.early_stopping_patience))
    callbacks += list(extra_callbacks or [])
    # Checkpoint after the loggers, so the log length it records includes this step.
    callbacks += [
        Checkpoint(
            run_dir / "checkpoints",
            every=t.checkpoint_every,
            monitor=t.monitor,
            mode=t.monitor_mode,
            metadata=task.model_metadata(),
        ),
    ]
    if progress:
        callbacks.append(ProgressBar())
    return Trainer(
        max_epochs=t.max_epochs,
        max_steps=t.max_steps,
        max_time=t.max_time,
        grad_clip=t.grad_clip,
        accumulate=t.accumulate,
        precision=resolve_precision(t.precision, device)[0],
        device=device,
        val_every=t.val_every,
        channels_last=t.channels_last,
        callbacks=callbacks,
    )


def run_recipe(
    recipe: Recipe,
    *,
    run_dir: Path | None = None,
    resume: Path | None = None,
    echo: Callable[[str], None] = print,
    extra_callbacks: list | None = None,
    progress: bool = True,
) -> Path:
    """Train `recipe` into a run folder (or continue the one at `resume`); returns the folder."""
    rank, local_rank, world = distributed.world_info()
    state = None
    if resume is not None:
        run_dir = check_run_dir(resume)
        recipe = load_resolved(run_dir / "config.yaml")
        state = load_checkpoint(run_dir / "checkpoints" / "last.safetensors")
        if (run_dir / "summary.json").exists():
            raise CheckpointError(
                f"run {run_dir} already finished (it has summary.json); nothing to resume: "
                "start a new run, or `dllab eval` this one"
            )
        if "trainer" not in state:
            raise CheckpointError(
                f"{run_dir}/checkpoints/last.safetensors holds no training state to resume from"
            )
    _configure_torch(recipe)
    device = distributed.pick_device(recipe.train.device, local_rank)
    distributed.init_distributed(device)
    main = distributed.is_main_process()
    precision, precision_note = resolve_precision(recipe.train.precision, device)
    if resume is None:
        run_dir = Path(distributed.broadcast_text(str(new_run_dir(recipe.name, run_dir))))
    assert run_dir is not None
    seed_everything(recipe.train.seed)
    task = create_task(recipe.task, recipe=recipe)
    task.setup(rank=rank, world=world)
    model = task.build_model()
    optimizer = build_optimizer(recipe.optim, model.to(device))
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "config.yaml", recipe_to_yaml(recipe))
        env = environment(seed=recipe.train.seed, checksums=task.data_checksums())
        env["world_size"], env["device"], env["precision"] = world, str(device), precision
        atomic_write_text(run_dir / "env.json", json.dumps(env, indent=2))
        procs = f" x{world} processes" if world > 1 else ""
        echo(f"{'resuming' if state else 'training'} {recipe.name} on {device}{procs} -> {run_dir}")
        if precision_note:
            echo(precision_note)
    trainer = build_trainer(
        recipe, task, model, optimizer, run_dir, device, extra_callbacks, progress
    )
    try:
        final = trainer.fit(task, model, optimizer, resume=state)
    except TrainingDiverged:
        distributed.cleanup()
        raise
    distributed.cleanup()
    if not main:
        return run_dir
    finish_run(recipe, task, trainer.bare_model, run_dir, device, trainer, final.stop_reason)
    echo(f"run folder: {run_dir}")
    return run_dir


def finish_run(
    recipe: Recipe,
    task: Any,
    model: nn.Module,
    run_dir: Path,
    device: torch.device,
    trainer: Trainer,
    stop_reason: str,
) -> dict[str, Any]:
    """Test the best weights once, draw the pictures, write summary.json and report.md."""
    best_path = run_dir / "checkpoints" / "best.safetensors"
    best = load_checkpoint(best_path) if best_path.exists() else None
    if best is not None:
        model.load_state_dict(best["model"])
    trainer.model = model
    test = trainer.evaluate(task.test_batches(), prefix="test")
    pictures = task.visualize(model, run_dir, device=device)
    summary = {
        "recipe": recipe.name,
        "task": recipe.task,
        "model": recipe.model.name,
        "dataset": recipe.data.name,
        "stop_reason": stop_reason or "max_epochs",
        "epochs": trainer.state.epoch,
        "steps": trainer.state.step,
        "train_seconds": round(trainer.state.train_seconds, 2),
        "best": {"step": best["step"], **best["metrics"]} if best else None,
        "test": test,
    }
    if recipe.target is not None:
        value = {**test, **(best["metrics"] if best else {})}.get(recipe.target.metric)
        summary["target"] = {
            **recipe.target.model_dump(),
            "reached": value,
            "met": value is not None and value >= recipe.target.value,
        }
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2))
    write_report(run_dir, recipe, summary, pictures)
    return summary


def load_trained(run_dir: Path, which: str = "best") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a run's model from its checkpoint alone (no dataset needed)."""
    check_run_dir(run_dir)
    state = load_checkpoint(run_dir / "checkpoints" / f"{which}.safetensors")
    meta = state.get("meta") or {}
    if "model" not in meta or "model" not in state:
        raise CheckpointError(f"{run_dir} checkpoint has no model metadata; retrain with dllab")
    model = TASKS.get(meta.get("task", "classification")).model_from_metadata(meta)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise CheckpointError(
            f"checkpoint in {run_dir} does not fit model {meta['model']!r}: "
            f"{str(exc).splitlines()[0]}"
        ) from exc
    return model.eval(), meta


def evaluate_run(run_dir: Path) -> dict[str, float]:
    """Re-evaluate a run's best weights on its validation and test splits."""
    check_run_dir(run_dir)
    recipe = load_resolved(run_dir / "config.yaml")
    _configure_torch(recipe)
    device = distributed.pick_device(recipe.train.device)
    task = create_task(recipe.task, recipe=recipe)
    task.setup()
    model, _ = load_trained(run_dir)
    trainer = Trainer(device=device)
    trainer.task, trainer.model = task, model.to(device)
    return {
        **trainer.evaluate(task.val_batches(), "val"),
        **trainer.evaluate(task.test_batches(), "test"),
    }


def predict(run_dir: Path, inputs: list[str], top_k: int = 5) -> list[Any]:
    model, meta = load_trained(run_dir)
    task_cls = TASKS.get(meta.get("task", "classification"))
    return task_cls.predict_with(model, meta, inputs, top_k)
