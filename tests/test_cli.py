"""The command line: every command has --help; wrong arguments exit 2; lists work."""

import pytest
from typer.testing import CliRunner

from dllab.cli import app

runner = CliRunner()
COMMANDS = [
    [],
    ["list"],
    ["run"],
    ["eval"],
    ["predict"],
    ["export"],
    ["compress"],
    ["serve"],
    ["demo"],
    ["ab"],
    ["ab", "report"],
    ["runs"],
    ["doctor"],
    ["data"],
    ["data", "list"],
    ["data", "verify"],
    ["data", "download"],
]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c) or "dllab")
def test_every_command_has_help(cmd):
    out = runner.invoke(app, [*cmd, "--help"])
    assert out.exit_code == 0 and "Usage" in out.output


def test_list_shows_recipes_models_and_datasets():
    assert "fashion-mnist-fast" in runner.invoke(app, ["list"]).output
    assert "seed-cnn" in runner.invoke(app, ["list", "models"]).output
    assert "fashion-mnist" in runner.invoke(app, ["list", "datasets"]).output
    assert runner.invoke(app, ["list", "things"]).exit_code == 2


def test_doctor_reports_versions_devices_and_data():
    out = runner.invoke(app, ["doctor"])
    assert out.exit_code == 0
    for word in ("torch", "cuda", "torch_threads", "digits"):
        assert word in out.output


def test_data_verify_of_real_fashion_mnist_when_present():
    from dllab.data import find_all

    if not any(s.found and s.name == "fashion-mnist" for s in find_all()):
        pytest.skip("Fashion-MNIST not installed")
    out = runner.invoke(app, ["data", "verify", "fashion-mnist"])
    assert out.exit_code == 0 and out.output.count(": ok (sha256") == 4


def test_python_dash_m_works_like_the_command():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "dllab", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "run" in out.stdout
