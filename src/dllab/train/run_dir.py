"""A run is a folder: creating it safely, and reading the runs that exist."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from dllab.errors import CheckpointError, ConfigError

RUNS_ROOT = Path("runs")


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
