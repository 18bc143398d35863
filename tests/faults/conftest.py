"""Helpers for the fault suite: file hashes, the one-line error check, a finished run."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest


def hashes(*roots: Path) -> dict[Path, str]:
    """sha256 of every file under (or at) `roots`: compare before and after a command."""
    files = [f for r in roots for f in ([r] if r.is_file() else sorted(r.rglob("*")))]
    return {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in files if f.is_file()}


def one_line(out: subprocess.CompletedProcess, status: int = 2) -> str:
    """The single stderr line of a failed command, after checking its exit status."""
    assert out.returncode == status, (out.returncode, out.stdout[-2000:], out.stderr[-2000:])
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    return lines[0]


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory, dllab) -> Path:
    """One short quickstart run shared by the cases that need a trained run folder."""
    root = tmp_path_factory.mktemp("faults")
    out = dllab("run", "quickstart", "train.max_epochs=1", "--run-dir", "runs/q", cwd=root)
    assert out.returncode == 0, out.stderr
    return root / "runs" / "q"
