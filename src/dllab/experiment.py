"""From a recipe to a finished run folder, and from a run folder back to a working model.

`run_recipe` is what `dllab run` calls: it builds the task, model, optimiser, schedule and
callbacks from the recipe, lets the Trainer fit, then evaluates the best (validation-chosen)
weights once on the test split and writes the pictures, summary and report.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dllab.config import Recipe, TaskConfig, load_resolved, recipe_to_yaml
from dllab.envinfo import environment
from dllab.errors import CheckpointError, ConfigError, InputError, Interrupted, TrainingDiverged
from dllab.plugins import import_modules
from dllab.registry import closest
from dllab.tasks import TASKS
from dllab.train import distributed
from dllab.train.callbacks import (
    Checkpoint,
    EarlyStopping,
    JsonlLogger,
    LRSchedule,
    ProgressBar,
    TensorBoardLogger,
)
from dllab.train.checkpoint import atomic_write_text, load_checkpoint, state_dict_mismatch
from dllab.train.precision import autocast, resolve_precision
from dllab.train.protocol import validation_names
from dllab.train.report import format_value, write_report
from dllab.train.rng import seed_everything
from dllab.train.run_dir import ClaimedRunDir, check_run_dir, claim_run_dir
from dllab.train.run_lock import RunLock
from dllab.train.schedules import SchedulerGroup, build_scheduler
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
    precision: str | None = None,
    config: dict[str, str] | None = None,
) -> Trainer:
    """The Trainer and callbacks a recipe asks for, in `precision` (default: the one this
    hardware runs well, `train/precision.py`: bf16 only where it is native)."""
    t = recipe.train
    callbacks: list = []
    if recipe.schedule.name != "none":
        if isinstance(optimizer, dict) and recipe.schedule.name == "plateau":
            raise ConfigError(
                f"task {task.name!r} steps several optimisers itself; schedule.name=plateau "
                "follows one validation metric: choose a schedule by steps (e.g. linear-decay)"
            )

        def scheduler(trainer: Trainer) -> Any:  # sized once the Trainer has planned its steps
            where = f"{t.max_epochs} epochs of {trainer.steps_per_epoch} steps"
            problem = recipe.schedule.too_short(trainer.total_steps, where)
            if problem:  # the data turned out smaller than train.max_steps promised
                raise ConfigError(problem)

            def one(opt: torch.optim.Optimizer) -> Any:
                return build_scheduler(
                    recipe.schedule,
                    opt,
                    total_steps=trainer.total_steps,
                    steps_per_epoch=trainer.steps_per_epoch,
                    peak_lr=recipe.optim.lr,
                )

            if isinstance(optimizer, dict):  # a GAN: generator and critic on one schedule
                return SchedulerGroup({name: one(opt) for name, opt in optimizer.items()})
            return one(optimizer)

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
            config=config,
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
        precision=precision or resolve_precision(t.precision, device)[0],
        device=device,
        val_every=t.val_every,
        channels_last=t.channels_last,
        callbacks=callbacks,
    )


def build_task(recipe: Recipe, *, resolved: bool = False) -> Any:
    """The recipe's task, its options checked (plugins imported first). `resolved`: the recipe
    is a run folder's config.yaml, maybe written before task options had their section."""
    import_modules(recipe.imports)
    task_cls = TASKS.get(recipe.task.name)
    if resolved:
        recipe = task_cls.migrate(recipe)
    return task_cls(recipe=recipe)


def check_monitor(recipe: Recipe, task: Any) -> None:
    """Refuse a `train.monitor` the task never reports, before any data is loaded."""
    if task.metric_names is None:
        return  # a plugin that does not declare them: checked at the first validation
    valid = validation_names(task.metric_names)
    if recipe.train.monitor not in valid:
        hint = closest(recipe.train.monitor, valid)
        raise ConfigError(
            f"train.monitor={recipe.train.monitor!r} is not a validation metric of task "
            f"{task.name!r}; " + (hint or "") + f" (it reports {', '.join(valid)})"
        )


