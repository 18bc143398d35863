"""A run is a folder: creating it safely, and reading the runs that exist."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dllab.errors import CheckpointError, ConfigError
from dllab.train.run_lock import LOCK_NAME, RunLock

RUNS_ROOT = Path("runs")
# What a run writes before its first checkpoint; a folder holding only these (and no
# checkpoint) has nothing to resume, so a failed run removes them and a new run may reuse it.
EARLY_FILES = {"config.yaml", "env.json", "metrics.jsonl", "tensorboard", "checkpoints"}


def new_run_dir(name: str, run_dir: Path | None = None, root: Path = RUNS_ROOT) -> Path:
    """A fresh folder for a run; an existing non-empty folder is never reused or overwritten."""
    if run_dir is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_dir = root / f"{name}-{stamp}"
        n = 1
        while run_dir.exists():
            n += 1
            run_dir = root / f"{name}-{stamp}-{n}"
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise ConfigError(
            f"run folder {run_dir} already exists and is not empty; continue it with "
            f"`--resume {run_dir}` or choose another --run-dir"
        )
    return run_dir


@dataclass
class ClaimedRunDir:
    """A run folder this process owns: its lock, and the topmost folder it had to create."""

    path: Path
    lock: RunLock
    created: Path | None  # None: the folder existed (empty, or left by an unstarted run)

    def release(self) -> None:
        self.lock.release()

    def discard_if_unstarted(self) -> None:
        """After a failure: if no checkpoint was written, remove what this run wrote (and the
        folders it created), so the same --run-dir can be used again; else keep everything."""
        if not is_unstarted(self.path):
            return
        for name in EARLY_FILES:
            target = self.path / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
        (self.path / LOCK_NAME).unlink(missing_ok=True)  # still held: no one can slip in
        self.lock.release()
        if self.created is not None:
            folder = self.path
            while True:
                try:
                    folder.rmdir()  # only ever an empty folder
                except OSError:
                    break
                if folder == self.created:
                    break
                folder = folder.parent


def is_unstarted(run_dir: Path) -> bool:
    """True if `run_dir` holds no checkpoint and nothing but what a dllab run writes first."""
    names = {p.name for p in run_dir.iterdir()} - {LOCK_NAME}
    checkpoints = run_dir / "checkpoints"
    saved = checkpoints.is_dir() and any(checkpoints.glob("*.safetensors"))
    return names <= EARLY_FILES and not saved


def claim_run_dir(name: str, run_dir: Path | None = None, root: Path = RUNS_ROOT) -> ClaimedRunDir:
    """Create (or reuse) a run folder and lock it for this process.

    A folder is reused if it is empty, or if a run that took its lock (`.lock` is there) wrote
    no checkpoint into it: that run's early files are removed first. Anything else that exists
    is refused: a folder another process holds (naming its PID), or one with a run to resume.
    """
    path = new_run_dir(name, run_dir, root) if run_dir is None else run_dir
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--run-dir {path} exists and is not a folder; choose another --run-dir")
    created = next((p for p in reversed([path, *path.parents]) if not p.exists()), None)
    had_lock = (path / LOCK_NAME).exists()
    path.mkdir(parents=True, exist_ok=True)
    lock = RunLock(path).acquire(name)
    names = {p.name for p in path.iterdir()} - {LOCK_NAME}
    if names and not (had_lock and is_unstarted(path)):
        if not had_lock:
            (path / LOCK_NAME).unlink(missing_ok=True)
        lock.release()
        new_run_dir(name, path, root)  # raises: not empty, continue it with --resume
    claim = ClaimedRunDir(path, lock, created)
    if names:
        claim.discard_if_unstarted()  # an earlier run died before its first checkpoint
        return claim_run_dir(name, path, root)
    lock.record_owner()
    return claim


def check_run_dir(run_dir: Path) -> Path:
    """An existing run folder (has config.yaml), or a CheckpointError saying what is wrong."""
    if not run_dir.is_dir():
        raise CheckpointError(f"run folder {run_dir} not found; see `dllab runs` for the runs")
    if not (run_dir / "config.yaml").is_file():
        raise CheckpointError(
            f"{run_dir} is not a dllab run folder (no config.yaml); "
            "pass a folder made by `dllab run`"
        )
    return run_dir


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((run_dir / "summary.json").read_text("utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def list_runs(root: Path = RUNS_ROOT) -> list[tuple[Path, dict[str, Any] | None]]:
    """Run folders under `root`, newest first, with their summaries (None if unfinished)."""
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if (p / "config.yaml").is_file()]
    runs.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return [(p, read_summary(p)) for p in runs]
