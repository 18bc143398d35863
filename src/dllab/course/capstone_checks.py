"""What a run folder must show before a capstone scores it: that the test items it is graded
on stayed out of its training and its model selection, and that its files are one run's.

Each check raises `CapstoneRefused` with one line: what was found, what it means, how to fix
it. They read the run's own files (config.yaml, env.json, metrics.jsonl, summary.json, the two
checkpoints); only `check_data` needs the data, which the scorer loads.
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dllab.config import Recipe, load_resolved
from dllab.course.capstone_projects import Capstone, CapstoneRefused

__all__ = [
    "Run",
    "check_checkpoints",
    "check_data",
    "check_env",
    "check_recipe",
    "check_selection",
    "check_summary",
    "read_run",
    "setting",
]


# ---------------------------------------------------------------- reading the run folder
@dataclass
class Run:
    path: Path
    recipe: Recipe
    env: dict[str, Any]
    summary: dict[str, Any]
    best: dict[str, Any]  # best.safetensors
    last: dict[str, Any]  # last.safetensors
    log: list[dict[str, Any]]  # metrics.jsonl


def _json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise CapstoneRefused(f"{path} not found: {what}")
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise CapstoneRefused(f"{path} cannot be read ({exc}); it is damaged or edited") from None


def read_run(run_dir: Path) -> Run:
    from dllab.train.checkpoint import load_checkpoint
    from dllab.train.run_dir import check_run_dir

    check_run_dir(run_dir)
    recipe = load_resolved(run_dir / "config.yaml")
    summary = _json(
        run_dir / "summary.json",
        f"the run has not finished; finish it (`dllab run {recipe.name} --resume {run_dir}`) "
        "and grade it then",
    )
    env = _json(run_dir / "env.json", "the run has no record of the data it read; retrain")
    log_path = run_dir / "metrics.jsonl"
    if not log_path.is_file():
        raise CapstoneRefused(
            f"{log_path} not found: nothing shows the best checkpoint was chosen on validation"
        )
    log = []
    for n, line in enumerate(log_path.read_text("utf-8").splitlines(), 1):
        try:
            log.append(json.loads(line))
        except ValueError:
            raise CapstoneRefused(f"{log_path} line {n} is not JSON; the log was edited") from None
    return Run(
        path=run_dir,
        recipe=recipe,
        env=env if isinstance(env, dict) else {},
        summary=summary if isinstance(summary, dict) else {},
        best=load_checkpoint(run_dir / "checkpoints" / "best.safetensors"),
        last=load_checkpoint(run_dir / "checkpoints" / "last.safetensors"),
        log=log,
    )


# ---------------------------------------------------------------- the checks
def setting(recipe: Recipe, key: str) -> Any:
    """A recipe setting by dotted key (`split_seed`: the seed that draws the split; `task.X`:
    the task's option X, its default where the recipe leaves it out)."""
    if key == "split_seed":
        return recipe.split_seed
    if key.startswith("task."):
        from dllab.experiment import build_task

        return getattr(build_task(recipe, resolved=True).options, key.removeprefix("task."))
    value: Any = recipe
    for part in key.split("."):
        value = getattr(value, part)
    return value


def check_recipe(cap: Capstone, recipe: Recipe) -> None:
    start = f"start from `dllab run {cap.recipe}`"
    if recipe.task.name != cap.task or recipe.data.name != cap.dataset:
        raise CapstoneRefused(
            f"capstone {cap.name} grades task {cap.task} on {cap.dataset}; this run is task "
            f"{recipe.task.name} on {recipe.data.name}: {start}"
        )
    if recipe.imports:
        raise CapstoneRefused(
            f"this run imports {', '.join(recipe.imports)}; capstones grade the shipped tasks "
            f"only (a plugin can change what the data is): {start}"
        )
    for key, canonical in cap.split:
        value = setting(recipe, key)
        if value != canonical:
            how = (
                "set data.split_seed=0 to train other seeds on the canonical split"
                if key == "split_seed"
                else f"keep {key}={canonical}"
            )
            why = (
                f"the capstone's fresh test scenes are drawn with {key}={canonical}"
                if cap.generated and key != "split_seed"
                else "some of the capstone's test items were training items"
            )
            raise CapstoneRefused(
                f"this run's {key} is {value}, not the canonical {canonical}: {why}; "
                f"retrain ({how})"
            )
    monitor = recipe.train.monitor
    if not monitor.startswith("val/"):
        raise CapstoneRefused(
            f"train.monitor={monitor!r} chooses the best checkpoint on something other than "
            "validation; retrain with a val/ metric (e.g. train.monitor=val/loss)"
        )


def _pinned_checksums(dataset: str) -> dict[str, str] | None:
    """The catalog's sha256 of every file of `dataset` (None where it pins none)."""
    from dllab.data.catalog import CATALOG

    spec = CATALOG.get(dataset)
    if spec is None or not spec.files or any(f.sha256 is None for f in spec.files):
        return None
    return {f.name: f.sha256 for f in spec.files}  # type: ignore[misc]


def check_env(cap: Capstone, run: Run) -> None:
    recipe, env = run.recipe, run.env
    if env.get("seed") != recipe.train.seed:
        raise CapstoneRefused(
            f"env.json says the run trained with seed {env.get('seed')}, config.yaml says "
            f"train.seed={recipe.train.seed}: config.yaml was edited after training"
        )
    pinned = _pinned_checksums(cap.dataset)
    if pinned is not None and env.get("data_checksums") != pinned:
        raise CapstoneRefused(
            f"env.json's data checksums are not the catalog's {cap.dataset} files: the run "
            f"trained on other data; retrain on the canonical files (`dllab data verify "
            f"{cap.dataset}`)"
        )


def check_checkpoints(cap: Capstone, run: Run) -> None:
    from dllab.experiment import build_task, config_changes, config_record, resolved_recipe

    saved = run.best.get("config") or run.last.get("config")
    if not isinstance(saved, dict) or "sha256" not in saved:
        raise CapstoneRefused(
            f"{run.path}/checkpoints hold no record of the recipe they trained; retrain with "
            "this version of dllab"
        )
    now = config_record(resolved_recipe(build_task(run.recipe, resolved=True)))
    if saved["sha256"] != now["sha256"]:
        before = json.loads(saved["recipe"])
        with contextlib.suppress(Exception):  # settings added since take their defaults
            before = json.loads(
                config_record(resolved_recipe(build_task(Recipe(**before))))["recipe"]
            )
        changes = config_changes(before, json.loads(now["recipe"]))
        if changes:
            raise CapstoneRefused(
                f"the checkpoint was not trained with this config.yaml ({'; '.join(changes)}): "
                "config.yaml was edited or the checkpoint comes from another run"
            )
    if run.best.get("meta") != run.last.get("meta"):
        raise CapstoneRefused(
            f"{run.path}/checkpoints/best.safetensors and last.safetensors come from different "
            "runs; grade the run folder as `dllab run` left it"
        )
    best_step = run.last.get("callbacks", {}).get("Checkpoint", {}).get("best_step")
    if best_step is not None and best_step != run.best.get("step"):
        raise CapstoneRefused(
            f"best.safetensors is from step {run.best.get('step')}, but the run's best was at "
            f"step {best_step}: the checkpoint was replaced"
        )
    for key, canonical in cap.meta:
        value = (run.best.get("meta") or {}).get(key)
        if value != canonical:
            raise CapstoneRefused(
                f"the model was trained for {key}={value}; capstone {cap.name} is scored with "
                f"{key}={canonical}: retrain with task.{key}={canonical}"
            )


def check_selection(run: Run) -> None:
    recipe, best = run.recipe, run.best
    monitor, mode = recipe.train.monitor, recipe.train.monitor_mode
    metrics = best.get("metrics") or {}
    if any(k != "step" and not k.startswith("val/") for k in metrics):
        raise CapstoneRefused("best.safetensors was chosen with metrics other than validation's")
    value = metrics.get(monitor)
    seen = [r[monitor] for r in run.log if isinstance(r.get(monitor), (int, float))]
    seen = [v for v in seen if not math.isnan(v)]
    if value is None or not seen:
        raise CapstoneRefused(
            f"neither best.safetensors nor metrics.jsonl shows {monitor}: nothing shows the "
            "best checkpoint was chosen on validation"
        )
    target = max(seen) if mode == "max" else min(seen)
    at_step = [r.get(monitor) for r in run.log if r.get("step") == best.get("step")]
    if not math.isclose(value, target, rel_tol=1e-9, abs_tol=1e-12) or value not in at_step:
        raise CapstoneRefused(
            f"best.safetensors has {monitor}={value:g} at step {best.get('step')}, but the "
            f"best in metrics.jsonl is {target:g}: it was not the checkpoint chosen on validation"
        )


def check_summary(run: Run) -> None:
    summary, best = run.summary, run.best
    claimed = summary.get("best") if isinstance(summary.get("best"), dict) else {}
    if summary.get("recipe") != run.recipe.name or claimed.get("step") != best.get("step"):
        raise CapstoneRefused(
            f"{run.path}/summary.json does not describe this run's checkpoint (recipe "
            f"{summary.get('recipe')!r}, best step {claimed.get('step')}): it was edited"
        )


def _first_difference(a: Any, b: Any, where: str = "") -> str | None:
    """Where two JSON values differ (floats to 1e-6 relative), or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            found = _first_difference(a.get(key), b.get(key), f"{where}.{key}".lstrip("."))
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _first_difference(x, y, f"{where}[{i}]")
            if found:
                return found
        return None
    if isinstance(a, float) and isinstance(b, float):
        return None if math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9) else where
    return None if a == b else where or "(all)"


def check_data(cap: Capstone, run: Run, task: Any) -> None:
    if run.env.get("data_checksums") != task.data_checksums():
        raise CapstoneRefused(
            f"env.json's data checksums differ from the {cap.dataset} files found now: the run "
            "trained on other data (or env.json was edited); retrain on the canonical files"
        )
    fitted = json.loads(json.dumps(task.model_metadata()))
    where = _first_difference(run.best.get("meta") or {}, fitted)
    if where:
        raise CapstoneRefused(
            f"the checkpoint's preprocessing ({where}) differs from what this config's training "
            "split gives: the model was trained on another split or another run's data"
        )
