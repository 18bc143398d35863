"""Making and saving report figures: headless, atomic, never left open.

Every plot in `dllab.viz` builds its figure with `new_figure` and hands it to `save_figure`,
which lays it out, writes it to a temporary file beside the target and renames it into place,
so a reader (TensorBoard, a report page, a half-finished run) never sees a truncated PNG.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from pathlib import Path

import matplotlib

if "matplotlib.pyplot" not in sys.modules:
    # Headless by default (servers, CI, training jobs). A session that already picked a
    # backend by importing pyplot first (a notebook) keeps it; our figures are closed before
    # anything could show them either way.
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (must come after matplotlib.use)
from matplotlib.figure import Figure  # noqa: E402

from dllab.viz.fonts import use_cjk_where_needed  # noqa: E402

__all__ = ["DPI", "new_figure", "message_figure", "save_figure"]

DPI = 110  # sharp enough to read tick labels, small enough to embed many in a report


def new_figure(width: float, height: float) -> Figure:
    """Return an empty figure of `width` x `height` inches at `DPI`."""
    return plt.figure(figsize=(width, height), dpi=DPI)


def message_figure(text: str, title: str) -> Figure:
    """A titled figure holding one centred line of text, for "nothing to plot" cases."""
    fig = new_figure(6, 2.5)
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=12, transform=ax.transAxes)
    ax.set_axis_off()
    return fig


def save_figure(fig: Figure, path: Path | str) -> Path:
    """Lay out `fig`, write it atomically to `path` and close it; return `path` as a Path.

    The format follows the suffix (`.png`, `.svg`, `.pdf`; PNG when there is none). Parent
    folders are created. The figure is closed even when writing fails.

    >>> save_figure(new_figure(4, 3), Path("runs/demo/empty.png"))  # doctest: +SKIP
    PosixPath('runs/demo/empty.png')
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        use_cjk_where_needed(fig)
        fig.tight_layout()
        fmt = path.suffix.lstrip(".").lower() or "png"
        # Not mkstemp: its files are private (0600); this one gets the usual umask permissions.
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as f:
                fig.savefig(f, format=fmt, dpi=DPI)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    finally:
        plt.close(fig)
    return path
