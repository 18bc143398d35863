"""Graded capstones: a learner's own trained run, scored again on the project's test data.

`dllab lab capstone NAME RUN_DIR` grades a run folder, not a function. It rebuilds the model
from the run's best checkpoint and recomputes the capstone's metric on the canonical test
split (never reading the score from summary.json), compares it with the bar and records the
result, signed, in the lab workspace (`.capstones.json`, beside `.progress.json`).

Before anything is scored, the run must show that the test split it is graded on stayed out
of its training and its model selection. Each check names what it protects against:

- the recipe: the capstone's task and dataset, no plugin imports (a plugin can change what
  the data is), and the settings that decide which items are test items (`data.test_fraction`,
  the split seed) at their canonical values, so no test item was a training item;
- selection on validation: `train.monitor` is a `val/` metric, the best checkpoint holds only
  validation metrics, and its value is the best of the monitor in metrics.jsonl;
- data: env.json's checksums are the catalog's (where it pins them) and those of the files
  read again now, through the usual search order (the run's own `data.data_dir` is not used:
  it could hold edited test files);
- the checkpoint is the run's own: `last.safetensors` carries the hash of the recipe it
  trained (`experiment.config_record`), which must be config.yaml's; `best.safetensors` holds
  the same metadata and is the best step `last` records; and its preprocessing (normalisation
  statistics, vocabulary) equals what this config's training split gives now, which a model
  trained on another split does not have;
- summary.json agrees with the checkpoint and, within `CLAIM_TOLERANCE`, with the score
  recomputed now (a hand-edited summary is refused, though its numbers are never used).

What this protects against: mistakes and casual edits. Like the lab's record, it is a tamper
signal, not a lock: someone who rewrites the checkpoint's header, the log and the summary
consistently can still forge a run. Data drawn from a generator (the detection scenes) is
scored on a fresh seed made at check time instead (`capstone_fresh`), which no one saw before.

The parts live beside this file: the projects and their bars (`capstone_projects`), the checks
of a run folder (`capstone_checks`), the scorers (`capstone_scoring` on a fixed test split,
`capstone_fresh` on generated data) and the signed record (`capstone_record`). This module
runs them in order and holds the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dllab.course.capstone_checks import (
    check_checkpoints,
    check_env,
    check_recipe,
    check_selection,
    check_summary,
    read_run,
)
from dllab.course.capstone_fresh import fresh_seed, score_fresh_scenes
from dllab.course.capstone_projects import (
    CAPSTONES,
    Capstone,
    CapstoneError,
    CapstoneRefused,
    CapstoneResult,
    get_capstone,
)
from dllab.course.capstone_record import CapstoneEntry, load_capstones, record_capstone
from dllab.course.capstone_scoring import check_claim, score_test_split

__all__ = [
    "CAPSTONES",
    "Capstone",
    "CapstoneEntry",
    "CapstoneError",
    "CapstoneRefused",
    "CapstoneResult",
    "capstone",
    "get_capstone",
    "grade_capstone",
    "load_capstones",
    "record_capstone",
]


def grade_capstone(name: str, run_dir: Path, workspace: Path | None = None) -> CapstoneResult:
    """Grade the run in `run_dir` as capstone `name` and record the result in `workspace`
    (None: the lab workspace found as `dllab lab` finds it).

    Raises `CapstoneRefused` (one line: what was found, what it means) for a run that cannot
    be graded; every check runs before the data is loaded, where it can. Example:
    `grade_capstone("fashion-mnist", Path("runs/fashion-mnist-…"), None).passed`.
    """
    cap = get_capstone(name)
    run = read_run(Path(run_dir))
    check_recipe(cap, run.recipe)
    check_env(cap, run)
    check_checkpoints(cap, run)
    check_selection(run)
    check_summary(run)
    settings = ", ".join(f"{k}={v}" for k, v in cap.split)
    if cap.generated:
        seed = fresh_seed()
        score = score_fresh_scenes(cap, run, seed)
        data = [
            f"{cap.dataset} generated as the recipe generates them ({settings})",
            f"{cap.metric} on fresh test scenes drawn now with seed {seed}",
        ]
    else:
        seed = None
        score = score_test_split(cap, run)
        check_claim(cap, run, score)
        data = [
            f"{cap.dataset} data as the catalog and env.json record it",
            "the canonical test split (" + (settings or "the dataset's own") + ")",
        ]
    passed = score > cap.bar if cap.beats else score >= cap.bar
    result = CapstoneResult(
        name=cap.name,
        run_dir=Path(run_dir),
        metric=cap.metric,
        score=score,
        bar=cap.bar,
        beats=cap.beats,
        passed=passed,
        checks=[
            *data,
            f"best checkpoint chosen on {run.recipe.train.monitor}",
            "checkpoint, config.yaml and summary.json from the same run",
        ],
        seed=seed,
    )
    from dllab.lab.workspace import find_workspace

    folder = find_workspace(workspace).path
    record_capstone(folder, result)
    result.recorded_in = folder
    return result


# ---------------------------------------------------------------- the command
_SAY = {
    "checked": {"en": "checked: {checks}", "zh": "已核对：{checks}"},
    "passed": {
        "en": "capstone {name}: PASSED, {metric} {score:.4f} (bar: {op} {bar:g}), recomputed "
        "from {run}",
        "zh": "毕业项目 {name}：通过，{metric} {score:.4f}（要求 {op} {bar:g}），由 {run} 重新计算",
    },
    "failed": {
        "en": "capstone {name}: not yet, {metric} {score:.4f} (bar: {op} {bar:g}), recomputed "
        "from {run}; improve the run and grade it again",
        "zh": "毕业项目 {name}：尚未通过，{metric} {score:.4f}（要求 {op} {bar:g}），由 {run} "
        "重新计算；改进训练后再评一次",
    },
    "recorded": {"en": "recorded in {folder}", "zh": "已记录到 {folder}"},
}


def capstone(
    name: Annotated[str, typer.Argument(help=f"Capstone: {', '.join(CAPSTONES)}.")],
    run_dir: Annotated[Path, typer.Argument(help="Your finished run folder (from `dllab run`).")],
    folder: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="Your lab workspace, where the result is recorded (default: $DLLAB_LAB, the "
            "nearest dllab-lab/ above here, else a per-user folder).",
        ),
    ] = None,
    lang: Annotated[
        str | None,
        typer.Option("--lang", help="Language of messages: en or zh (default: from the locale)."),
    ] = None,
) -> None:
    """Grade your own trained run: its best checkpoint is scored again on the project's test
    split (generated data: on fresh scenes drawn now), after checking the run never used that
    split to train or to choose a checkpoint."""
    from dllab.lab.messages import resolve_lang

    lang = resolve_lang(lang)
    result = grade_capstone(name, run_dir, folder)
    sep = "；" if lang == "zh" else "; "
    typer.echo(_SAY["checked"][lang].format(checks=sep.join(result.checks)))
    verdict = "passed" if result.passed else "failed"
    typer.echo(
        _SAY[verdict][lang].format(
            name=result.name,
            metric=result.metric,
            score=result.score,
            op=">" if result.beats else ">=",
            bar=result.bar,
            run=result.run_dir,
        )
    )
    typer.echo(_SAY["recorded"][lang].format(folder=result.recorded_in))
