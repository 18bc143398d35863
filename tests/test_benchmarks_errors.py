"""A benchmark whose data is missing says so in one line and exits 2, like the `dllab` CLI."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dllab.errors import DataError

REPO = Path(__file__).resolve().parents[1]

# `python benchmarks/<script>.py`, with the system dataset folders pointed at an empty one
# (the data search reads them from a module constant, as tests/data/conftest.py patches it).
RUN_SCRIPT = """
import runpy, sys
from pathlib import Path
from dllab.data import search
search.SYSTEM_ROOTS = (Path(sys.argv[1]),)
script = sys.argv[2]
sys.argv = [script]
sys.path.insert(0, str(Path(script).parent))  # as python does for a script: finds _cli
runpy.run_path(script, run_name="__main__")
"""


def load_cli():
    spec = importlib.util.spec_from_file_location("_cli", REPO / "benchmarks" / "_cli.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_without_its_dataset_prints_one_line_and_exits_2(tmp_path):
    for folder in ("home", "data", "system"):
        (tmp_path / folder).mkdir()
    env = {**os.environ, "HOME": str(tmp_path / "home"), "DLLAB_DATA": str(tmp_path / "data")}
    script = "benchmarks/fashion_mnist_speed.py"
    done = subprocess.run(
        [sys.executable, "-c", RUN_SCRIPT, str(tmp_path / "system"), script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"{script}: error: fashion-mnist not found")
    assert "dllab data download fashion-mnist" in lines[0]  # names what provides the data


def test_run_main_turns_a_user_error_into_one_line_and_status_2(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["benchmarks/demo.py"])

    def main() -> None:
        raise DataError("demo not found;\n  run `dllab data download demo`")

    with pytest.raises(SystemExit) as exit_:
        load_cli().run_main(main)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err == "benchmarks/demo.py: error: demo not found; run `dllab data download demo`\n"


@pytest.mark.parametrize(("returned", "status"), [(None, None), (0, 0), (1, 1)])
def test_run_main_exits_with_what_main_returns(returned, status):
    with pytest.raises(SystemExit) as exit_:
        load_cli().run_main(lambda flag: returned if flag else 99, True)
    assert exit_.value.code == status


def test_run_main_keeps_the_traceback_of_a_bug():
    def main() -> None:
        raise ZeroDivisionError("a bug, not a user mistake")

    with pytest.raises(ZeroDivisionError):
        load_cli().run_main(main)
