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


def test_a_benchmark_run_made_by_an_earlier_recipe_is_not_reused(tmp_path, monkeypatch):
    """Same command, edited recipe: reusing the run would measure the old settings."""
    import json

    from dllab.config import load_recipe, recipe_to_yaml
    from dllab.errors import InputError
    from dllab.experiment import build_task, resolved_recipe

    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    from _runs import ensure_run

    run = tmp_path / "quick"
    run.mkdir()
    (run / "summary.json").write_text("{}")
    command = f"dllab run quickstart train.max_epochs=2 --run-dir {run}"
    (run / "bench_cpu.json").write_text(json.dumps({"cpu_seconds": 1.0, "command": command}))

    def write_config(*overrides: str) -> None:
        recipe = resolved_recipe(build_task(load_recipe("quickstart", list(overrides))))
        (run / "config.yaml").write_text(recipe_to_yaml(recipe))

    write_config("train.max_epochs=2", "description=words only")
    assert ensure_run(tmp_path, "quick", "quickstart", "train.max_epochs=2") == run  # reused
    write_config("train.max_epochs=2", "optim.lr=0.5")  # the recipe file said another lr
    with pytest.raises(InputError, match=r"earlier quickstart recipe \(optim.lr: 0.5 -> "):
        ensure_run(tmp_path, "quick", "quickstart", "train.max_epochs=2")
