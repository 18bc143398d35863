"""The grader never crashes: whatever the learner's file does, the check ends as a failed report
with the reason. These run the real child process (`grade`), with short time limits.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from dllab.lab.catalog import solution_source
from dllab.lab.grader import build_report, grade, grade_in_process

GOOD_SIZE = "def conv_output_size(size, kernel_size, stride=1, padding=0):\n    return 1\n"


def _learner(tmp_path: Path, source: str, name: str = "conv2d") -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    return path


def test_a_syntax_error_fails_the_check_with_its_line(tmp_path) -> None:
    path = _learner(tmp_path, "import numpy as np\n\ndef conv_output_size(size:\n    return 1\n")
    report = grade("conv2d", path, seed=0)
    assert not report.passed and report.cases == ()
    assert "syntax error in conv2d.py, line 3" in report.problem["en"]
    assert "语法错误" in report.problem["zh"]


def test_sys_exit_0_while_loading_fails_instead_of_passing(tmp_path) -> None:
    report = grade("conv2d", _learner(tmp_path, "import sys\nsys.exit(0)\n"), seed=0)
    assert not report.passed
    assert "called sys.exit(0) while loading" in report.problem["en"]


def test_an_exception_while_loading_is_reported_with_the_line(tmp_path) -> None:
    path = _learner(tmp_path, "x = 1\nraise RuntimeError('boom')\n")
    report = grade_in_process("conv2d", path, seed=0)
    assert not report.passed
    assert "raised RuntimeError: boom while loading (conv2d.py:2" in report.problem["en"]


def test_exceptions_and_sys_exit_inside_functions_fail_their_cases(tmp_path) -> None:
    source = (
        "import sys\n\n"
        "def conv_output_size(size, kernel_size, stride=1, padding=0):\n"
        "    return size // 0\n"
    )
    report = grade_in_process("conv2d", _learner(tmp_path, source), seed=0, n_cases=2)
    assert report.problem is None and len(report.cases) == 2
    message = report.cases[0].message["en"]
    assert "`conv_output_size` raised ZeroDivisionError: integer division or modulo by zero" in (
        message
    )
    assert "conv2d.py:4 in conv_output_size: `return size // 0`" in message

    source = source.replace("return size // 0", "sys.exit(0)")
    report = grade_in_process("conv2d", _learner(tmp_path, source), seed=0, n_cases=2)
    assert not report.passed and len(report.cases) == 2
    assert "called sys.exit(0)" in report.cases[0].message["en"]


def test_an_infinite_loop_is_stopped_at_the_time_limit(tmp_path) -> None:
    source = GOOD_SIZE.replace("return 1", "while True:\n        pass")
    began = time.monotonic()
    report = grade("conv2d", _learner(tmp_path, source), seed=0, time_limit=1.5)
    assert time.monotonic() - began < 20
    assert not report.passed
    assert "time limit of 1.5 s exceeded" in report.problem["en"]
    assert "超过时间限制" in report.problem["zh"]
    assert len(report.cases) == 1 and not report.cases[0].passed  # the case that hung


def test_an_infinite_loop_while_loading_is_stopped_too(tmp_path) -> None:
    report = grade("conv2d", _learner(tmp_path, "while True:\n    pass\n"), seed=0, time_limit=1)
    assert report.problem["en"].startswith("time limit of 1 s exceeded")
    assert report.problem["en"].endswith("while loading your file")


def test_a_hard_exit_with_endless_output_is_a_failure_not_a_crash(tmp_path) -> None:
    source = (
        "import os\n\n"
        "def conv_output_size(size, kernel_size, stride=1, padding=0):\n"
        "    print('x' * 100_000)\n"
        "    os._exit(3)\n"
    )
    report = grade("conv2d", _learner(tmp_path, source), seed=0)
    assert not report.passed
    assert "exit status 3" in report.problem["en"]
    assert report.cases[-1].message == report.problem


def test_a_wrong_shape_is_reported_with_both_shapes(tmp_path) -> None:
    source = solution_source("conv2d").replace(
        "return out.reshape(n, o, h_out, w_out)", "return out"
    )
    report = grade_in_process("conv2d", _learner(tmp_path, source), seed=0)
    message = next(c.message["en"] for c in report.cases if not c.passed)
    assert "conv2d(x, weight, bias): expected shape (" in message and "got (" in message


def test_a_report_survives_missing_and_truncated_events() -> None:
    nothing = build_report("conv2d", 1, 6, [], returncode=-9)
    assert not nothing.passed and "exit status -9" in nothing.problem["en"]

    started = [{"type": "ready"}, {"type": "loaded"}]
    started.append({"type": "case_start", "index": 0, "seed": 5, "shapes": "x (1, 1, 3, 3)"})
    report = build_report("conv2d", 1, 6, started, time_limit=2)
    assert [c.passed for c in report.cases] == [False]
    assert report.cases[0].shapes == "x (1, 1, 3, 3)" and report.cases[0].seed == 5


def test_a_reply_cut_short_or_garbled_is_refused_not_trusted() -> None:
    from dllab.lab.child import WireError, pack, unpack_body

    message = pack({"value": np.ones(3), "passed": True})
    n_json = int.from_bytes(message[:4], "big")
    head, body = message[8 : 8 + n_json], message[8 + n_json :]
    assert unpack_body(head, body)["passed"] is True
    with pytest.raises(WireError):
        unpack_body(head, body[:-1])  # the array's bytes cut short by a kill
    with pytest.raises(WireError):
        unpack_body(b'{"tree": {"$nd": 0, "dtype": "|O", "shape": [1]}, "sizes": [8]}', bytes(8))
