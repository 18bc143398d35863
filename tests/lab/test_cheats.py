"""The cheats that once passed 6/6 (issue 15, routes 1–7) now fail, each with a clear message.

They run the real child process (`grade`): the verdict must hold against code that attacks it.
"""

from __future__ import annotations

import importlib.util
import json
from importlib import resources
from pathlib import Path

from typer.testing import CliRunner

from dllab.lab import vault
from dllab.lab.catalog import solution_source
from dllab.lab.commands import app
from dllab.lab.grader import grade

EN = {"LC_ALL": "C.UTF-8"}
WRONG = (
    "import numpy as np\n\n"
    "def conv_output_size(size, kernel_size, stride=1, padding=0):\n    return 1\n\n"
    "def im2col(x, kernel_size, stride=1, padding=0):\n    return np.zeros((1, 1, 1))\n\n"
    "def conv2d(x, weight, bias=None, stride=1, padding=0):\n    return np.zeros((1, 1, 1, 1))\n"
)


def _learner(folder: Path, source: str, name: str = "conv2d") -> Path:
    path = folder / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    return path


def test_route_1_importing_the_packaged_solution_is_refused(tmp_path) -> None:
    path = _learner(tmp_path, "from dllab.lab.solutions.conv2d import *\n")
    report = grade("conv2d", path, seed=0)
    assert not report.passed and report.n_passed == 0
    assert "the grader's package is not available to your code" in report.problem["en"]
    assert importlib.util.find_spec("dllab.lab.solutions") is None  # not a module any more


def test_route_2_a_symlink_to_the_packaged_solution_is_no_python(tmp_path) -> None:
    shipped = resources.files("dllab.lab").joinpath("solutions_data/conv2d.dat")
    (tmp_path / "conv2d.py").symlink_to(Path(str(shipped)))
    report = grade("conv2d", tmp_path / "conv2d.py", seed=0)
    assert not report.passed and report.n_passed == 0
    assert "syntax error in conv2d.dat" in report.problem["en"]


def test_route_3_patching_the_grader_through_sys_modules_reaches_nothing(tmp_path) -> None:
    source = (
        "import sys\n"
        "for name, mod in list(sys.modules.items()):\n"
        "    if hasattr(mod, 'make_case') or hasattr(mod, 'assert_close'):\n"
        "        mod.make_case = mod.assert_close = lambda *a, **k: None\n"
        "try:\n"
        "    import dllab.lab.exercises.conv2d as g\n"
        "    g.make_case = None\n"
        "except ImportError as exc:\n"
        "    REFUSED = str(exc)\n"
    ) + WRONG
    report = grade("conv2d", _learner(tmp_path, source), seed=0)
    assert report.problem is None and report.n_passed == 0  # graded, and every case failed
    assert "returned 1, expected" in report.cases[0].message["en"]


def test_route_4_forged_replies_and_a_clean_exit_do_not_pass(tmp_path) -> None:
    # The old route wrote "passed" events into the results file, then os._exit(0). Now there
    # is no such file: the closest the child gets is the reply pipe, and a forged "all is
    # well" there is just an answer, judged against references it never saw.
    source = (
        "import os, sys, json, struct\n"
        "fd = int(sys.argv[-1])\n"
        "for reply in ({}, {}, {'value': 1}, {'value': 1}):\n"
        "    head = json.dumps({'tree': {'$dict': [[k, v] for k, v in reply.items()]},\n"
        "                       'sizes': []}).encode()\n"
        "    os.write(fd, struct.pack('>II', len(head), 0) + head)\n"
        "events = os.path.join(os.getcwd(), 'events.jsonl')\n"
        "with open(events, 'w') as f:\n"
        "    f.write(json.dumps({'type': 'done'}) + '\\n')\n"
        "os._exit(0)\n"
    )
    report = grade("conv2d", _learner(tmp_path, source), seed=0)
    assert not report.passed and report.n_passed == 0
    assert report.cases and not report.cases[0].passed


