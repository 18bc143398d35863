"""The child process that grades a learner's file: `python -m dllab.lab.runner NAME FILE SEED N OUT`.

It imports the exercise's grader, says "ready", loads the learner's file, generates N cases from
SEED and writes one JSON event per line to OUT, flushed as it goes, so that the parent
(`grader.py`) knows when the learner's time started and which case was running when the time
limit struck or the process died. Every failure the
learner's code can cause becomes an event; nothing here trusts that code to return.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

import numpy as np

from dllab.lab.checks import Failed, Text, learner_frame, one_line, text

Event = dict[str, Any]


def case_seed(seed: int, index: int) -> int:
    """The seed of case `index` in a check run with `seed` (what a failing case shows)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def compile_learner(path: Path) -> CodeType:
    """Read and compile the learner's file without running it; `Failed` on a syntax error."""
    try:
        source = path.read_text(encoding="utf-8")
        return compile(source, str(path), "exec")
    except SyntaxError as exc:
        line = (exc.text or "").strip()
        raise Failed(
            text(
                f"syntax error in {path.name}, line {exc.lineno}: {exc.msg}: `{line}`",
                f"{path.name} 第 {exc.lineno} 行有语法错误：{exc.msg}：`{line}`",
            )
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise Failed(
            text(
                f"cannot read {path.name}: {one_line(exc)}",
                f"无法读取 {path.name}：{one_line(exc)}",
            )
        ) from None


def load_learner(path: Path, code: CodeType | None = None) -> ModuleType:
    """Run the learner's file as a module; `Failed` says why it could not be loaded."""
    code = compile_learner(path) if code is None else code
    module = ModuleType(f"dllab_lab_learner_{path.stem}")
    module.__file__ = str(path)
    sys.modules[module.__name__] = module  # dataclasses and pickling look modules up here
    try:
        exec(code, module.__dict__)
    except SystemExit as exc:
        raise Failed(
            text(
                f"{path.name} called sys.exit({exc.code!r}) while loading; remove it, the grader "
                "calls your functions itself",
                f"{path.name} 在加载时调用了 sys.exit({exc.code!r})；请删除它，"
                "评分器会自己调用你的函数",
            )
        ) from None
    except Exception as exc:
        raise Failed(
            text(
                f"{path.name} raised {one_line(exc)} while loading{learner_frame(exc, module)}",
                f"{path.name} 在加载时抛出异常 {one_line(exc)}{learner_frame(exc, module)}",
            )
        ) from None
    return module


def _failure(exc: BaseException, module: ModuleType) -> tuple[Text, Text | None]:
    if isinstance(exc, Failed):
        return exc.message, exc.hint
    if isinstance(exc, SystemExit):
        return text(
            f"your code called sys.exit({exc.code!r})", f"你的代码调用了 sys.exit({exc.code!r})"
        ), None
    # The grader could not use what the learner returned (a wrong type, a wrong shape…).
    where = learner_frame(exc, module)
    return text(
        f"could not use your result: {one_line(exc)}{where}",
        f"无法使用你的结果：{one_line(exc)}{where}",
    ), text(
        "Check the types and shapes your code returns against the docstring.",
        "对照文档字符串检查你返回的类型和形状。",
    )


def run(name: str, path: Path, seed: int, n_cases: int, emit: Callable[[Event], None]) -> None:
    """Grade `path` against exercise `name`, reporting every step through `emit`."""
    try:
        code = compile_learner(path)  # a syntax error needs no torch to be reported
    except Failed as exc:
        emit({"type": "load_failed", "message": exc.message})
        return
    import torch

    grader = importlib.import_module(f"dllab.lab.exercises.{name}")
    emit({"type": "ready"})  # start-up is over: the learner's time starts now
    try:
        module = load_learner(path, code)
    except Failed as exc:
        emit({"type": "load_failed", "message": exc.message})
        return
    emit({"type": "loaded"})
    for index in range(n_cases):
        s = case_seed(seed, index)
        torch.manual_seed(s)
        case = grader.make_case(index, np.random.default_rng(s))
        emit({"type": "case_start", "index": index, "seed": s, "shapes": case.shapes})
        try:
            case.check(module)
        except (Exception, SystemExit) as exc:
            message, hint = _failure(exc, module)
            emit(
                {
                    "type": "case_end",
                    "index": index,
                    "passed": False,
                    "message": message,
                    "hint": hint,
                }
            )
        else:
            emit({"type": "case_end", "index": index, "passed": True})
    emit({"type": "done"})


def main(argv: list[str] | None = None) -> None:
    name, file, seed, n_cases, out = argv if argv is not None else sys.argv[1:]
    with open(out, "w", encoding="utf-8") as sink:

        def emit(event: Event) -> None:
            sink.write(json.dumps(event, ensure_ascii=False) + "\n")
            sink.flush()

        run(name, Path(file), int(seed), int(n_cases), emit)


if __name__ == "__main__":
    main()
