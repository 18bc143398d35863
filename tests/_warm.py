"""New processes without the import bill: `python -m dllab`, lessons and `-c` children,
forked warm (not a test module).

A `dllab` command or a lesson started in a new interpreter spends about 4 s importing torch,
torchvision, torchmetrics and matplotlib before its first line of work, and the suite starts
well over a hundred of them: about a quarter of its time went there. Here each one is forked
from a multiprocessing forkserver that imported those modules once (per pytest worker). It is
still a process of its own, with its own pid, exit status, signals, file descriptors, working
folder and environment, and it runs the same entry point under `__main__` as `python -m dllab`
or `python lesson.py` would. Only the module cache is warm, so what a warm start cannot show (an
import that fails, or is slow, in a new interpreter) is left to the tests that start one:
`tests/test_cli.py::test_python_dash_m_works_like_the_command`, the import-isolation tests
(`-c` children started with subprocess), and the lessons run as notebooks in a fresh kernel.

What a new interpreter reads from its environment before the first line, and so a warm one
would miss, is applied by hand: `PYTHONPATH` (prepended to `sys.path`), `OMP_NUM_THREADS`
(torch's thread count) and `PYTHONFAULTHANDLER`. Exit statuses follow the interpreter's rules:
`sys.exit(None|int|message)`, 1 with a traceback for an uncaught exception, and death by the
signal for a `KeyboardInterrupt`. `atexit` handlers run, as at a normal interpreter exit.
"""

from __future__ import annotations

import atexit
import faulthandler
import multiprocessing
import os
import runpy
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

PRELOAD = ["torch", "torchvision", "torchmetrics", "matplotlib.pyplot", "dllab.cli", "dllab.tasks"]

# DLLAB_TESTS_COLD=1: every process starts as a new interpreter (multiprocessing's spawn), to
# tell a failure of the warm start from a failure of the code under test
COLD = os.environ.get("DLLAB_TESTS_COLD") == "1"
_context: multiprocessing.context.BaseContext | None = None


def _warm_context() -> multiprocessing.context.BaseContext:
    global _context
    if _context is None:
        _context = multiprocessing.get_context("spawn" if COLD else "forkserver")
        if not COLD:
            _context.set_forkserver_preload([*PRELOAD, __name__])
    return _context


def run_module(
    module: str, *args: str, cwd: Path, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess:
    """`python -m MODULE ARGS`, forked warm; reads like `subprocess.run(..., text=True)`."""
    return start("module", module, *args, cwd=cwd, env=env).result(timeout)


def run_script(
    script: Path, *args: str, cwd: Path, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess:
    """`python SCRIPT ARGS`, forked warm."""
    return start("script", str(script), *args, cwd=cwd, env=env).result(timeout)


def run_code(
    code: str, *args: str, cwd: Path, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess:
    """`python -c CODE ARGS`, forked warm."""
    return start("code", code, *args, cwd=cwd, env=env).result(timeout)


def start(kind: str, target: str, *args: str, cwd: Path, env: dict[str, str]) -> WarmProcess:
    """Start `python -m TARGET` (kind "module"), `python TARGET` ("script") or `python -c
    TARGET` ("code") with ARGS, forked warm, and return at once (like `subprocess.Popen`)."""
    flag = {"module": ["-m"], "script": [], "code": ["-c"]}[kind]
    return WarmProcess([sys.executable, *flag, target, *args], (kind, target, list(args)), cwd, env)


class WarmProcess:
    """A started warm process: `pid`, `poll`, `wait`, `kill`, `send_signal` as on a Popen, its
    output in files it can be read from while it runs, and `result` at the end."""

    def __init__(self, cmd: list[str], what: tuple, cwd: Path, env: dict[str, str]) -> None:
        self.args = cmd
        self._tmp = Path(tempfile.mkdtemp(prefix="dllab-warm-"))
        self._out, self._err = self._tmp / "stdout", self._tmp / "stderr"
        self._process = _warm_context().Process(
            target=_child, args=(what, str(cwd), dict(env), str(self._out), str(self._err))
        )
        self._process.start()

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self._process.exitcode

    def kill(self) -> None:
        self._process.kill()

    def send_signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def stdout(self) -> str:
        return _read(self._out)

    def stderr(self) -> str:
        return _read(self._err)

    def wait_for_line(self, wanted: Callable[[str], bool], timeout: float) -> bool:
        """Whether a line of stdout is `wanted` before the process ends or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ended = self.poll() is not None
            if any(wanted(line) for line in self.stdout().splitlines()):
                return True
            if ended:
                return False
            time.sleep(0.05)
        return False

    def result(self, timeout: float) -> subprocess.CompletedProcess:
        """Wait for the end (kill it after `timeout`, as `subprocess.run` does) and clean up."""
        try:
            try:
                code = self.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                self._process.join()
                out, err = self.stdout(), self.stderr()
                raise subprocess.TimeoutExpired(self.args, timeout, out, err) from None
            return subprocess.CompletedProcess(self.args, code, self.stdout(), self.stderr())
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def close(self) -> None:
        """Kill it if it still runs and remove its output files."""
        if self.poll() is None:
            self.kill()
            self._process.join()
        shutil.rmtree(self._tmp, ignore_errors=True)


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def _child(what, cwd: str, env: dict[str, str], out: str, err: str) -> None:
    """The forked process: become `python -m MODULE`, `python SCRIPT` or `python -c CODE`,
    then exit as that interpreter would."""
    kind, target, args = what
    for fd, path in ((1, out), (2, err)):
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(handle, fd)
        os.close(handle)
    # the process's own streams for the rest of its life: no context manager can own them
    sys.stdout = open(1, "w", encoding="utf-8", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(  # noqa: SIM115
        2, "w", encoding="utf-8", errors="backslashreplace", closefd=False
    )
    sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115
    # A new interpreter has no start method chosen yet (Linux's default is fork); this one
    # inherited ours, and every DataLoader worker would start a forkserver of its own
    multiprocessing.set_start_method(None, force=True)
    # A new interpreter turns Ctrl-C into KeyboardInterrupt (the forkserver ignores it)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if env.get("PYTHONFAULTHANDLER"):
        faulthandler.enable()
    if env.get("OMP_NUM_THREADS", "").isdigit():
        import torch

        torch.set_num_threads(int(env["OMP_NUM_THREADS"]))
    # The suite's own folder came with the pickled target (pytest runs from it); a new
    # interpreter elsewhere would not see it, so neither does this one
    repo = Path(__file__).resolve().parents[1]
    sys.path[:] = [p for p in sys.path if p and Path(p).resolve() != repo]
    status = 0
    try:
        if kind == "module":
            sys.path[:0] = [cwd, *extra]  # `-m` puts the working folder first
            sys.argv = [target, *args]
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        elif kind == "code":
            sys.path[:0] = ["", *extra]  # `-c` puts the working folder first, as ''
            sys.argv = ["-c", *args]
            exec(compile(target, "<string>", "exec"), {"__name__": "__main__"})
        else:
            sys.path[:0] = [str(Path(target).resolve().parent), *extra]
            sys.argv = [target, *args]
            runpy.run_path(target, run_name="__main__")
    except SystemExit as exc:
        status = _exit_status(exc.code)
    except KeyboardInterrupt:
        status = -signal.SIGINT
    except BaseException:
        traceback.print_exc()
        status = 1
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    if status == -signal.SIGINT:  # the interpreter dies of the signal, as CPython does
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(status)


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
