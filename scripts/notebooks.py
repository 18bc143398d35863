"""Write every lesson as a Jupyter notebook: `python scripts/notebooks.py [OUT] [--force]`.

Lessons are Jupytext percent scripts (`lessons/NN-MM-name.py`); JupyterLab with Jupytext opens
them as they are. This writes `OUT/NN-MM-name.ipynb` for each (default OUT: `notebooks/`) for
a Jupyter without Jupytext, or to hand a notebook to someone. Outputs are not run here: open
a notebook and run it (its figures go to `lesson-output/` beside it, and the run is recorded in
your lab progress). A notebook that already exists is kept, since you may have worked in it,
unless `--force`; each file is written atomically (a temporary file, then a rename).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import jupytext

LESSONS = Path(__file__).resolve().parents[1] / "lessons"


def lesson_files(folder: Path = LESSONS) -> list[Path]:
    """The lessons, in teaching order (module, then number), found by their NN-MM- name."""
    from dllab.course.lessons import LESSON_FILE

    return sorted(p for p in folder.glob("*.py") if LESSON_FILE.fullmatch(p.name))


def write_notebook(lesson: Path, out: Path, force: bool = False) -> bool:
    """Write `lesson` as `out/<stem>.ipynb`; False (and nothing written) if it exists already."""
    target = out / f"{lesson.stem}.ipynb"
    if target.exists() and not force:
        return False
    notebook = jupytext.read(lesson)
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata.setdefault("kernelspec", kernel)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=out)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(jupytext.writes(notebook, fmt="ipynb"))
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "out", nargs="?", type=Path, default=Path("notebooks"), help="folder (default: notebooks/)"
    )
    parser.add_argument("--force", action="store_true", help="replace existing notebooks")
    args = parser.parse_args(argv)
    if args.out.exists() and not args.out.is_dir():
        print(f"notebooks: {args.out} is a file, not a folder; name a folder", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    written = kept = 0
    for lesson in lesson_files():
        if write_notebook(lesson, args.out, args.force):
            written += 1
        else:
            kept += 1
            print(f"kept {args.out / (lesson.stem + '.ipynb')} (exists; --force replaces it)")
    print(f"wrote {written} notebooks into {args.out}" + (f", kept {kept}" if kept else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