def test_route_4b_an_exit_status_of_0_mid_check_is_a_failure(tmp_path) -> None:
    source = WRONG.replace("    return 1\n", "    import os\n    os._exit(0)\n", 1)
    report = grade("conv2d", _learner(tmp_path, source), seed=0)
    assert not report.passed
    assert "exit status 0 before grading finished" in report.problem["en"]


def test_route_5_a_hand_edited_record_is_detected_and_opens_nothing(tmp_path) -> None:
    runner = CliRunner()
    runner.invoke(app, ["hint", "conv2d", "--dir", str(tmp_path)], env=EN)  # a signed record
    path = tmp_path / ".progress.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    record["exercises"]["conv2d"]["passed"] = True
    path.write_text(json.dumps(record), encoding="utf-8")

    shown = runner.invoke(app, ["solution", "conv2d", "--dir", str(tmp_path)], env=EN)
    assert shown.exit_code != 0 and "edited by hand" in str(shown.exception)
    listed = runner.invoke(app, ["list", "--dir", str(tmp_path)], env=EN).output
    assert "edited by hand for conv2d" in listed and "edited by hand, not counted" in listed
    # a record without a key is not trusted either (deleting the key does not help)
    (tmp_path / ".progress.key").unlink()
    shown = runner.invoke(app, ["solution", "conv2d", "--dir", str(tmp_path)], env=EN)
    assert "edited by hand" in str(shown.exception)


def test_route_6_the_shipped_solutions_take_deliberate_decoding() -> None:
    shipped = resources.files("dllab.lab").joinpath("solutions_data/conv2d.dat").read_bytes()
    source = solution_source("conv2d")
    assert "def conv2d" in source
    assert b"def conv2d" not in shipped and b"im2col" not in shipped and b"numpy" not in shipped
    assert shipped.startswith(vault.MAGIC) and vault.decode(shipped) == source


def test_route_7_torch_in_a_numpy_exercise_fails_even_past_the_import_hook(tmp_path) -> None:
    report = grade("conv2d", _learner(tmp_path, "import torch.nn.functional as F\n"), seed=0)
    assert not report.passed
    assert "torch is not allowed in this exercise: it is NumPy by hand" in report.problem["en"]

    sneaky = solution_source("conv2d").replace("from __future__ import annotations\n", "") + (
        "\nimport sys\n"
        "sys.meta_path[:] = [f for f in sys.meta_path if 'Refuse' not in type(f).__name__]\n"
    )
    sneaky = sneaky.replace(
        "def conv2d(",
        "def conv2d(*a, **k):\n    import torch\n    return _conv2d(*a, **k)\n\ndef _conv2d(",
        1,
    )
    report = grade("conv2d", _learner(tmp_path, sneaky), seed=0)
    assert not report.passed
    failed = next(c for c in report.cases if not c.passed)
    assert "torch was imported: this exercise is NumPy by hand" in failed.message["en"]


def test_the_learners_code_has_no_network_and_no_processes(tmp_path) -> None:
    source = WRONG.replace(
        "    return 1\n", "    import socket\n    socket.socket()\n    return 1\n", 1
    )
    report = grade("conv2d", _learner(tmp_path, source), seed=0, n_cases=1)
    assert (
        "PermissionError: socket.__new__ is not allowed while grading"
        in (report.cases[0].message["en"])
    )
    source = WRONG.replace(
        "    return 1\n", "    import subprocess\n    subprocess.run(['true'])\n    return 1\n", 1
    )
    report = grade("conv2d", _learner(tmp_path, source), seed=0, n_cases=1)
    assert "subprocess.Popen is not allowed" in report.cases[0].message["en"]


def test_the_learners_code_cannot_read_the_records_key(tmp_path) -> None:
    (tmp_path / ".progress.key").write_text("00" * 32, encoding="utf-8")
    source = WRONG.replace(
        "    return 1\n",
        "    return open(__file__.rsplit('/', 1)[0] + '/.progress.key').read()\n",
        1,
    )
    report = grade("conv2d", _learner(tmp_path, source), seed=0, n_cases=1)
    assert "the grader does not let your code open" in report.cases[0].message["en"]
