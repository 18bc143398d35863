"""Training runs a benchmark needs, made once and reused: a benchmark run again (after an
interruption, or to measure again) does not train everything again.

A finished run is reused only if the same command trained it and its recipe has not changed
since (an edited recipe file makes the same command train something else); a run trained
elsewhere, with no record, is reused as it is. An unfinished one is refused, to be resumed
by hand. A run is
trained by the real command line (`python -m dllab run RECIPE …`) in a child
process, so the benchmark measures what a user gets. The child's CPU time (user + system,
from `resource.getrusage(RUSAGE_CHILDREN)`) is kept beside the run in `bench_cpu.json`: on a
2-core machine CPU seconds say more about a training budget than wall seconds when the load
varies.
"""

from __future__ import annotations

import json
import resource
import shlex
import subprocess
import sys
from pathlib import Path

from dllab.errors import InputError

__all__ = ["cpu_seconds_of", "ensure_run", "recipe_changes"]

CPU_FILE = "bench_cpu.json"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ensure_run(work: Path, name: str, recipe: str, *overrides: str) -> Path:
    """`work/name`, trained with `dllab run RECIPE OVERRIDES` unless it has finished before."""
    run = work / name
    cmd = [sys.executable, "-m", "dllab", "run", recipe, *overrides, "--run-dir", str(run)]
    if (run / "summary.json").is_file():
        made = run / CPU_FILE
        before = json.loads(made.read_text(encoding="utf-8"))["command"] if made.is_file() else None
        if before is not None and before != shlex.join(cmd[2:]):
            raise InputError(
                f"{run} was trained by `{before}`, not `{shlex.join(cmd[2:])}`: remove it (or "
                "choose another --work) to train it with these settings"
            )
        if before is not None and (changes := recipe_changes(run, recipe, overrides)):
            raise InputError(
                f"{run} was trained by an earlier {recipe} recipe ({'; '.join(changes[:3])}): "
                "remove it (or choose another --work) to train it with today's"
            )
        print(f"reusing {run}")
        return run
    if run.exists():
        raise InputError(
            f"{run} holds an unfinished run: resume it with `dllab run {recipe} --resume {run}` "
            "or remove it"
        )
    print("$", shlex.join(cmd[2:]), flush=True)
    before = _children_cpu()
    if subprocess.run(cmd, check=False).returncode != 0:
        raise InputError(f"`{shlex.join(cmd[2:])}` failed; see its output above")
    cpu = {"cpu_seconds": round(_children_cpu() - before, 1), "command": shlex.join(cmd[2:])}
    (run / CPU_FILE).write_text(json.dumps(cpu), encoding="utf-8")
    return run


def recipe_changes(run: Path, recipe: str, overrides: tuple[str, ...]) -> list[str]:
    """What differs between the run's config.yaml and `recipe` with `overrides` resolved today
    (`optim.lr: 0.1 -> 0.05`); empty where the task resolves elsewhere (RL agents)."""
    from dllab.config import load_recipe, load_resolved
    from dllab.errors import DllabError
    from dllab.experiment import build_task, config_changes, resolved_recipe

    try:
        now = resolved_recipe(build_task(load_recipe(recipe, list(overrides))))
        before = resolved_recipe(build_task(load_resolved(run / "config.yaml"), resolved=True))
    except (DllabError, KeyError):  # not a Trainer task: the command is all there is to compare
        return []
    changes = config_changes(before.model_dump(mode="json"), now.model_dump(mode="json"))
    return [c for c in changes if not c.startswith("description:")]  # words train nothing


def cpu_seconds_of(run: Path) -> float | None:
    """The CPU seconds the child that trained `run` used (None: trained outside a benchmark)."""
    path = run / CPU_FILE
    return json.loads(path.read_text(encoding="utf-8"))["cpu_seconds"] if path.is_file() else None
