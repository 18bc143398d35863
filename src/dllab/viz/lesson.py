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
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from dllab.viz.figure import save_figure

__all__ = ["Lesson", "in_notebook", "setup_lesson"]

OUTPUT_ROOT = Path("lesson-output")  # relative to where the lesson is run, like any output


def in_notebook() -> bool:
    """True inside a Jupyter kernel, False under `python lesson.py` (or pytest)."""
    return "ipykernel" in sys.modules


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
    return Lesson(name=name, out=out, in_notebook=notebook)
