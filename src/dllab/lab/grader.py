"""Grade a learner's file in a child process with a time limit, and never crash doing it.

`grade` runs `python -m dllab.lab.runner` on the file, reads the events it wrote (one JSON line
each) and turns them into a `Report`. A syntax error, an exception, `sys.exit`, a crash or an
infinite loop in the learner's code all end as a failed report with the reason. The time limit
counts from the child's "ready" event, so a slow start of Python and torch is not held against
the learner's code.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dllab.lab.catalog import get_exercise
from dllab.lab.checks import Text, text

STARTUP_LIMIT = 60.0  # seconds for the child to import torch and the grader, before "ready"


@dataclass(frozen=True)
class CaseResult:
    index: int  # 0-based; shown 1-based
    seed: int  # the case's own seed (derived from the check's seed)
    shapes: str  # what the case was made of
    passed: bool
    message: Text | None = None  # why it failed: shapes, largest difference…
    hint: Text | None = None  # where to look


@dataclass(frozen=True)
class Report:
    name: str  # the exercise
    seed: int  # `dllab lab check NAME --seed SEED` reproduces the same cases
    n_cases: int  # how many cases were due
    cases: tuple[CaseResult, ...]  # those that ran, in order
    problem: Text | None = None  # a reason that concerns the whole file (load, time, crash)

    @property
    def n_passed(self) -> int:
        return sum(c.passed for c in self.cases)

    @property
    def passed(self) -> bool:
        return self.problem is None and self.n_passed == self.n_cases


def _tail(path: Path, limit: int = 300) -> str:
    try:
        data = path.read_bytes()[-limit:]
    except OSError:
        return ""
    return " ".join(data.decode("utf-8", "replace").split())


def build_report(
    name: str,
    seed: int,
    n_cases: int,
    events: list[dict[str, Any]],
    *,
    time_limit: float | None = None,
    returncode: int | None = 0,
    stderr: str = "",
) -> Report:
    """Turn the runner's events (and how the child ended) into a `Report`.

    `time_limit` is set when the child was stopped for running past it; `returncode` is the
    child's exit status.
    """
    cases: list[CaseResult] = []
    started: dict[str, Any] | None = None
    problem: Text | None = None
    done = False
    for ev in events:
        kind = ev.get("type")
        if kind == "load_failed":
            problem = ev["message"]
        elif kind == "case_start":
            started = ev
        elif kind == "case_end" and started is not None:
            cases.append(
                CaseResult(
                    started["index"],
                    started["seed"],
                    started["shapes"],
                    bool(ev["passed"]),
                    ev.get("message"),
                    ev.get("hint"),
                )
            )
            started = None
        elif kind == "done":
            done = True
    if problem is not None or done:
        return Report(name, seed, n_cases, tuple(cases), problem)
    if time_limit is not None:
        stopped = text(
            f"time limit of {time_limit:g} s exceeded: an infinite loop, or far too slow "
            "(loops over every element instead of array operations?)",
            f"超过时间限制 {time_limit:g} 秒：死循环，或者太慢（逐元素循环而不是数组运算？）",
        )
        seen = {ev.get("type") for ev in events}
        problem = stopped
        if "ready" not in seen:
            problem = text(
                f"Python and torch did not start within {STARTUP_LIMIT + time_limit:g} s; "
                "is the machine overloaded?",
                f"Python 和 torch 在 {STARTUP_LIMIT + time_limit:g} 秒内没有启动；机器负载是否过高？",
            )
        elif "loaded" not in seen:
            problem = text(
                stopped["en"] + " while loading your file", stopped["zh"] + "（加载文件时）"
            )
    else:
        problem = text(
            f"your program ended with exit status {returncode} before grading finished "
            "(os._exit? a crash?)" + (f"; its last output: {stderr}" if stderr else ""),
            f"评分结束前你的程序以退出状态 {returncode} 终止（os._exit？崩溃？）"
            + (f"；最后的输出：{stderr}" if stderr else ""),
        )
    if started is not None:  # the case that was running when the child stopped
        cases.append(
            CaseResult(started["index"], started["seed"], started["shapes"], False, problem)
        )
    return Report(name, seed, n_cases, tuple(cases), problem)


def _read_events(path: Path) -> list[dict[str, Any]]:
    events = []
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            break  # a line cut short when the child was killed
        if isinstance(ev, dict):
            events.append(ev)
    return events


def _ready(events_file: Path) -> bool:
    try:
        with open(events_file, encoding="utf-8") as f:
            return '"ready"' in f.readline()
    except OSError:
        return False


def _wait(proc: subprocess.Popen, events_file: Path, limit: float) -> tuple[int, bool]:
    """Wait for the child; kill it `limit` seconds after it is ready. (exit status, timed out)"""
    start = time.monotonic()
    ready_at = None
    while True:
        try:
            return proc.wait(timeout=0.05), False
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if ready_at is None and _ready(events_file):
            ready_at = now
        deadline = start + STARTUP_LIMIT + limit if ready_at is None else ready_at + limit
        if now > deadline:
            if os.name == "posix":
                os.killpg(proc.pid, signal.SIGKILL)  # the child and anything it started
            else:
                proc.kill()
            return proc.wait(), True


def grade(
    name: str,
    path: Path,
    *,
    seed: int | None = None,
    time_limit: float | None = None,
    n_cases: int | None = None,
) -> Report:
    """Grade the learner's file `path` for exercise `name` in a child process.

    `seed` fixes the generated cases (random when None); `time_limit` (seconds) and `n_cases`
    default to the exercise's own.
    """
    exercise = get_exercise(name)
    seed = secrets.randbelow(2**31) if seed is None else seed
    limit = exercise.time_limit if time_limit is None else time_limit
    n = exercise.n_cases if n_cases is None else n_cases
    path = Path(path).resolve()
    with tempfile.TemporaryDirectory(prefix="dllab-lab-") as tmp:
        out, log = Path(tmp) / "events.jsonl", Path(tmp) / "output.txt"
        cmd = [
            sys.executable,
            "-m",
            "dllab.lab.runner",
            name,
            str(path),
            str(seed),
            str(n),
            str(out),
        ]
        with open(log, "wb") as sink:
            proc = subprocess.Popen(
                cmd,
                cwd=tmp,  # not the learner's folder: a file there could shadow a module we import
                stdin=subprocess.DEVNULL,
                stdout=sink,  # a file, not a pipe: endless printing cannot block or fill memory
                stderr=subprocess.STDOUT,
                start_new_session=os.name == "posix",
            )
            returncode, timed_out = _wait(proc, out, limit)
        return build_report(
            name,
            seed,
            n,
            _read_events(out),
            time_limit=limit if timed_out else None,
            returncode=returncode,
            stderr=_tail(log),
        )


def grade_in_process(name: str, path: Path, *, seed: int = 0, n_cases: int | None = None) -> Report:
    """Grade without a child process or time limit: for trusted files (tests, references)."""
    from dllab.lab.runner import run

    exercise = get_exercise(name)
    n = exercise.n_cases if n_cases is None else n_cases
    events: list[dict[str, Any]] = []
    run(name, Path(path), seed, n, events.append)
    return build_report(name, seed, n, events)
