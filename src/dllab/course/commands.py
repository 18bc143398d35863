"""`dllab course` (the map, `next`, `show`) and `dllab progress`: thin, they read and print.

Nothing here writes to the lab workspace or the runs folder; `progress --html FILE` writes one
page, atomically, and never over an existing file unless `--force`. Mistakes raise
`CourseError` or `LabError` (the CLI prints one line and exits 2).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from dllab.course.errors import CourseError
from dllab.course.messages import say
from dllab.course.render import course_lines, next_lines, progress_html, progress_lines
from dllab.course.state import read_course
from dllab.course.syllabus import get_stage
from dllab.lab.messages import resolve_lang

app = typer.Typer(
    help="The course map: modules, lessons, exercises and projects in teaching order.",
    invoke_without_command=True,
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

Lang = Annotated[
    str | None,
    typer.Option("--lang", help="Language: en or zh (default: from the locale)."),
]
Folder = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        help="Your lab workspace (default: $DLLAB_LAB, the nearest dllab-lab/ above here, "
        "else a per-user folder).",
    ),
]
RunsRoot = Annotated[
    Path | None, typer.Option("--runs", help="Folder holding your run folders (default ./runs).")
]


def _echo(lines: list[str]) -> None:
    typer.echo("\n".join(lines))


@app.callback()
def course(ctx: typer.Context, lang: Lang = None, folder: Folder = None, runs: RunsRoot = None):
    """Show the stage in teaching order, with your status on every step and the next one."""
    if ctx.invoked_subcommand is None:
        lang = resolve_lang(lang)
        _echo(course_lines(read_course(folder, runs_root=runs), lang))


@app.command("next")
def next_(lang: Lang = None, folder: Folder = None, runs: RunsRoot = None) -> None:
    """Print the one command to run next (and, as a comment, what it is)."""
    lang = resolve_lang(lang)
    _echo(next_lines(read_course(folder, runs_root=runs), lang))


@app.command()
def show(
    key: Annotated[str, typer.Argument(help="A module (01-08) or a project (P01-P07).")],
    lang: Lang = None,
    folder: Folder = None,
    runs: RunsRoot = None,
) -> None:
    """Show one module or project: its lessons, exercises and recipes."""
    lang = resolve_lang(lang)
    stage = get_stage(key)
    _echo(course_lines(read_course(folder, runs_root=runs), lang, only=stage.key))


def progress(
    lang: Lang = None,
    folder: Folder = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write the checklist as an HTML page.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing --html file.")
    ] = False,
    runs: RunsRoot = None,
) -> None:
    """The stage's acceptance checklist: what you can do, with your lessons, exercises and
    project runs behind each of the 14 items."""
    lang = resolve_lang(lang)
    course = read_course(folder, runs_root=runs)
    if html is not None:
        write_page(html, progress_html(course, lang), force=force)
    _echo(progress_lines(course, lang))
    if html is not None:
        typer.echo(say("html_written", lang, path=html))


def write_page(path: Path, page: str, *, force: bool = False) -> None:
    """Write `page` to `path` atomically (a temporary file beside it, then a rename). An
    existing `path` is kept unless `force`: without it, the final step is a hard link, which
    fails rather than replace a file that appeared meanwhile."""
    path = Path(path)
    if path.is_dir():
        raise CourseError(f"--html {path} is a folder; name a file, e.g. {path / 'progress.html'}")
    if path.exists() and not force:
        raise CourseError(f"--html {path} already exists and is kept; add --force to replace it")
    if not path.parent.is_dir():
        raise CourseError(f"--html {path}: the folder {path.parent} does not exist; create it")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise CourseError(
            f"cannot write {path} ({exc.strerror}); choose a writable folder"
        ) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(page)
        os.chmod(tmp, 0o644)  # a page to open and share, not a secret (mkstemp makes 0600)
        if force:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise CourseError(
                    f"--html {path} already exists and is kept; add --force to replace it"
                ) from None
            except OSError:  # a filesystem without hard links: checked above, replace
                os.replace(tmp, path)
    except OSError as exc:
        raise CourseError(
            f"cannot write {path} ({exc.strerror}); choose a writable folder"
        ) from None
    finally:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
