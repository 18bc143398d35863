"""What every lesson under `lessons/` needs before it draws: where figures go and how.

A lesson is a Jupytext script that runs two ways, and its figures must work in both:

- as a script, `python lessons/NAME.py [DIR]`: it draws off-screen (Agg) and writes each
  figure into DIR, or into `lesson-output/NAME/` when no DIR is given;
- as a notebook: it writes the same files into `lesson-output/NAME/` (a kernel's `sys.argv`
  holds the kernel's own flags, not a folder) and shows each saved figure below its cell.

One call at the top of a lesson sets this up::

    lesson = setup_lesson("01-03-backprop-by-hand")
    ...
    lesson.save(fig, "moons.png")

The lesson passes its name because a notebook has no `__file__` to take it from.

`setup_lesson` also records the run in the learner's lab progress (the workspace that
`dllab progress` reads): that the lesson started, and at exit whether it ran to its end without
an error. Recording never fails a lesson: when the workspace cannot be written, the lesson says
so in one line and goes on. Only course lessons (`NN-NN-name`) are recorded.
"""

from __future__ import annotations

import atexit
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from dllab.viz.figure import save_figure

__all__ = ["Lesson", "in_notebook", "setup_lesson"]

OUTPUT_ROOT = Path("lesson-output")  # relative to where the lesson is run, like any output
LESSON_NAME = re.compile(r"\d\d-\d\d-[a-z0-9][a-z0-9-]*")  # e.g. 01-03-backprop-by-hand
_watched: set[str] = set()  # lessons of this process whose end is already awaited


def in_notebook() -> bool:
    """True inside a Jupyter kernel, False under `python lesson.py` (or pytest).

    ipykernel being imported is not enough: any process may import it (a test that looks for
    the kernel, a library); a kernel is running only when IPython's shell has one.
    """
    if "ipykernel" not in sys.modules:
        return False
    from IPython import get_ipython

    return getattr(get_ipython(), "kernel", None) is not None


@dataclass(frozen=True)
class Lesson:
    """A running lesson: its name, the folder its figures go to, and how it was started."""

    name: str  # the file's stem, e.g. "01-03-backprop-by-hand"
    out: Path  # the folder every `save` writes into; it exists
    in_notebook: bool  # started in Jupyter: show each saved figure as well

    def save(self, fig: Figure, filename: str) -> Path:
        """Write `fig` to `out/filename` (atomically, then close it); return the path.

        In a notebook the written file is shown below the cell: the figure itself is closed,
        so what the reader sees is exactly what was saved.
        """
        path = save_figure(fig, self.out / filename)
        if self.in_notebook:
            from IPython.display import Image, display  # present wherever ipykernel is

            display(Image(filename=str(path)))
        return path


def setup_lesson(name: str, argv: Sequence[str] | None = None) -> Lesson:
    """Start lesson `name`: pick its output folder and, outside a notebook, the Agg backend.

    The folder is `argv[1]` when run as a script with an argument (`argv` defaults to
    `sys.argv`), else `lesson-output/<name>`; it is created. In a notebook `argv` is ignored
    and the kernel keeps its inline backend.
    """
    notebook = in_notebook()
    if not notebook:
        matplotlib.use("Agg")  # a script draws off-screen, even where a display exists
    args = sys.argv if argv is None else argv
    out = Path(args[1]) if len(args) > 1 and not notebook else OUTPUT_ROOT / name
    out.mkdir(parents=True, exist_ok=True)
    if LESSON_NAME.fullmatch(name):
        _record_run(name, notebook)
    return Lesson(name=name, out=out, in_notebook=notebook)


def _record_run(name: str, notebook: bool) -> None:
    """Record that lesson `name` started, and arrange to record at exit that it ran to its end:
    a script, unless an exception escaped; a notebook, unless a cell failed (nbclient stops
    at the first failing cell). Any failure to record is one line on stderr, never an error."""
    try:
        from dllab.lab.progress import record_lesson
        from dllab.lab.workspace import find_workspace

        folder = find_workspace().path
        record_lesson(folder, name, finished=False)
    except Exception as exc:  # noqa: BLE001  a lesson must run even where nothing can be recorded
        _not_recorded(name, exc)
        return
    if name in _watched:
        return
    _watched.add(name)
    failed = []  # one entry per failure seen since the lesson started

    if notebook:
        from IPython import get_ipython  # present wherever ipykernel is

        shell = get_ipython()
        if shell is not None:
            shell.events.register(
                "post_run_cell", lambda result: None if result.success else failed.append(1)
            )
    else:
        previous = sys.excepthook

        def excepthook(*info: object) -> None:
            failed.append(1)
            previous(*info)

        sys.excepthook = excepthook

    def at_exit() -> None:
        if failed:
            return
        try:
            record_lesson(folder, name, finished=True)
        except Exception as exc:  # noqa: BLE001  see above
            _not_recorded(name, exc)

    atexit.register(at_exit)


def _not_recorded(name: str, exc: Exception) -> None:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    line = f"dllab: note: this run of {name} is not recorded in your lab progress ({reason})"
    print(" ".join(line.split()), file=sys.stderr)  # one line, whatever the reason holds
