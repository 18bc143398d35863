"""Grade a learner's file: cases and references here, the learner's code in a child process.

`grade` generates the cases in this process, computes every reference here, and sends the
learner's child (`sandbox.ChildChannel`) only the inputs; the child's replies are data that the
case checks judge here. A syntax error, an exception, `sys.exit`, a crash, garbage on the reply
pipe or an infinite loop in the learner's code all end as a failed report with the reason; none
of them can make a pass. The time limit counts from the child's "ready", so a slow start of
Python and torch is not held against the learner's code.
"""

from __future__ import annotations

import importlib
import secrets
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dllab.lab.catalog import get_exercise
from dllab.lab.checks import Failed, Text, text
from dllab.lab.child import compile_learner
from dllab.lab.sandbox import STARTUP_LIMIT, Channel, ChildChannel, ChildStopped, LocalChannel


@dataclass(frozen=True)
class CaseResult:
    index: int  # 0-based; shown 1-based
    seed: int  # the case's own seed (derived from the check's seed)
    shapes: str | Text  # what the case was made of (plain when it is only numbers and shapes)
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


def case_seed(seed: int, index: int) -> int:
    """The seed of case `index` in a check run with `seed` (what a failing case shows)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def build_report(
    name: str,
    seed: int,
    n_cases: int,
    events: list[dict[str, Any]],
    *,
    time_limit: float | None = None,
    returncode: int | None = 0,
    stderr: str = "",
    garbled: str = "",
) -> Report:
    """Turn the runner's events (and how the child ended) into a `Report`.

    `time_limit` is set when the child was stopped for running past it; `returncode` is the
    child's exit status; `garbled` says why a reply could not be read, when that stopped it.
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
            "(os._exit? a crash?)"
            + (f"; a reply the grader cannot read ({garbled})" if garbled else "")
            + (f"; its last output: {stderr}" if stderr else ""),
            f"评分结束前你的程序以退出状态 {returncode} 终止（os._exit？崩溃？）"
            + (f"；评分器无法读取的回复（{garbled}）" if garbled else "")
            + (f"；最后的输出：{stderr}" if stderr else ""),
        )
    if started is not None:  # the case that was running when the child stopped
        cases.append(
            CaseResult(started["index"], started["seed"], started["shapes"], False, problem)
        )
    return Report(name, seed, n_cases, tuple(cases), problem)


def load_problem(record: dict, filename: str) -> Text:
    """Why the learner's file could not be loaded, from the child's failure record."""
    kind = record.get("kind")
    if kind == "syntax":
        line = str(record.get("line", "")).strip()
        lineno, msg = record.get("lineno"), record.get("msg")
        return text(
            f"syntax error in {filename}, line {lineno}: {msg}: `{line}`",
            f"{filename} 第 {lineno} 行有语法错误：{msg}：`{line}`",
        )
    if kind == "unreadable":
        error = record.get("error")
        return text(f"cannot read {filename}: {error}", f"无法读取 {filename}：{error}")
    if kind == "exit":
        code = record.get("code")
        return text(
            f"{filename} called sys.exit({code}) while loading; remove it, the grader calls your "
            "functions itself",
            f"{filename} 在加载时调用了 sys.exit({code})；请删除它，评分器会自己调用你的函数",
        )
    if kind == "not_implemented":
        record = {"error": "NotImplementedError", "where": ""}
    error, where = record.get("error", "?"), record.get("where", "")
    return text(
        f"{filename} raised {error} while loading{where}",
        f"{filename} 在加载时抛出异常 {error}{where}",
    )


def run_cases(
    name: str, learner: Channel, path: Path, seed: int, n_cases: int, emit: Callable
) -> None:
    """Load `path` in `learner`, then generate and check the cases, reporting through `emit`.

    `ChildStopped` (a timeout, a crash) propagates: the caller knows which case was running
    from the events already emitted.
    """
    import torch

    grader = importlib.import_module(f"dllab.lab.exercises.{name}")
    emit({"type": "ready"})
    record = learner.load(path)
    if record is not None:
        emit({"type": "load_failed", "message": load_problem(record, path.name)})
        return
    emit({"type": "loaded"})
    for index in range(n_cases):
        s = case_seed(seed, index)
        torch.manual_seed(s)
        case = grader.make_case(index, np.random.default_rng(s))
        emit({"type": "case_start", "index": index, "seed": s, "shapes": case.shapes})
        learner.seed(s)
        try:
            case.check(learner)
        except Failed as exc:
            emit(
                {
                    "type": "case_end",
                    "index": index,
                    "passed": False,
                    "message": exc.message,
                    "hint": exc.hint,
                }
            )
        else:
            emit({"type": "case_end", "index": index, "passed": True})
    emit({"type": "done"})


def grade(
    name: str,
    path: Path,
    *,
    seed: int | None = None,
    time_limit: float | None = None,
    n_cases: int | None = None,
) -> Report:
    """Grade the learner's file `path` for exercise `name`, its code in a child process.

    `seed` fixes the generated cases (random when None); `time_limit` (seconds) and `n_cases`
    default to the exercise's own.
    """
    exercise = get_exercise(name)
    seed = secrets.randbelow(2**31) if seed is None else seed
    limit = exercise.time_limit if time_limit is None else time_limit
    n = exercise.n_cases if n_cases is None else n_cases
    path = Path(path).resolve()
    code = compile_learner(path)  # a syntax error needs no child to be reported
    if isinstance(code, dict):
        problem = load_problem(code, path.name)
        return build_report(name, seed, n, [{"type": "load_failed", "message": problem}])
    events: list[dict[str, Any]] = []
    try:
        with ChildChannel(path, time_limit=limit, numpy_only=exercise.numpy_only) as learner:
            try:
                run_cases(exercise.name, learner, path, seed, n, events.append)
            except ChildStopped as stop:
                return _stopped(name, seed, n, events, stop, limit, learner.output_tail())
    except ChildStopped as stop:  # during start-up
        return _stopped(name, seed, n, events, stop, limit, "")
    return build_report(name, seed, n, events)


def _stopped(name, seed, n, events, stop: ChildStopped, limit: float, tail: str) -> Report:
    if stop.reason == "timeout" or stop.returncode == -signal.SIGXCPU:
        return build_report(name, seed, n, events, time_limit=limit)
    garbled = stop.detail if stop.reason == "garbled" else ""
    return build_report(
        name, seed, n, events, returncode=stop.returncode, stderr=tail, garbled=garbled
    )


def grade_in_process(name: str, path: Path, *, seed: int = 0, n_cases: int | None = None) -> Report:
    """Grade without a child process or time limit: for trusted files (tests, references)."""
    exercise = get_exercise(name)
    n = exercise.n_cases if n_cases is None else n_cases
    events: list[dict[str, Any]] = []
    run_cases(exercise.name, LocalChannel(), Path(path), seed, n, events.append)
    return build_report(exercise.name, seed, n, events)