def resolved_recipe(task: Any) -> Recipe:
    """The task's recipe with every task option written out (for config.yaml)."""
    recipe = task.recipe.model_copy(deep=True)
    recipe.task = TaskConfig(name=task.name, **task.options.model_dump(mode="json"))
    return recipe


def config_record(recipe: Recipe) -> dict[str, str]:
    """The resolved recipe as canonical JSON (sorted keys) and its sha256, kept in checkpoints.

    Canonical JSON of the recipe, not config.yaml's text: a comment, key order or quoting in
    the YAML changes nothing a run does, and run_recipe rewrites config.yaml on resume (an
    old-format recipe migrated); the recipe itself is what must not change under a run.
    """
    text = json.dumps(recipe.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return {"sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(), "recipe": text}


def config_changes(saved: dict[str, Any], now: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ, as `optim.lr: 0.003 -> 0.01`."""
    changes = []
    for key in sorted(set(saved) | set(now)):
        a, b = saved.get(key, "<unset>"), now.get(key, "<unset>")
        if isinstance(a, dict) and isinstance(b, dict):
            changes += config_changes(a, b, f"{prefix}{key}.")
        elif a != b:
            changes.append(f"{prefix}{key}: {json.dumps(a)} -> {json.dumps(b)}")
    return changes


def check_same_config(saved: dict[str, str] | None, now: dict[str, str], run_dir: Path) -> None:
    """Refuse to resume a run whose config.yaml was edited after its last checkpoint (a
    checkpoint older than this record has none to compare: it resumes as before)."""
    if not saved or saved.get("sha256") == now["sha256"]:
        return
    before = json.loads(saved["recipe"])
    with contextlib.suppress(Exception):  # a recipe this version cannot read: compare as is
        # Settings added since the checkpoint (a new recipe field, a new task option) take
        # their defaults, which change nothing the run did: only the rest counts as an edit.
        before = json.loads(config_record(resolved_recipe(build_task(Recipe(**before))))["recipe"])
    changes = config_changes(before, json.loads(now["recipe"]))
    if not changes:
        return
    raise CheckpointError(
        f"{run_dir}/config.yaml was edited since the last checkpoint ({'; '.join(changes)}); "
        f"restore config.yaml to resume the run as it was, or start a new run with these "
        f"settings and a new --run-dir"
    )


def check_fits(model: nn.Module, weights: dict[str, Any], run_dir: Path) -> None:
    """Refuse a checkpoint whose tensors do not fit the model, before the run folder is
    touched (the Trainer would find out only after opening its logs)."""
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        what = state_dict_mismatch(exc) or str(exc).splitlines()[0]
        raise CheckpointError(
            f"{run_dir}/checkpoints/last.safetensors does not fit the model of its config.yaml: "
            f"{what}; resume with the config that made it, or start a new run"
        ) from exc


def record_environment(run_dir: Path, env: dict[str, Any], resumed_at: int | None) -> None:
    """Write env.json: where the run started, and for each `--resume`, where it continued.

    The first start is kept as it was (its precision is the one the run trains in); a resume
    on another machine, torch or commit appends its own record under `resumes`, with the step
    it continued from.
    """
    path = run_dir / "env.json"
    env = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **env}
    if resumed_at is not None:
        try:
            first = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            first = None  # lost or damaged: this start is the best record left
        if isinstance(first, dict):
            resume = {key: env[key] for key in ("started", "platform", "packages", "git_commit")}
            resume |= {"step": resumed_at, "hardware": env["hardware"], "device": env["device"]}
            first.setdefault("resumes", []).append(resume)
            env = first
    atomic_write_text(path, json.dumps(env, indent=2))


def trained_precision(run_dir: Path) -> str | None:
    """The precision a run trained in, as its env.json records it (None if unreadable)."""
    try:
        return json.loads((run_dir / "env.json").read_text("utf-8")).get("precision")
    except (OSError, json.JSONDecodeError):
        return None


def run_precision(run_dir: Path, recipe: Recipe, device: torch.device) -> str:
    """The precision a run trained in (env.json), as this hardware can run it."""
    recorded = trained_precision(run_dir) or recipe.train.precision
    if recorded == "fp16" and device.type != "cuda":
        return "fp32"  # fp16 training keeps fp32 weights: a CPU evaluates them as they are
    return resolve_precision(recorded, device)[0]


def run_recipe(
    recipe: Recipe,
    *,
    run_dir: Path | None = None,
    resume: Path | None = None,
    echo: Callable[[str], None] = print,
    extra_callbacks: list | None = None,
    progress: bool = True,
) -> Path:
    """Train `recipe` into a run folder (or continue the one at `resume`); returns the folder.

    The folder is locked for the whole run (`train/run_lock.py`; rank 0 only under torchrun):
    a second run on it stops with the owner's PID. A new run that fails before its first
    checkpoint removes what it wrote, so the same --run-dir can be used again.
    """
    from dllab import rl  # an RL algorithm has its own agent-environment loop

    if rl.is_rl_run(recipe, resume):
        return rl.run_rl(recipe, run_dir=run_dir, resume=resume, echo=echo, progress=progress)
    owner: list[ClaimedRunDir | RunLock] = []  # filled once this process owns the folder
    try:
        return _run_recipe(recipe, run_dir, resume, echo, extra_callbacks, progress, owner)
    except Exception:
        for claim in owner:
            if isinstance(claim, ClaimedRunDir):
                with contextlib.suppress(OSError):  # never hide the error that got us here
                    claim.discard_if_unstarted()
        raise
    finally:
        for claim in owner:
            claim.release()


def _run_recipe(
    recipe: Recipe,
    run_dir: Path | None,
    resume: Path | None,
    echo: Callable[[str], None],
    extra_callbacks: list | None,
    progress: bool,
    owner: list[ClaimedRunDir | RunLock],
) -> Path:
    rank, local_rank, world = distributed.world_info()
    state = None
    if resume is not None:
        run_dir = check_run_dir(resume)
        recipe = load_resolved(run_dir / "config.yaml")
        if rank == 0:
            owner.append(RunLock(run_dir).acquire(recipe.name))
        if not (run_dir / "checkpoints" / "last.safetensors").exists():
            raise CheckpointError(
                f"{run_dir} has no checkpoint yet: start it again with "
                f"`dllab run {recipe.name} --run-dir {run_dir}`"
            )
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
    task = build_task(recipe, resolved=resume is not None)  # options checked before any work
    check_monitor(recipe, task)
    recipe = resolved_recipe(task)
    config = config_record(recipe)
    if state is not None:
        check_same_config(state.get("config"), config, run_dir)  # type: ignore[arg-type]
    _configure_torch(recipe)
    device = distributed.pick_device(recipe.train.device, local_rank)
    distributed.init_distributed(device)
    main = distributed.is_main_process()
    precision, precision_note = resolve_precision(recipe.train.precision, device)
    if state is not None:
        precision = run_precision(run_dir, recipe, device)  # type: ignore[arg-type]
    if resume is None:
        if main:
            owner.append(claim_run_dir(recipe.name, run_dir))
        run_dir = Path(distributed.broadcast_text(str(owner[0].path) if main else ""))
    assert run_dir is not None
    seed_everything(recipe.train.seed)
    task.setup(rank=rank, world=world)
    model = task.build_model()
    if state is not None:
        check_fits(model, state["model"], run_dir)
    for held in owner:  # resuming, and every check passed: only now is the folder changed
        if isinstance(held, RunLock):
            held.record_owner()
    optimizer = task.configure_optimizers(model.to(device))
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "config.yaml", recipe_to_yaml(recipe))
        env = environment(seed=recipe.train.seed, checksums=task.data_checksums())
        env["world_size"], env["device"], env["precision"] = world, str(device), precision
        record_environment(run_dir, env, state["trainer"]["step"] if state else None)
        procs = f" x{world} processes" if world > 1 else ""
        echo(f"{'resuming' if state else 'training'} {recipe.name} on {device}{procs} -> {run_dir}")
        if precision_note:
            echo(precision_note)
    args = (recipe, task, model, optimizer, run_dir, device, extra_callbacks, progress)
    trainer = build_trainer(*args, precision, config)
    try:
        final = trainer.fit(task, model, optimizer, resume=state)
    except TrainingDiverged:
        distributed.cleanup()
        raise
    except KeyboardInterrupt as exc:  # the CLI says where to continue from
        raise Interrupted(trainer.state.step, run_dir) from exc
    distributed.cleanup()
    if not main:
        return run_dir
    summary = finish_run(recipe, task, trainer.bare_model, run_dir, trainer, final.stop_reason)
    for line in closing_lines(summary):
        echo(line)
    echo(f"run folder: {run_dir}")
    return run_dir


def closing_lines(summary: dict[str, Any]) -> list[str]:
    """What a user reads last: the test metrics, then whether the recipe's target was met."""
    test = summary.get("test") or {}
    lines = [
        "test: " + ", ".join(f"{k.split('/', 1)[-1]} {format_value(v)}" for k, v in test.items())
    ]
    target = summary.get("target")
    if target:
        verdict = "met" if target["met"] else "NOT met"
        lines.append(
            f"target {target['value']:g} {target['metric']}: {verdict} ({format_value(target['reached'])})"
        )
    return lines


def finish_run(
    recipe: Recipe,
    task: Any,
    model: nn.Module,
    run_dir: Path,
    trainer: Trainer,
    stop_reason: str,
) -> dict[str, Any]:
    """Test the best weights once (metrics and pictures from the same pass), then write
    summary.json and report.md."""
    best_path = run_dir / "checkpoints" / "best.safetensors"
    best = load_checkpoint(best_path) if best_path.exists() else None
    if best is not None:
        model.load_state_dict(best["model"])
    trainer.model = model
    test, outputs = trainer.test(task.test_batches())
    pictures = task.visualize(model, run_dir, outputs)
    summary = {
        "recipe": recipe.name,
        "task": recipe.task.name,
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
    model = task_class(meta).model_from_metadata(meta)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        what = state_dict_mismatch(exc) or str(exc).splitlines()[0]
        raise CheckpointError(
            f"checkpoint in {run_dir} does not fit model {meta['model']!r}: {what}"
        ) from exc
    return model.eval(), meta


def task_class(meta: dict[str, Any]) -> Any:
    """The task class a checkpoint's metadata names (its plugins imported first)."""
    import_modules(meta.get("imports") or [])
    return TASKS.get(meta.get("task", "classification"))


def evaluate_run(run_dir: Path) -> dict[str, float]:
    """Re-evaluate a run's best weights on its validation and test splits, in the precision
    it trained in."""
    check_run_dir(run_dir)
    from dllab import rl  # an agent is judged by its greedy episodes, not by splits

    if rl.is_rl_run(load_resolved(run_dir / "config.yaml")):
        from dllab.rl.rerun import evaluate_rl_run

        return evaluate_rl_run(run_dir)
    task = build_task(load_resolved(run_dir / "config.yaml"), resolved=True)
    recipe = task.recipe
    _configure_torch(recipe)
    device = distributed.pick_device(recipe.train.device)
    task.setup()
    model, _ = load_trained(run_dir)
    trainer = Trainer(device=device, precision=run_precision(run_dir, recipe, device))
    trainer.task, trainer.model = task, model.to(device)
    return {
        **trainer.evaluate(task.val_batches(), "val"),
        **trainer.test(task.test_batches())[0],  # the test step (translation: beam search)
    }


def predict(run_dir: Path, inputs: list[str], top_k: int = 5, force: bool = False) -> list[Any]:
    """Results for raw inputs, in the precision the run trained in (`force`: a task that
    writes files, such as a medical label map, may replace existing ones)."""
    model, meta = load_trained(run_dir)
    recipe = load_resolved(run_dir / "config.yaml")
    device = next(model.parameters(), torch.empty(0)).device
    precision = run_precision(run_dir, recipe, device)
    with autocast(precision, device):
        cls = task_class(meta)
        if force and "force" not in inspect.signature(cls.predict_with).parameters:
            raise InputError(
                f"--force replaces files a prediction writes; a {meta.get('task')!r} run writes "
                "none (only segmentation and medical-segmentation do)"
            )
        more = {"force": True} if force else {}  # only tasks that write files take it
        return cls.predict_with(model, meta, inputs, top_k, **more)
