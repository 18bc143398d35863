"""Graded capstones: a learner's own trained run, scored again on the project's test split.

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
consistently can still forge a run. Data drawn from a generator (the detection scenes) would
be scored on a fresh seed; no capstone uses generated data yet.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

import typer

from dllab.config import Recipe, load_resolved
from dllab.errors import DllabError
from dllab.lab import progress as record
from dllab.lab.checks import Text, text

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; a rare lost update instead
    fcntl = None  # type: ignore[assignment]

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
]

FILENAME = ".capstones.json"
VERSION = 1
CLAIM_TOLERANCE = 0.005  # summary.json's test score may differ this much from the rerun
# (another CPU may round bf16 differently); a larger gap means the file was edited


class CapstoneError(DllabError):
    """An unknown capstone, or a run folder or record that cannot be read."""


class CapstoneRefused(CapstoneError):
    """A run that cannot be graded: not on the canonical data and split, not selected on
    validation, or not the run its files say it is."""


@dataclass(frozen=True)
class Capstone:
    name: str
    title: Text
    task: str  # the task every graded run must use
    recipe: str  # the shipped recipe to start from (it trains on the canonical split)
    dataset: str  # data.name
    metric: str  # recomputed on the test split
    bar: float
    beats: bool = False  # the score must be above the bar (else at least the bar)
    split: tuple[tuple[str, Any], ...] = ()  # recipe settings that decide the test items
    meta: tuple[tuple[str, Any], ...] = ()  # checkpoint metadata that defines the problem
    practice: bool = False  # a warm-up (seconds to train), not one of the course's capstones


CAPSTONES: dict[str, Capstone] = {
    c.name: c
    for c in (
        Capstone(
            "fashion-mnist",
            text("Image classification on Fashion-MNIST", "Fashion-MNIST 图像分类"),
            task="classification",
            recipe="fashion-mnist",
            dataset="fashion-mnist",
            metric="test/accuracy",
            bar=0.90,
            # the test split is the dataset's own 10,000 images: the split seed only moves
            # images between training and validation
        ),
        Capstone(
            "sentiment",
            text("Chinese review sentiment", "中文评论情感分析"),
            task="sentiment",
            recipe="sentiment-zh",
            dataset="reviews-zh",
            metric="test/accuracy",
            bar=0.85,
            split=(("data.test_fraction", 0.1), ("split_seed", 0)),  # the sentiment-zh recipes'
        ),
        Capstone(
            "ner",
            text("Named entities in People's Daily", "人民日报命名实体识别"),
            task="ner",
            recipe="ner-peoples-daily",
            dataset="peoples-daily",
            metric="test/f1",
            bar=0.85,
            split=(("data.test_fraction", 0.1), ("split_seed", 0)),
        ),
        Capstone(
            "forecasting",
            text(
                "Sunspot forecasting, against seasonal naive", "太阳黑子预测（对比季节性朴素预测）"
            ),
            task="timeseries",
            recipe="sunspots-lstm",
            dataset="sunspots",
            metric="test/skill",  # 1 - MAE / MAE(seasonal naive)
            bar=0.0,
            beats=True,
            split=(("data.test_fraction", 0.2),),  # in time order: the last 62 years
            meta=(("horizon", 11),),  # one solar cycle ahead, as the baseline is scored
        ),
        Capstone(
            "digits",
            text("Warm-up: the quickstart digits", "热身：quickstart 手写数字"),
            task="classification",
            recipe="quickstart",
            dataset="digits",
            metric="test/accuracy",
            bar=0.95,
            split=(("data.test_fraction", 0.2), ("split_seed", 0)),
            practice=True,
        ),
    )
}


@dataclass
class CapstoneResult:
    """One grading: the score recomputed now, the bar, and where it was recorded."""

    name: str
    run_dir: Path
    metric: str
    score: float
    bar: float
    beats: bool
    passed: bool
    checks: list[str] = field(default_factory=list)  # what was verified before scoring
    recorded_in: Path | None = None  # the workspace whose record holds it


@dataclass
class CapstoneEntry:
    passed: bool = False  # passed at least once
    last_result: str = ""  # "passed" or "failed" at the latest grading
    last_score: float | None = None
    best_score: float | None = None
    gradings: int = 0  # how many runs were graded (refused ones are not counted)
    passed_at: str = ""  # when it first passed (UTC, ISO 8601)
    run: str = ""  # the run folder of the best score
    edited: bool = False  # its signature did not match: edited by hand, the pass does not count


def get_capstone(name: str) -> Capstone:
    """The capstone `name`; an unknown name lists them all."""
    if name in CAPSTONES:
        return CAPSTONES[name]
    raise CapstoneError(f"no capstone called {name!r}; the capstones are {', '.join(CAPSTONES)}")


# ---------------------------------------------------------------- reading the run folder
@dataclass
class _Run:
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


def _read_run(run_dir: Path) -> _Run:
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
    return _Run(
        path=run_dir,
        recipe=recipe,
        env=env if isinstance(env, dict) else {},
        summary=summary if isinstance(summary, dict) else {},
        best=load_checkpoint(run_dir / "checkpoints" / "best.safetensors"),
        last=load_checkpoint(run_dir / "checkpoints" / "last.safetensors"),
        log=log,
    )


# ---------------------------------------------------------------- the checks
def _setting(recipe: Recipe, key: str) -> Any:
    """A recipe setting by dotted key (`split_seed`: the seed that draws the split)."""
    if key == "split_seed":
        return recipe.split_seed
    value: Any = recipe
    for part in key.split("."):
        value = getattr(value, part)
    return value


def _check_recipe(cap: Capstone, recipe: Recipe) -> None:
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
        value = _setting(recipe, key)
        if value != canonical:
            how = (
                "set data.split_seed=0 to train other seeds on the canonical split"
                if key == "split_seed"
                else f"keep {key}={canonical}"
            )
            raise CapstoneRefused(
                f"this run's {key} is {value}, not the canonical {canonical}: some of the "
                f"capstone's test items were training items; retrain ({how})"
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


def _check_env(cap: Capstone, run: _Run) -> None:
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


def _check_checkpoints(cap: Capstone, run: _Run) -> None:
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


def _check_selection(run: _Run) -> None:
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


def _check_summary(run: _Run) -> None:
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


def _check_data(cap: Capstone, run: _Run, task: Any) -> None:
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


# ---------------------------------------------------------------- grading
def _score(cap: Capstone, run: _Run) -> float:
    """Build the task from config.yaml (data found the usual way), check the data, and score
    the best checkpoint on the test split in the precision the run trained in."""
    from dllab.experiment import build_task, load_trained, run_precision
    from dllab.train import distributed
    from dllab.train.trainer import Trainer

    recipe = run.recipe.model_copy(deep=True)
    recipe.data.data_dir = None  # the canonical files, not a folder the run chose
    task = build_task(recipe, resolved=True)
    task.setup()
    _check_data(cap, run, task)
    model, _ = load_trained(run.path)
    device = distributed.pick_device("auto")
    trainer = Trainer(device=device, precision=run_precision(run.path, recipe, device))
    trainer.task, trainer.model = task, model.to(device)
    metrics, _ = trainer.test(task.test_batches())
    if cap.metric not in metrics:
        raise CapstoneError(f"task {cap.task} reported no {cap.metric} (it gave {list(metrics)})")
    return float(metrics[cap.metric])


def _check_claim(cap: Capstone, run: _Run, score: float) -> None:
    claimed = (run.summary.get("test") or {}).get(cap.metric)
    if not isinstance(claimed, (int, float)) or abs(claimed - score) > CLAIM_TOLERANCE:
        raise CapstoneRefused(
            f"summary.json claims {cap.metric}={claimed}, but the checkpoint scores {score:.4f} "
            "on the same test split: summary.json was edited"
        )


def grade_capstone(name: str, run_dir: Path, workspace: Path | None = None) -> CapstoneResult:
    """Grade the run in `run_dir` as capstone `name` and record the result in `workspace`
    (None: the lab workspace found as `dllab lab` finds it).

    Raises `CapstoneRefused` (one line: what was found, what it means) for a run that cannot
    be graded; every check runs before the data is loaded, where it can. Example:
    `grade_capstone("fashion-mnist", Path("runs/fashion-mnist-…"), None).passed`.
    """
    cap = get_capstone(name)
    run = _read_run(Path(run_dir))
    _check_recipe(cap, run.recipe)
    _check_env(cap, run)
    _check_checkpoints(cap, run)
    _check_selection(run)
    _check_summary(run)
    score = _score(cap, run)
    _check_claim(cap, run, score)
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
            f"{cap.dataset} data as the catalog and env.json record it",
            "the canonical test split ("
            + (", ".join(f"{k}={v}" for k, v in cap.split) or "the dataset's own")
            + ")",
            f"best checkpoint chosen on {run.recipe.train.monitor}",
            "checkpoint, config.yaml and summary.json from the same run",
        ],
    )
    from dllab.lab.workspace import find_workspace

    folder = find_workspace(workspace).path
    record_capstone(folder, result)
    result.recorded_in = folder
    return result


# ---------------------------------------------------------------- the record
def _mac(folder: Path, name: str, fields: dict[str, Any], create: bool) -> str | None:
    return record.entry_mac(folder, f"capstone/{name}", fields, create=create)


def load_capstones(folder: Path) -> dict[str, CapstoneEntry]:
    """Every capstone's entry in the workspace `folder` (empty when none was graded)."""
    path = Path(folder) / FILENAME
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text("utf-8"))["capstones"]
        entries = {}
        for name, fields in raw.items():
            fields = dict(fields)
            mac = fields.pop("mac", None)
            fields.pop("edited", None)
            expected = _mac(folder, name, fields, create=False)
            entries[name] = CapstoneEntry(**fields, edited=mac is None or mac != expected)
        return entries
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CapstoneError(
            f"cannot read the capstone record {path} ({type(exc).__name__}: {exc}); fix the "
            "file or move it away to start a new record"
        ) from None


