"""The warm-fork helper behaves like a new interpreter where the suite relies on it: a test
that passes on a warm child must mean what it would mean on `python -m dllab`."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests import _warm

REPO = Path(__file__).resolve().parents[1]


def run(code: str, tmp_path: Path, env: dict[str, str] | None = None, timeout: float = 120):
    return _warm.run_code(
        textwrap.dedent(code), "a", "b", cwd=tmp_path, env={**os.environ, **(env or {})},
        timeout=timeout,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("code", "status", "stderr"),
    [
        ("print('x')", 0, ""),
        ("import sys; sys.exit(3)", 3, ""),
        ("import sys; sys.exit('one line')", 1, "one line\n"),
        ("raise ValueError('boom')", 1, "ValueError: boom"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", -signal.SIGKILL, ""),
        ("raise KeyboardInterrupt", -signal.SIGINT, ""),
    ],
    ids=["ok", "exit-3", "exit-message", "exception", "sigkill", "ctrl-c"],
)
def test_exit_statuses_are_the_interpreters(tmp_path, code, status, stderr):
    out = run(code, tmp_path)
    assert out.returncode == status, out.stderr
    assert stderr in out.stderr
    if status == 1 and "Error" in stderr:
        assert out.stderr.startswith("Traceback (most recent call last):")


def test_argv_cwd_environment_and_atexit_are_its_own(tmp_path):
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "side_module.py").write_text("NAME = 'found'\n")
    out = run(
        """
        import atexit, multiprocessing, os, sys, torch
        import side_module
        atexit.register(print, "atexit ran")
        print(sys.argv, os.getcwd(), os.environ["MARK"], side_module.NAME)
        print(torch.get_num_threads(), multiprocessing.get_start_method(allow_none=True))
        print(any(p and os.path.realpath(p) == os.environ["REPO"] for p in sys.path))
        """,
        tmp_path,
        env={
            "MARK": "mine",
            "PYTHONPATH": str(tmp_path / "extra"),
            "OMP_NUM_THREADS": "3",
            "REPO": str(REPO),
        },  # fmt: skip
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"['-c', 'a', 'b'] {tmp_path} mine found"
    assert lines[1] == "3 None"  # torch's threads from the env; no start method chosen yet
    assert lines[2] == "False"  # the suite's folder is not on the path
    assert lines[3] == "atexit ran"


def test_a_child_past_its_timeout_is_killed(tmp_path):
    with pytest.raises(subprocess.TimeoutExpired) as caught:
        run("import time; print('started', flush=True); time.sleep(60)", tmp_path, timeout=5)
    assert "started" in caught.value.output


def test_a_started_child_can_be_watched_and_signalled(tmp_path):
    code = """
        import time
        print("ready", flush=True)
        try:
            time.sleep(60)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            raise SystemExit(130)
        """
    child = _warm.start("code", textwrap.dedent(code), cwd=tmp_path, env=dict(os.environ))
    try:
        assert child.wait_for_line(lambda line: line == "ready", timeout=60)
        assert child.poll() is None
        child.send_signal(signal.SIGINT)  # Python's own handler: KeyboardInterrupt
        assert child.wait(30) == 130 and "interrupted" in child.stdout()
    finally:
        child.close()
