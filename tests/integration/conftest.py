"""Helpers for end-to-end tests: the real `dllab` command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def run_dllab(
    *args: str, cwd: Path, timeout: float = 300, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run `python -m dllab ARGS` and capture its output (never raises on failure)."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "dllab", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def dllab():
    """The `dllab` command as a function: `dllab("run", "quickstart", cwd=tmp_path)`."""
    return run_dllab


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory) -> Path:
    """One short quickstart run shared by the tests that only read a finished run."""
    root = tmp_path_factory.mktemp("quick")
    out = run_dllab("run", "quickstart", "train.max_epochs=4", "--run-dir", "runs/q", cwd=root)
    assert out.returncode == 0, out.stderr
    return root / "runs" / "q"