def _save(folder: Path, entries: dict[str, CapstoneEntry]) -> None:
    payload: dict[str, Any] = {"version": VERSION, "capstones": {}}
    for name, entry in sorted(entries.items()):
        fields = asdict(entry)
        del fields["edited"]
        if not entry.edited:  # an edited entry stays unsigned until a grading rewrites it
            fields["mac"] = _mac(folder, name, fields, create=True)
        payload["capstones"][name] = fields
    fd, tmp = tempfile.mkstemp(prefix=".capstones-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=2, ensure_ascii=False)
            f.write("\n")
        os.replace(tmp, folder / FILENAME)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def record_capstone(folder: Path, result: CapstoneResult) -> CapstoneEntry:
    """Add one grading to the workspace's capstone record (atomic, one writer at a time: the
    same lock on the workspace key as `.progress.json`)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _mac(folder, result.name, {}, create=True)  # the key exists before it is locked
        fd = os.open(folder / record.KEYFILE, os.O_RDONLY)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            entries = load_capstones(folder)
            entry = entries.get(result.name) or CapstoneEntry()
            if entry.edited:  # a forged pass is not inherited
                entry = CapstoneEntry(gradings=entry.gradings)
            entry.gradings += 1
            entry.last_result = "passed" if result.passed else "failed"
            entry.last_score = result.score
            if entry.best_score is None or result.score > entry.best_score:
                entry.best_score, entry.run = result.score, str(Path(result.run_dir).absolute())
            if result.passed and not entry.passed:
                entry.passed = True
                entry.passed_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
            entries[result.name] = entry
            _save(folder, entries)
        finally:
            os.close(fd)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise CapstoneError(
            f"cannot write the capstone record in {folder} ({reason}); choose a writable "
            "folder with --dir or $DLLAB_LAB"
        ) from None
    return entry


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
    split, after checking the run never used that split to train or to choose a checkpoint."""
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
