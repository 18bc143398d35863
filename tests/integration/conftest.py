"""Fixtures for end-to-end tests (the `dllab` command fixture is in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory, dllab) -> Path:
    """One short quickstart run shared by the tests that only read a finished run."""
    root = tmp_path_factory.mktemp("quick")
    out = dllab("run", "quickstart", "train.max_epochs=4", "--run-dir", "runs/q", cwd=root)
    assert out.returncode == 0, out.stderr
    return root / "runs" / "q"
